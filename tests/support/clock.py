"""The one fake clock of the tests: it implements `dnsctl.process.clock.Clock` and moves only when told to.

`now()` (wall clock) and `monotonic()` move together, by `advance()`. `sleep()` has two behaviours:
- driven (`auto_advance=False`): a sleeping task waits until the test advances the clock past its
  deadline, so a test steps retries, holds, leases and timers exactly, with no real time passing;
  `wait_for_sleepers(n)` waits (on events, not on time) until n tasks sleep on the clock;
- run-through (`auto_advance=True`, the default): `sleep()` moves the clock by the time slept and lets
  the other tasks run, so code that waits with backoff runs through at once.
`pause()`, the blocking wait of synchronous code, always moves the clock by the time asked.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

# A bound on waiting for the code under test to reach a sleep (loop time, generous for a loaded machine).
SLEEPERS_LIMIT = 30.0


class ManualClock:
    def __init__(
        self, start: float = 1_700_000_000.0, monotonic: float = 1000.0, *, auto_advance: bool = True
    ) -> None:
        self._now = start
        self._monotonic = monotonic
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed: asyncio.Event | None = None
        self.slept: list[float] = []  # every delay asked of sleep(), in order

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks by `seconds` and wake every sleeper whose deadline is reached."""
        assert seconds >= 0, "a clock does not go back"
        self._now += seconds
        self._monotonic += seconds
        while self._sleepers and self._sleepers[0][0] <= self._monotonic:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0 or self.auto_advance:
            self.advance(max(seconds, 0.0))
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._order), waiter))
        self._signal()
        try:
            await waiter
        finally:
            if not waiter.done():  # cancelled: forget it
                self._sleepers = [s for s in self._sleepers if s[2] is not waiter]
                heapq.heapify(self._sleepers)

    def pause(self, seconds: float) -> None:
        """The blocking wait of synchronous code (a server's handler thread): it moves the clock."""
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))

    @property
    def sleepers(self) -> int:
        """How many tasks are sleeping on this clock now."""
        return sum(1 for _, _, waiter in self._sleepers if not waiter.done())

    def next_deadline(self) -> float | None:
        """The monotonic time of the earliest sleeper's wake-up, if any sleeps."""
        pending = [deadline for deadline, _, waiter in self._sleepers if not waiter.done()]
        return min(pending) if pending else None

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until `count` tasks sleep on this clock (woken by each new sleeper, bounded)."""
        async with asyncio.timeout(SLEEPERS_LIMIT):
            while self.sleepers < count:
                self._changed = self._changed or asyncio.Event()
                await self._changed.wait()

    async def advance_to_next(self) -> None:
        """Wait for a sleeper, then move the clock to its deadline (one step of a retry loop)."""
        await self.wait_for_sleepers(1)
        deadline = self.next_deadline()
        assert deadline is not None
        self.advance(deadline - self._monotonic)
        await asyncio.sleep(0)

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
