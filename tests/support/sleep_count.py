"""Count the tests that sleep on the real clock (a pytest plugin, opt-in).

Turn it on with `DNSCTL_COUNT_SLEEPS=1` in the environment or `--count-sleeps` on the command line:
`time.sleep` and `asyncio.sleep` are wrapped in the test process, every call with a positive delay made
while a test runs (setup, call or teardown, from any thread of the test process) is charged to that test,
and the terminal summary lists the tests that slept, with their number of calls, the seconds asked for and
the lines that asked for them (the first frame in tests, bench or dnsctl: for a library's sleep, the line
that called the library), and the share of tests that slept. `sleep(0)` only yields and is not
counted. Sleeps in child processes (a real `dnsctl` started by a test) are not seen: they are the
process's own waits, not the test's.

`DNSCTL_COUNT_SLEEPS_JSON=path` also writes the numbers as JSON (for comparing runs).

Under pytest-xdist each worker counts its own tests and hands its part to the controller when it
finishes; the controller adds the parts up and prints the summary of the whole run, as a serial run does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, SupportsIndex

import pytest

ENV = "DNSCTL_COUNT_SLEEPS"
# `subprocess.Popen.wait(timeout=...)` polls the child with time.sleep: that waits for an event (the
# child's exit), so the summary gives the share with and without the tests whose only sleeps are these.
CHILD_WAIT = {"subprocess"}
JSON_ENV = "DNSCTL_COUNT_SLEEPS_JSON"
OWN_PACKAGES = {"tests", "bench", "dnsctl"}


@dataclass
class Slept:
    calls: int = 0
    seconds: float = 0.0
    kinds: set[str] = field(default_factory=set)
    callers: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)


class SleepCounter:
    def __init__(self) -> None:
        self.current: str | None = None
        self.tests: set[str] = set()
        self.slept: dict[str, Slept] = {}
        self.outside = Slept()
        self._lock = threading.Lock()
        self._originals: tuple[Any, Any] | None = None

    def charge(self, kind: str, seconds: float) -> None:
        if not seconds or seconds <= 0:
            return
        caller = str(sys._getframe(2).f_globals.get("__name__", "?"))
        site = _site(sys._getframe(2))
        with self._lock:
            entry = self.outside if self.current is None else self.slept.setdefault(self.current, Slept())
            entry.calls += 1
            entry.seconds += seconds
            entry.kinds.add(kind)
            entry.callers.add(caller)
            entry.sites.add(site)

    def install(self) -> None:
        real_time_sleep = time.sleep
        real_asyncio_sleep = asyncio.sleep
        self._originals = (real_time_sleep, real_asyncio_sleep)
        counter = self

        def counting_time_sleep(seconds: float | SupportsIndex) -> None:
            counter.charge("time.sleep", float(seconds))
            real_time_sleep(seconds)

        async def counting_asyncio_sleep(delay: float, result: Any = None) -> Any:
            counter.charge("asyncio.sleep", delay)
            return await real_asyncio_sleep(delay, result)

        time.sleep = counting_time_sleep
        asyncio.sleep = counting_asyncio_sleep
        asyncio.tasks.sleep = counting_asyncio_sleep

    def uninstall(self) -> None:
        if self._originals is None:
            return
        time.sleep, asyncio.sleep = self._originals
        asyncio.tasks.sleep = self._originals[1]
        self._originals = None

    def part(self) -> dict[str, Any]:
        """What this process counted, in plain types (a pytest-xdist worker sends it to the controller)."""
        return {
            "tests": sorted(self.tests),
            "slept": {nodeid: _plain(entry) for nodeid, entry in self.slept.items()},
            "outside": _plain(self.outside),
        }

    def add(self, part: dict[str, Any]) -> None:
        """Add a worker's part (from `part()`) to this count."""
        with self._lock:
            self.tests.update(part["tests"])
            for nodeid, entry in part["slept"].items():
                _add(self.slept.setdefault(nodeid, Slept()), entry)
            _add(self.outside, part["outside"])

    def summary(self) -> dict[str, Any]:
        total = len(self.tests)
        sleeping = sorted(self.slept)
        own = [nodeid for nodeid in sleeping if self.slept[nodeid].callers - CHILD_WAIT]
        return {
            "tests": total,
            "sleeping": len(sleeping),
            "percent": round(100.0 * len(sleeping) / total, 2) if total else 0.0,
            "sleeping_not_child_wait": len(own),
            "percent_not_child_wait": round(100.0 * len(own) / total, 2) if total else 0.0,
            "outside_tests": {"calls": self.outside.calls, "seconds": round(self.outside.seconds, 3)},
            "by_test": {
                nodeid: {
                    "calls": self.slept[nodeid].calls,
                    "seconds": round(self.slept[nodeid].seconds, 3),
                    "kinds": sorted(self.slept[nodeid].kinds),
                    "callers": sorted(self.slept[nodeid].callers),
                    "sites": sorted(self.slept[nodeid].sites),
                }
                for nodeid in sleeping
            },
        }


def _plain(entry: Slept) -> dict[str, Any]:
    return {
        "calls": entry.calls,
        "seconds": entry.seconds,
        "kinds": sorted(entry.kinds),
        "callers": sorted(entry.callers),
        "sites": sorted(entry.sites),
    }


def _add(entry: Slept, plain: dict[str, Any]) -> None:
    entry.calls += plain["calls"]
    entry.seconds += plain["seconds"]
    entry.kinds.update(plain["kinds"])
    entry.callers.update(plain["callers"])
    entry.sites.update(plain["sites"])


def _site(frame: FrameType | None) -> str:
    """Where the project asked for the sleep: the first frame in its own code (tests, bench, dnsctl),
    so a sleep inside a library (subprocess's wait for a child) names the line that called it."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", "?"))
        if module.split(".")[0] in OWN_PACKAGES and module != __name__:
            return f"{module}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--count-sleeps",
        action="store_true",
        default=False,
        help=f"count the tests that call time.sleep/asyncio.sleep on the real clock (or set {ENV}=1)",
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--count-sleeps")) or os.environ.get(ENV, "") not in ("", "0")


def _distributing(config: pytest.Config) -> bool:
    """This process is the controller of pytest-xdist workers: it runs no test itself."""
    if hasattr(config, "workerinput"):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def pytest_configure(config: pytest.Config) -> None:
    if _enabled(config):
        counter = SleepCounter()
        if not _distributing(config):
            counter.install()
        config.stash[_KEY] = counter


def pytest_unconfigure(config: pytest.Config) -> None:
    counter = config.stash.get(_KEY, None)
    if counter is not None:
        counter.uninstall()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    counter = item.config.stash.get(_KEY, None)
    if counter is None:
        yield
        return
    counter.tests.add(item.nodeid)
    counter.current = item.nodeid
    try:
        yield
    finally:
        counter.current = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    counter = session.config.stash.get(_KEY, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if counter is not None and workeroutput is not None:
        workeroutput[_PART] = counter.part()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker finished; add up what it counted."""
    counter = node.config.stash.get(_KEY, None)
    part = getattr(node, "workeroutput", {}).get(_PART)
    if counter is not None and part is not None:
        counter.add(part)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    counter = config.stash.get(_KEY, None)
    if counter is None or hasattr(config, "workerinput"):
        return
    data = counter.summary()
    write = terminalreporter.write_line
    terminalreporter.section("tests sleeping on the real clock")
    for nodeid, entry in sorted(data["by_test"].items(), key=lambda kv: -kv[1]["seconds"]):
        callers = ", ".join(entry["sites"])
        write(f"{entry['calls']:6d} calls {entry['seconds']:9.3f} s  {nodeid}  (from {callers})")
    write(
        f"{data['sleeping']} of {data['tests']} tests ({data['percent']}%) slept on the real clock"
        f" (outside tests: {data['outside_tests']['calls']} calls)"
    )
    write(
        f"{data['sleeping_not_child_wait']} of {data['tests']} tests"
        f" ({data['percent_not_child_wait']}%) slept other than in subprocess's wait for a child"
    )
    path = os.environ.get(JSON_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)


_KEY = pytest.StashKey[SleepCounter]()
_PART = "dnsctl_sleep_count"
