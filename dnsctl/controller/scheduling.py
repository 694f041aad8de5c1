"""Probe scheduling: one APScheduler job per profile at its monitor interval, jittered, never overlapping."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dnsctl.core.state import RoundOutcome
from dnsctl.engine import Engine
from dnsctl.process.clock import SYSTEM_CLOCK

log = logging.getLogger("dnsctl.scheduler")

OnRound = Callable[[str, RoundOutcome], Awaitable[None]]


class ProbeScheduler:
    """Runs `engine.round([profile])` for each profile on its own interval and hands the outcome on.

    The first round of every profile starts at once (spread over a fraction of a second) so that
    verdicts, and readiness, come as early as possible.
    """

    def __init__(self, engine: Engine, on_round: OnRound, *, jitter_fraction: float = 0.1) -> None:
        self.engine = engine
        self.on_round = on_round
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.jitter_fraction = jitter_fraction
        self.rounds = 0

    def start(self) -> None:
        """Start the scheduler; probes start with `add_probes`, once there is a state to feed."""
        if not self.scheduler.running:
            self.scheduler.start()

    def add_probes(self) -> None:
        now = _utcnow()
        for p in self.engine.spec.profiles:
            interval = p.monitor.interval
            jitter = interval * self.jitter_fraction
            self.scheduler.add_job(
                self._probe,
                "interval",
                args=[p.name],
                id=f"probe:{p.name}",
                # APScheduler adds 0..jitter to each period: take half of it off so probes come every
                # `interval` on average, not 5% later.
                seconds=interval - jitter / 2,
                jitter=jitter,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=now + timedelta(seconds=random.uniform(0, min(0.5, interval / 10))),
                replace_existing=True,
            )

    def once(self, func: Callable[..., Awaitable[object]], delay: float, job_id: str, *args: object) -> None:
        """Run `func(*args)` once after `delay` seconds; a job with the same id is replaced."""
        self.scheduler.add_job(
            func,
            "date",
            args=list(args),
            id=job_id,
            replace_existing=True,
            run_date=_utcnow() + timedelta(seconds=delay),
            misfire_grace_time=None,
        )

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

    async def _probe(self, profile: str) -> None:
        try:
            outcome = await self.engine.round([profile])
            self.rounds += 1
            await self.on_round(profile, outcome)
        except asyncio.CancelledError:
            return  # shutting down with a round in flight
        except Exception:
            # A bug in one round must not stop the schedule; it is logged with its traceback.
            log.exception("probe round of profile %s failed", profile)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def _utcnow() -> datetime:
    # APScheduler fires on the real clock whatever the engine's clock is, so run dates come from it.
    return datetime.fromtimestamp(SYSTEM_CLOCK.now(), UTC)
