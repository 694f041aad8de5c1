"""Reading what a dnsctl process started by a test writes to its log file."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path


def port_in_log(log: Path, proc: subprocess.Popen[bytes], pattern: str, limit: float = 20) -> int:
    """The port `pattern` (one group) finds in the log, once the process has written it; fails with the
    log if the process exits first or `limit` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.05)
    raise AssertionError("dnsctl did not start:\n" + log.read_text(errors="replace"))
