"""The publications every site shares (`site: all`): their endpoints' health is the quorum's.

A shared zone is linked to every site's networks, so no one site's path decides for it: an endpoint
is down for it when a quorum of fresh vantages says so (`core.quorum`). It is written by its own
`RunController` inside a vantage process, on an engine whose prober asks the vantage's latest
quorum instead of the network: hysteresis, failback, all-down policy, ownership and the state in
the record's metadata are those of any record. One vantage writes it: the holder of its lease
(`ha.blob_url` + `.all`), else the first site's (see `SitesSpec.shared_writer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.registry import Collector

from dnsctl.controller.run import RunController
from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.quorum import Judgement, SiteHealth
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.core.sites import SHARED
from dnsctl.documents.jsonable import Absent
from dnsctl.documents.sites import SitesDoc
from dnsctl.documents.status import StatusDoc


def shared_state_file(state_file: Path | None) -> Path | None:
    """With `--state-file PATH` the shared publications' history is in `PATH.all` (a profile may have
    its site's record too, whose history is in PATH); without one, in their records' metadata."""
    return Path(f"{state_file}.all") if state_file is not None else None


class QuorumProber:
    """A `Prober` that judges by the quorum of the vantages, as last combined (`health()`: a vantage's
    latest `SiteHealth`, or `plan`'s, from every site's probes)."""

    def __init__(self, health: Callable[[], SiteHealth | None]) -> None:
        self.health = health

    def judgement(self, profile: str, endpoint: str) -> Judgement | None:
        health = self.health()
        if health is None:
            return None
        try:
            return health.judgement(profile, endpoint)
        except KeyError:
            return None

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        j = self.judgement(profile.name, endpoint.name)
        where = address or "quorum"

        def failed(reason: FailureReason, detail: str) -> ProbeResult:
            name = profile.name
            return ProbeResult(name, endpoint.name, now, False, 0.0, where, reason=reason, detail=detail)

        if j is not None and j.down_everywhere:
            down = f"down for {j.down} of {j.of} vantages ({', '.join(sorted(j.failures))})"
            return failed(FailureReason.QUORUM, down)
        if j is not None and j.online > 0:
            return ProbeResult(profile.name, endpoint.name, now, True, 0.0, where)
        # No fresh vantage judges it (yet): no evidence either way, the endpoint keeps its health.
        return failed(FailureReason.LOCAL, "no fresh vantage has a verdict")


def shared_doc(sites: SitesDoc | Absent, rule: str | None, shared: RunController | None) -> SitesDoc | Absent:
    """`/status` -> `sites`: the shared publications' rule, and each one's decision and writer."""
    if isinstance(sites, Absent) or rule is None:
        return sites
    if shared is None:
        return replace(sites, shared_rule=rule, shared=("this vantage does not write them",))
    role = "this vantage writes" if shared.lease.held_now() else "standby (the lease holder writes)"
    lines = []
    for p in shared.spec.profiles:
        d = shared.engine.states[p.name].decision
        now = (", ".join(d.endpoints) or d.fallback or "-") if d is not None else "no decision yet"
        lines.append(f"{p.name} -> {now}: {role}" + (f" ({d.reason})" if d is not None else ""))
    if (problem := writer_problem(shared)) is not None:
        lines.append(f"not ready: {problem}")
    if shared.last_error is not None:
        lines.append(f"last write failed: {shared.last_error}")
    return replace(sites, shared_rule=rule, shared=tuple(lines))


def writer_problem(shared: RunController | None) -> str | None:
    """Why the writer of the shared publications cannot write now (None: it can, or another vantage
    holds their lease and this one is a healthy standby)."""
    if shared is None:
        return None
    ok, why = shared.ready()
    if ok or (not shared.lease.held and shared.lease.trouble() is None):
        return None
    return why


class WithShared(Collector):
    """The site's registry and the shared writer's, as one: the same families, the shared writer's
    series labelled `site="all"` (the site's own keep their labels)."""

    def __init__(self, own: CollectorRegistry, shared: CollectorRegistry) -> None:
        self.own = own
        self.shared = shared

    def collect(self) -> list[Metric]:
        families: dict[str, Metric] = {}
        for m in self.own.collect():
            families[m.name] = copy = Metric(m.name, m.documentation, m.type, m.unit)
            copy.samples = list(m.samples)
        for m in self.shared.collect():
            into = families.get(m.name)
            if into is None:
                into = families[m.name] = Metric(m.name, m.documentation, m.type, m.unit)
            for s in m.samples:
                into.samples.append(s._replace(labels={**s.labels, "site": SHARED}))
        return list(families.values())


class SiteRunController(RunController):
    """`run --site S`: the site's own publications, and the shared ones when this vantage takes part
    in writing them (`shared`, a `RunController` on a `QuorumProber`); `shared_rule` says who writes."""

    def __init__(
        self, *args: Any, shared: RunController | None = None, shared_rule: str | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.shared = shared
        self.shared_rule = shared_rule
        if shared is not None:  # /metrics: the shared writer's series too, labelled site="all"
            self.registry = CollectorRegistry(auto_describe=False)
            self.registry.register(WithShared(self.metrics.registry, shared.registry))

    async def start(self) -> None:
        await super().start()
        if self.shared is not None:
            await self.shared.start()

    async def stop(self) -> None:
        if self.shared is not None:
            await self.shared.stop()
        await super().stop()

    def ready(self) -> tuple[bool, str]:
        """Not ready while the writer of the shared publications cannot write (as for the site's own)."""
        ok, why = super().ready()
        problem = writer_problem(self.shared)
        if problem is None:
            return ok, why
        return False, (f"{why}; " if not ok else "") + f"shared publications: {problem}"

    def status(self) -> StatusDoc:
        doc = super().status()
        return replace(doc, sites=shared_doc(doc.sites, self.shared_rule, self.shared))
