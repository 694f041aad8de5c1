"""The clock seam: the core takes time as an argument; the edges read it from here and only here.

`now()` is wall-clock time (seconds since the epoch): what is stored, compared with stored times
and shown. `monotonic()` measures durations and deadlines, immune to the wall clock being set.
`sleep()` waits on the same clock, so that a test driving a manual clock waits for nothing.
The composition root makes the one `SystemClock` of a process and hands it to everything that reads time
or sleeps; nothing else reads `time` or sleeps on asyncio's clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def pause(self, seconds: float) -> None:
        """Block the calling thread (synchronous code only: a terminal loop, a server's handler thread)."""
        ...


class SystemClock:
    # The functions themselves, not methods that call them: the resolver reads the clock per datagram.
    now = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)
