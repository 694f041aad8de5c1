"""The event waits: children that write their own log file (re-checked on each write, never on a timer)
and code on the test's event loop that waits on a run-through manual clock (turns, not time)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.clock import ManualClock
from tests.support.process_log import port_in_log
from tests.support.waits import text_since, turns_until, wait_exit, wait_in_file

# A child that writes its log itself, in two steps (the sleep is the child's, between its two writes).
WRITER = "import sys, time; f = open(sys.argv[1], 'a'); f.write('starting\\n'); f.flush(); time.sleep(0.3); "


def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s on the real clock")

    monkeypatch.setattr(time, "sleep", forbidden)


def _child(log: Path, then: str) -> subprocess.Popen[bytes]:
    log.touch()
    return subprocess.Popen([sys.executable, "-c", WRITER + then, str(log)])


def test_a_line_the_child_writes_later_is_awaited_without_sleeping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "child.log"
    log.write_text("listening on 1 (an earlier run)\n")
    start = log.stat().st_size
    proc = _child(
        log, "f.write('listening on 4242\\n'); f.flush(); time.sleep(0.3); f.write('ready\\n'); f.flush()"
    )
    _no_sleep(monkeypatch)
    try:
        assert port_in_log(log, proc, r"listening on (\d{4})", limit=30) == 4242
        found = wait_in_file(log, lambda: "ready" in text_since(log, start), 30, "the line", proc=proc)
        assert found is True
    finally:
        proc.kill()
        proc.wait()


def test_a_line_written_by_a_child_that_has_exited_since_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child writes the awaited line and exits at once; on a loaded machine the wait may look only
    # after that: the line is there, so the wait is over (the exit is a failure only without the line).
    log = tmp_path / "child.log"
    proc = _child(log, "f.write('ready\\n'); f.flush()")
    wait_exit(proc, 60)
    _no_sleep(monkeypatch)
    assert wait_in_file(log, lambda: "ready" in log.read_text(), 30, "the line", proc=proc) is True


def test_a_child_that_exits_without_the_line_fails_the_wait_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "child.log"
    proc = _child(log, "f.write('fatal: address in use\\n'); f.flush(); sys.exit(3)")
    _no_sleep(monkeypatch)
    with pytest.raises(AssertionError, match=r"(?s)exited \(3\).*fatal: address in use"):
        wait_in_file(log, lambda: "listening" in log.read_text(), 60, "the line", proc=proc)
    with pytest.raises(AssertionError, match="dnsctl did not start"):
        port_in_log(log, proc, r"listening on (\d+)", limit=60)


async def test_turns_until_follows_code_on_a_run_through_manual_clock_without_real_time() -> None:
    clock = ManualClock()
    done: list[float] = []

    async def backs_off() -> None:
        for delay in (1.0, 2.0, 4.0, 60.0):
            await clock.sleep(delay)
        done.append(clock.monotonic())

    task = asyncio.ensure_future(backs_off())
    assert await turns_until(lambda: done, 30, "the back-off to end") == [1067.0]
    await task
    with pytest.raises(AssertionError, match="never did not happen within 50 turns"):
        await turns_until(lambda: False, 30, "never", turns=50)
