"""Time is read through one seam, `dnsctl.process.clock`: nothing else in dnsctl reads the wall clock or the
monotonic clock, so that tests drive hysteresis, holds and restarts with a manual clock."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"

READS = {("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "monotonic_ns")}
DATETIME_READS = {"now", "utcnow", "today"}
# asyncio's own deadlines (asyncio.timeout) live on the event loop's clock: those reads stay with it.
LOOP_TIME_ALLOWED = {"resolver/server.py"}


def clock_reads(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{rel}: from time import {a.name}" for a in node.names if ("time", a.name) in READS]
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


def _is_loop(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "loop"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("get_running_loop", "get_event_loop")
    )


def test_only_the_clock_module_reads_the_clock() -> None:
    offenders = [r for p in sorted(PACKAGE.rglob("*.py")) if p.name != "clock.py" for r in clock_reads(p)]
    assert offenders == []


def test_the_check_itself_sees_clock_reads() -> None:
    assert clock_reads(PACKAGE / "process" / "clock.py"), (
        "clock.py reads the clock, and the check must see it"
    )
