"""Process plumbing: the clock, files written atomically, stored state, secrets, logs and daemon life."""
