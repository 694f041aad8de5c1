"""Probe scheduling: one round per interval for every profile probed at that interval, in a few batches
spread over the interval, on the engine's clock; and the timers of the controllers (lease, resync, retries).

The cost of an interval is linear in the number of endpoints: each profile is in one batch, each batch is
one round (one engine step, one handling of its outcome). A batch never overlaps itself: when a round takes
longer than the interval, the next one starts as soon as it ends (back-pressure), counted as late, and no
round is dropped. The probes of every batch share the engine's one bound on probes in flight.

The event loop's own lateness is measured here too: `lag` is the largest delay of a timer in the last few
seconds (a metric, and a reason `/readyz` gives).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dnsctl.controller.metrics import Metrics
from dnsctl.core.state import RoundOutcome
from dnsctl.engine import Engine
from dnsctl.process.clock import Clock

log = logging.getLogger("dnsctl.scheduler")

OnRound = Callable[[Sequence[str], RoundOutcome], Awaitable[None]]

# At most this many profiles in one round (more are spread over the interval): the handling of a round's
# outcome (metrics, publishing) runs without a break, so a small batch keeps the resolver's answers prompt.
BATCH_PROFILES = 500
MAX_BATCHES = 10  # and at most this many rounds per interval: the cost of a round's handling stays linear
LATE_FRACTION = 0.1  # a round that starts this much of its interval late is counted late
LAG_TICK = 0.25  # how often the event loop's lateness is sampled
LAG_WINDOW = 20  # samples kept (5 s)
LAG_NOT_READY = 1.0  # a loop this late is too busy to answer in time: /readyz says so


class ProbeScheduler:
    """Runs `engine.round(batch)` for every batch of profiles at their monitor interval.

    The first round of every batch starts at once (spread over a fraction of a second) so that
    verdicts, and readiness, come as early as possible; later rounds are spread over the interval.
    """

    def __init__(
        self,
        engine: Engine,
        on_round: OnRound,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        batch_profiles: int = BATCH_PROFILES,
    ) -> None:
        self.engine = engine
        self.on_round = on_round
        self.clock: Clock = clock or engine.clock
        self.metrics = metrics
        self.batch_profiles = batch_profiles
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.rounds = 0
        self.late_rounds = 0
        self._lags: deque[float] = deque(maxlen=LAG_WINDOW)
        self._tasks: list[asyncio.Task[None]] = []
        self._handing_on: set[asyncio.Task[None]] = set()
        self._once: dict[str, asyncio.Task[None]] = {}  # one-off timers by id (retries), on the clock
        self._stopping = False
        if metrics is not None:
            limit = engine.limit
            metrics.probes_in_flight.set_function(lambda: float(limit.in_flight))
            metrics.probe_limit.set_function(lambda: float(limit.bound))

    def start(self) -> None:
        """Start the timers; probes start with `add_probes`, once there is a state to feed."""
        if not self.scheduler.running:
            self.scheduler.start()
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._watch_lag(), name="dnsctl-loop-lag"))

    def batches(self) -> list[tuple[float, list[str]]]:
        """(interval, profiles) of every round of an interval: profiles grouped by interval, then cut."""
        groups: dict[float, list[str]] = {}
        for p in self.engine.spec.profiles:
            groups.setdefault(p.monitor.interval, []).append(p.name)
        out: list[tuple[float, list[str]]] = []
        for interval, names in sorted(groups.items()):
            count = min(MAX_BATCHES, math.ceil(len(names) / max(1, self.batch_profiles)))
            size = math.ceil(len(names) / count)
            out.extend((interval, names[i : i + size]) for i in range(0, len(names), size))
        return out

    def add_probes(self) -> None:
        by_interval: dict[float, list[list[str]]] = {}
        for interval, names in self.batches():
            by_interval.setdefault(interval, []).append(names)
        for interval, batches in by_interval.items():
            for i, names in enumerate(batches):
                first = random.uniform(0, min(0.5, interval / 10))
                # Later rounds of the batches are spread evenly over the interval.
                offset = interval * i / len(batches)
                self._tasks.append(
                    asyncio.create_task(self._every(interval, names, first, offset), name="dnsctl-probes")
                )

    def once(self, func: Callable[..., Awaitable[object]], delay: float, job_id: str, *args: object) -> None:
        """Run `func(*args)` once after `delay` seconds on the clock; a job with the same id is replaced."""
        previous = self._once.pop(job_id, None)
        if previous is not None and previous is not asyncio.current_task():
            previous.cancel()

        async def later() -> None:
            try:
                await self.clock.sleep(delay)
                await func(*args)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer %s failed", job_id)
            finally:
                if self._once.get(job_id) is asyncio.current_task():
                    del self._once[job_id]

        self._once[job_id] = asyncio.create_task(later(), name=f"dnsctl-{job_id}")

    def add_job(self, func: Callable[[], Awaitable[None]], seconds: float, job_id: str) -> None:
        self.scheduler.add_job(
            func,
            "interval",
            id=job_id,
            seconds=seconds,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(seconds)),
        )

    async def _every(self, interval: float, profiles: list[str], first: float, offset: float) -> None:
        clock = self.clock
        due = clock.monotonic() + first
        missed = 0
        while not self._stopping:
            now = clock.monotonic()
            if due > now:
                await clock.sleep(due - now)
            await self._probe(profiles, missed=missed)
            due += interval + offset
            offset = 0.0  # only the first round is not in the batch's place
            now = clock.monotonic()
            behind = now - due
            missed = 0
            if behind > 0:
                # The round took longer than the interval: start the next at once and the schedule from
                # now (back-pressure: rounds are late, never dropped, never piling up in memory).
                missed = int(behind // interval)
                if behind > interval * LATE_FRACTION:
                    self.late_rounds += 1
                    if self.metrics is not None:
                        self.metrics.probe_rounds_late.inc()
                due = now

    async def _probe(self, profiles: list[str], *, missed: int = 0) -> None:
        task = asyncio.current_task()
        try:
            outcome = await self.engine.round(profiles)
            self.rounds += 1
            if self.metrics is not None:
                work = len(outcome.results)
                self.metrics.probes_sent.inc(work)
                self.metrics.probes_due.inc(work * (1 + missed))
            # Handing the outcome on (a DNS write, say) is not cancelled by a shutdown: it finishes.
            if task is not None:
                self._handing_on.add(task)
            try:
                await self.on_round(profiles, outcome)
            finally:
                if task is not None:
                    self._handing_on.discard(task)
        except asyncio.CancelledError:
            raise  # shutting down with a round in flight
        except Exception:
            # A bug in one round must not stop the schedule; it is logged with its traceback.
            log.exception("probe round of %d profile(s) failed", len(profiles))

    async def _watch_lag(self) -> None:
        clock = self.clock
        while True:
            before = clock.monotonic()
            await clock.sleep(LAG_TICK)
            self._lags.append(max(0.0, clock.monotonic() - before - LAG_TICK))
            if self.metrics is not None:
                self.metrics.loop_lag.set(self.lag)

    @property
    def lag(self) -> float:
        """The largest delay of the event loop in the last few seconds."""
        return max(list(self._lags), default=0.0)  # a copy: /metrics asks from a thread

    def running_late(self) -> str | None:
        """Why this process cannot keep its schedule now (a reason for /readyz), or None."""
        if self.lag >= LAG_NOT_READY:
            return f"the event loop is running {self.lag:.1f}s late (overloaded); probes and answers are late"
        return None

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._stopping = True
        for task in self._tasks:
            if task not in self._handing_on:  # that one stops once its outcome is handed on
                task.cancel()
        self._tasks.clear()
        for timer in self._once.values():
            timer.cancel()
        self._once.clear()
