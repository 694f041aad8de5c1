"""The clock seam: the core takes time as an argument; the edges read it from here and only here.

`now()` is wall-clock time (seconds since the epoch): what is stored, compared with stored times
and shown. `monotonic()` measures durations and deadlines, immune to the wall clock being set.
`sleep()` waits on the same clock, so that a test driving a `ManualClock` waits for nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    # The functions themselves, not methods that call them: the resolver reads the clock per datagram.
    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to, for state-machine tests and replays.

    `sleep` moves the clock by the time slept (and lets other tasks run), so code that waits
    with backoff runs through at once.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)
