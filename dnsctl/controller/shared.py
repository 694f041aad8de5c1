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
from typing import Any

from dnsctl.controller.run import RunController
from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.quorum import Judgement, SiteHealth
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.documents.jsonable import Absent
from dnsctl.documents.sites import SitesDoc
from dnsctl.documents.status import StatusDoc


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
        if j is not None and j.down_everywhere:
            return ProbeResult(
                profile.name,
                endpoint.name,
                now,
                False,
                0.0,
                where,
                reason=FailureReason.QUORUM,
                detail=f"down for {j.down} of {j.of} vantages ({', '.join(sorted(j.failures))})",
            )
        if j is not None and j.online > 0:
            return ProbeResult(profile.name, endpoint.name, now, True, 0.0, where)
        # No fresh vantage judges it (yet): no evidence either way, the endpoint keeps its health.
        return ProbeResult(
            profile.name,
            endpoint.name,
            now,
            False,
            0.0,
            where,
            reason=FailureReason.LOCAL,
            detail="no fresh vantage has a verdict",
        )


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
    return replace(sites, shared_rule=rule, shared=tuple(lines))


class SiteRunController(RunController):
    """`run --site S`: the site's own publications, and the shared ones when this vantage takes part
    in writing them (`shared`, a `RunController` on a `QuorumProber`); `shared_rule` says who writes."""

    def __init__(
        self, *args: Any, shared: RunController | None = None, shared_rule: str | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.shared = shared
        self.shared_rule = shared_rule

    async def start(self) -> None:
        await super().start()
        if self.shared is not None:
            await self.shared.start()

    async def stop(self) -> None:
        if self.shared is not None:
            await self.shared.stop()
        await super().stop()

    def status(self) -> StatusDoc:
        doc = super().status()
        return replace(doc, sites=shared_doc(doc.sites, self.shared_rule, self.shared))
