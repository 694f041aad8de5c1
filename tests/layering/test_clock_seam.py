"""Time is read through one seam, `dnsctl.process.clock`: nothing else in dnsctl reads the wall clock or the
monotonic clock, measures with perf_counter or sleeps, so that tests drive hysteresis, holds, leases, caches
and retries with a manual clock. The clock is handed down from the composition root: no module reaches for
the process-wide `SYSTEM_CLOCK` either."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"
CLOCK_MODULE = "process/clock.py"

READS = {
    ("time", name)
    for name in (
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "sleep",
        "process_time",
        "thread_time",
    )
}
DATETIME_READS = {"now", "utcnow", "today"}
# asyncio's own deadlines (`asyncio.timeout(...).reschedule`) are set on the event loop's clock: the
# resolver's TCP idle budget is one. The times dnsctl itself keeps come from the Clock.
LOOP_TIME_ALLOWED = {"resolver/server.py"}
# Only the composition root's clock module names the system clock.
SYSTEM_CLOCK_ALLOWED: set[str] = set()


def clock_reads(rel: str, source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{rel}: from time import {a.name}" for a in node.names if ("time", a.name) in READS]
        if isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            found += [f"{rel}: from asyncio import sleep" for a in node.names if a.name == "sleep"]
        if isinstance(node, ast.Name) and node.id == "SYSTEM_CLOCK" and rel not in SYSTEM_CLOCK_ALLOWED:
            found.append(f"{rel}:{node.lineno}: SYSTEM_CLOCK")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "dnsctl.process.clock"
            and rel not in SYSTEM_CLOCK_ALLOWED
        ):
            found += [f"{rel}: imports SYSTEM_CLOCK" for a in node.names if a.name == "SYSTEM_CLOCK"]
        if isinstance(node, ast.Call) and _is_asyncio_sleep(node.func) and not _yields_only(node):
            found.append(f"{rel}:{node.lineno}: asyncio.sleep")
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if isinstance(base, ast.Name) and (base.id, node.attr) in READS:
            found.append(f"{rel}:{node.lineno}: {base.id}.{node.attr}")
        if isinstance(base, ast.Name) and base.id == "datetime" and node.attr in DATETIME_READS:
            found.append(f"{rel}:{node.lineno}: datetime.{node.attr}")
        if node.attr == "time" and rel not in LOOP_TIME_ALLOWED and _is_loop(base):
            found.append(f"{rel}:{node.lineno}: loop.time")
    return found


def _is_asyncio_sleep(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "sleep"
        and isinstance(func.value, ast.Name)
        and func.value.id == "asyncio"
    )


def _yields_only(call: ast.Call) -> bool:
    """`asyncio.sleep(0)` hands the loop to the other tasks: it waits on no clock."""
    return (
        len(call.args) == 1
        and not call.keywords
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == 0
    )


def _is_loop(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "loop"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("get_running_loop", "get_event_loop")
    )


def offenders() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel != CLOCK_MODULE:
            found += clock_reads(rel, path.read_text())
    return found


def test_only_the_clock_module_reads_the_clock() -> None:
    assert offenders() == []


def test_the_check_itself_sees_clock_reads() -> None:
    clock_module = (PACKAGE / CLOCK_MODULE).read_text()
    assert clock_reads(CLOCK_MODULE, clock_module), "the clock module reads the clock: the check must see it"


def test_the_check_sees_every_way_of_reading_time_or_sleeping() -> None:
    samples = {
        "started = time.perf_counter()\n": "time.perf_counter",
        "time.sleep(1)\n": "time.sleep",
        "from time import perf_counter\n": "from time import perf_counter",
        "async def f():\n    await asyncio.sleep(0.5)\n": "asyncio.sleep",
        "async def f(d):\n    await asyncio.sleep(d)\n": "asyncio.sleep",
        "from asyncio import sleep\n": "from asyncio import sleep",
        "from dnsctl.process.clock import SYSTEM_CLOCK\n": "SYSTEM_CLOCK",
        "x = SYSTEM_CLOCK.monotonic()\n": "SYSTEM_CLOCK",
        "x = asyncio.get_running_loop().time()\n": "loop.time",
        "x = datetime.now(UTC)\n": "datetime.now",
    }
    for source, what in samples.items():
        found = clock_reads("probes/example.py", source)
        assert any(what in f for f in found), f"{source!r} not seen as {what}: {found}"
    # A yield to the loop waits on no clock.
    assert clock_reads("probes/example.py", "async def f():\n    await asyncio.sleep(0)\n") == []
