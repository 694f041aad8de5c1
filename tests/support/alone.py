"""Tests that run alone while the suite runs in parallel (a pytest plugin).

    @pytest.mark.alone   # fifty dnsctl processes at once: no other test runs meanwhile

The suite runs on several pytest-xdist workers. A test marked `alone` waits until the tests running on the
other workers have finished, and they start nothing new until it is done: it has the machine to itself (as
in a serial run), and no other test's waits run out because it loads every core. Unmarked tests run side
by side as before.

A readers-writer lock over two files in the run's temporary directory: each test takes `gate` for a moment
and holds `turn` shared while it runs; an `alone` test holds `gate` (no new test starts) and `turn`
exclusively (the running ones finished). flock(2) locks go away with the process that held them.
"""

from __future__ import annotations

import fcntl
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MARK = "alone"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARK}: no other test runs meanwhile on the other pytest-xdist workers"
    )


@contextmanager
def taking_turns(directory: Path, alone: bool) -> Iterator[None]:
    """Run the body alone (every other holder finished first, none starts meanwhile), or side by side."""
    with open(directory / "gate.lock", "a") as gate, open(directory / "turn.lock", "a") as turn:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(turn, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    if not hasattr(item.config, "workerinput") or not item.config.option.basetemp:
        return (yield)  # a serial run: every test runs alone anyway
    # A worker's basetemp is <the run's temporary directory>/<worker id>: the directory is the run's own.
    with taking_turns(Path(item.config.option.basetemp).parent, item.get_closest_marker(MARK) is not None):
        return (yield)
