"""`dnsctl mirror --site S --source exchange`: a node agent that follows its site's decision, sends no probe.

Once per interval it reads site S's decision document from the verdict exchange (one small read)
and writes the runtime files from it through the same writer as a probing agent
(`dnsctl.controller.mirror.write_orders`). With the exchange unreachable, or the document missing,
unreadable or older than STALE_INTERVALS intervals, it keeps the order it wrote last (the files
stay as they are) and says so: `/readyz` answers 503 with the reason, `dnsctl_exchange_up` is 0,
and the log says it once per change, not once per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from prometheus_client import Counter, Gauge

from dnsctl.controller.exchange import VerdictExchange
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.mirror import STOP_WAIT, MirrorController, files_not_kept, write_orders
from dnsctl.controller.reports import MirrorReport
from dnsctl.core.mirror import MirrorOrder, ProfileDecision, SiteDecision, order_from
from dnsctl.core.model import ProfileSpec
from dnsctl.core.sites import STALE_INTERVALS
from dnsctl.documents.jsonable import iso
from dnsctl.documents.sites import SitesDoc
from dnsctl.documents.status import FollowedDoc, StatusDoc
from dnsctl.engine import Engine
from dnsctl.errors import ExchangeError, OperatorConflict
from dnsctl.targets.mirror_files import FileResult, MirrorFiles

log = logging.getLogger("dnsctl.mirror")


class ExchangeMirror(MirrorController):
    def __init__(
        self,
        engine: Engine,
        files: MirrorFiles,
        *,
        site: str,
        exchange: VerdictExchange,
        interval: float,
        config: str,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(engine, files, metrics=metrics)
        self.site = site
        self.exchange = exchange
        self.interval = interval
        self.config = config
        self.decision: SiteDecision | None = None  # the last decision followed
        self.orders: dict[str, MirrorOrder] = {}  # per profile: the order written last
        self.followed: dict[str, tuple[SiteDecision, ProfileDecision]] = {}  # per profile: what it follows
        self.problem: str | None = f"site {site}'s decision not read yet"
        self.unusable: dict[str, str] = {}  # profile -> why its part of the decision cannot be followed
        self.last_read = self.clock.monotonic()
        self._said: str | None = None  # the kind of trouble last logged
        self._task: asyncio.Task[None] | None = None
        r = self.registry
        self.exchange_up = Gauge(
            "dnsctl_exchange_up", "1 when the site's decision was read and fresh last time", registry=r
        )
        self.decision_age = Gauge(
            "dnsctl_decision_age_seconds", "Age of the site's decision last read", ["site"], registry=r
        )
        self.reads = Counter(
            "dnsctl_exchange_reads", "Reads of the site's decision, by result", ["result"], registry=r
        )

    async def start(self) -> None:
        self.restore({})  # no stored state: the decision comes from the exchange
        self._task = asyncio.create_task(self._loop(), name="dnsctl-mirror-exchange")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.write_lock.acquire(), STOP_WAIT)
            self.write_lock.release()
        await self.exchange.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.read_once()
            except Exception:  # a bug must not end the loop silently: the files stay, /healthz says so
                log.exception("reading site %s's decision failed", self.site)
            await self.clock.sleep(self.interval)

    async def read_once(self) -> list[FileResult]:
        """One read of the site's decision; the files follow it when it is fresh."""
        self.last_read = self.clock.monotonic()
        try:
            got = await self.exchange.read_decision(self.site)
        except ExchangeError as e:
            return self._trouble("unreachable", f"the exchange cannot be read: {e}")
        if got.problem is not None:
            return self._trouble("unreadable", f"site {self.site}'s decision cannot be read: {got.problem}")
        if got.decision is None:
            return self._trouble("missing", f"site {self.site} has published no decision yet")
        d = got.decision
        age = max(0.0, self.clock.now() - d.at)
        self.decision_age.labels(self.site).set(age)
        if age > STALE_INTERVALS * self.interval:
            return self._trouble(
                "stale",
                f"site {self.site}'s decision is {age:.0f} s old (stale after {STALE_INTERVALS} intervals)",
            )
        return await self._follow(d)

    def _trouble(self, kind: str, problem: str) -> list[FileResult]:
        self.reads.labels(kind).inc()
        self.exchange_up.set(0)
        self.problem = problem
        if self._said != kind:
            self._said = kind
            kept = "keeping the last order" if self.orders else "no file written yet"
            log.error("%s; %s", problem, kept)
        return []

    async def _follow(self, d: SiteDecision) -> list[FileResult]:
        self.reads.labels("ok").inc()
        self.exchange_up.set(1)
        if self._said is not None:
            log.warning("following site %s's decision again (seq %d)", self.site, d.seq)
        elif self.decision is None:
            log.info("following site %s's decision (seq %d)", self.site, d.seq)
        if d.config_hash != self.config and (
            self.decision is None or self.decision.config_hash != d.config_hash
        ):
            log.warning(
                "site %s's decision was made with another configuration (%s; here %s)",
                self.site,
                d.config_hash,
                self.config,
            )
        self._said = None
        self.problem = None
        self.decision = d
        work: list[tuple[ProfileSpec, MirrorOrder]] = []
        unusable: dict[str, str] = {}
        for p in self.spec.profiles:
            mine = d.profile(p.name)
            if mine is None:
                unusable[p.name] = f"site {self.site}'s decision has no entry for it yet"
                continue
            try:
                order = order_from(p, mine)
            except ValueError as e:
                unusable[p.name] = f"site {self.site}'s decision {e}"
                continue
            order = replace(order, reason=f"site {self.site}: {order.reason}")
            work.append((p, order))
            self.followed[p.name] = (d, mine)
        for name, why in unusable.items():
            if self.unusable.get(name) != why:
                log.error("profile %s: %s; keeping the last order", name, why)
        self.unusable = unusable
        async with self.write_lock:
            results = await write_orders(self.files, work)
        self.orders.update((p.name, o) for p, o in work)
        return self.kept(results)

    # --- admin ----------------------------------------------------------------------------------

    def alive(self) -> bool:
        task = self._task
        if task is not None and task.done():
            return False
        return self.clock.monotonic() - self.last_read < max(3 * self.interval, 30.0)

    def ready(self) -> tuple[bool, str]:
        why: list[str] = []
        if self.problem is not None:
            kept = "keeping the last order" if self.orders else "no file written yet"
            why.append(f"{self.problem}; {kept}")
        why += [f"{name}: {problem}" for name, problem in sorted(self.unusable.items())]
        stuck = files_not_kept(self.last)
        if stuck:
            why.append(stuck)
        if why:
            return False, "; ".join(why)
        assert self.decision is not None
        return True, f"following site {self.site}'s decision (seq {self.decision.seq})"

    def status(self) -> StatusDoc:
        doc = super().status()
        # The engine probes nothing here: each profile shows the site's decision it follows instead of
        # endpoints that would stay CheckingEndpoint forever.
        profiles = tuple(
            replace(p, decision=None, views={}, endpoints=(), follows=self._followed_doc(p.name))
            for p in doc.profiles
        )
        doc = replace(doc, profiles=profiles)
        d = self.decision
        followed = tuple(
            f"{p.profile}: {', '.join(p.mirror) or p.fallback} ({p.reason})"
            for p in (d.profiles if d else ())
        )
        sites = SitesDoc(
            site=self.site,
            rule=f"following site {self.site}'s decision"
            + (f" (seq {d.seq}, made with configuration {d.config_hash})" if d else ""),
            vantages=(),
            evidence=followed,
            exchange=self.exchange.kind,
            exchange_error=self.problem,
            unread=tuple(f"{n}: {why}" for n, why in sorted(self.unusable.items())),
        )
        return replace(doc, sites=sites)

    def _followed_doc(self, profile: str) -> FollowedDoc | None:
        got = self.followed.get(profile)
        if got is None:
            return None
        d, mine = got
        return FollowedDoc(
            site=d.site,
            seq=d.seq,
            at=iso(d.at),
            age_seconds=round(max(0.0, self.clock.now() - d.at), 1),
            order=mine.mirror if mine.fallback is None else (),
            answer=mine.endpoints,
            fallback=mine.fallback,
            keep=mine.keep,
            reason=mine.reason,
        )

    async def resync_now(self) -> str:
        results = await self.read_once()
        if self.problem is not None:
            return f"{self.problem}; the files were left as they are"
        said = ", ".join(f"{r.path} ({r.outcome.value})" for r in results)
        return f"re-read site {self.site}'s decision and {len(results)} file(s): {said}"

    def _follows(self, what: str) -> OperatorConflict:
        return OperatorConflict(
            f"this agent follows site {self.site}'s decision from the exchange: {what} at the site's "
            f"vantage (`dnsctl run --site {self.site}`), or run this agent with --source probe"
        )

    async def drain(self, profile: str, endpoint: str) -> str:
        raise self._follows("drain")

    async def undrain(self, profile: str, endpoint: str) -> str:
        raise self._follows("undrain")

    async def failback(self, profile: str) -> str:
        raise self._follows("request a failback")


async def follow_once(agent: ExchangeMirror) -> tuple[MirrorReport, str | None]:
    """`dnsctl mirror --once --source exchange`: one read of the site's decision and, when it is fresh,
    the files written from it. Returns the report and why nothing was written (None: it was read)."""
    try:
        results = await agent.read_once()
    finally:
        await agent.exchange.aclose()
    return MirrorReport(results=results, waiting=sorted(agent.unusable)), agent.problem
