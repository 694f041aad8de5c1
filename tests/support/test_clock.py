"""The tests' one fake clock: driven sleeps wake when time is moved past them, and only then."""

from __future__ import annotations

import asyncio

from tests.support.clock import ManualClock


async def test_a_driven_sleep_returns_when_the_clock_is_moved_past_it() -> None:
    clock = ManualClock(auto_advance=False)
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.ensure_future(sleeper(s)) for s in (5.0, 1.0)]
    await clock.wait_for_sleepers(2)
    assert clock.next_deadline() == clock.monotonic() + 1.0
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == [1.0]
    await clock.advance_to_next()
    await asyncio.gather(*tasks)
    assert woke == [1.0, 5.0]
    assert clock.monotonic() == 1005.0 and clock.now() == 1_700_000_005.0


async def test_a_cancelled_sleeper_is_forgotten() -> None:
    clock = ManualClock(auto_advance=False)
    task = asyncio.ensure_future(clock.sleep(3.0))
    await clock.wait_for_sleepers(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.sleepers == 0 and clock.next_deadline() is None


async def test_a_run_through_sleep_moves_the_clock_by_the_time_slept() -> None:
    clock = ManualClock()
    await clock.sleep(2.5)
    await clock.sleep(0)
    assert clock.monotonic() == 1002.5 and clock.slept == [2.5, 0]
