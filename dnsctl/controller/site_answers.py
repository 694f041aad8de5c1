"""The answers of sites whose vantage runs elsewhere, for `dnsctl serve` in a configuration with sites.

A site's clients (its `clients` networks) are a view of the resolver. The site this process is the
vantage of (`serve --site S`) is answered from the engine's own decisions; every other site from its
own vantage's verdicts in the exchange, through the pure quorum step and `dnsctl.core.site_routing`,
with that site's addresses. A site whose vantage abstains (stale, isolated, never heard) keeps its
last answer; one never decided is answered like a client in no site.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from dnsctl.controller.exchange import VerdictExchange
from dnsctl.controller.serve import steered_answer
from dnsctl.core.model import DnsctlSpec, ViewSpec
from dnsctl.core.quorum import SiteHealth, combine
from dnsctl.core.site_routing import RemoteProfile, site_statuses, step_remote
from dnsctl.core.sites import SitesSpec, site_spec
from dnsctl.errors import ExchangeError
from dnsctl.process.clock import Clock
from dnsctl.resolver.steering import SteeredAnswer

log = logging.getLogger("dnsctl.sites")


def site_views(sites: SitesSpec) -> tuple[ViewSpec, ...]:
    """Each site with clients as a resolver view named after it (no preference of its own)."""
    return tuple(
        ViewSpec(s.name, tuple(ipaddress.ip_network(n, strict=False) for n in s.clients), ())
        for s in sites.sites
        if s.clients
    )


class SiteAnswers:
    def __init__(
        self,
        spec: DnsctlSpec,
        sites: SitesSpec,
        *,
        own: str | None,
        exchange: VerdictExchange | None,
        clock: Clock,
        interval: float,
    ) -> None:
        self.sites = sites
        self.views = site_views(sites)
        self.own = own
        self.exchange = exchange  # read here only when this process is no site's vantage
        self.clock = clock
        self.interval = interval
        self.remote = tuple(s.name for s in sites.sites if s.name != own and s.clients)
        self.specs = {s: site_spec(spec, sites, s) for s in self.remote}
        self.state: dict[tuple[str, str], RemoteProfile] = {}
        self.started_at = clock.now()
        self.health: SiteHealth | None = None
        self.error: str | None = None
        self._last_read: float | None = None

    def due(self) -> bool:
        last = self._last_read
        return last is None or self.clock.monotonic() - last >= self.interval / 2

    async def read(self) -> SiteHealth | None:
        """Every vantage's report from the exchange, combined (this process publishes none)."""
        assert self.exchange is not None
        self._last_read = self.clock.monotonic()
        try:
            got = await self.exchange.read()
        except ExchangeError as e:
            if str(e) != self.error:
                log.error("verdict exchange: %s (the sites keep their last answers)", e)
            self.error = str(e)
            return self.health
        if self.error is not None:
            log.info("verdict exchange works again")
        self.error = None
        for name, why in sorted(got.problems.items()):
            log.warning("verdict exchange: the report of %s is left out: %s", name, why)
        self.health = combine(self.sites, got.reports, self.clock.now(), self.interval)
        return self.health

    def update(self, health: SiteHealth) -> list[tuple[str, SteeredAnswer]]:
        """The remote sites' answers that changed, as (view, answer)."""
        now = self.clock.now()
        changed: list[tuple[str, SteeredAnswer]] = []
        for site in self.remote:
            statuses = site_statuses(health, site)
            spec = self.specs[site]
            for p in spec.profiles:
                prev = self.state.get((site, p.name), RemoteProfile())
                mine = statuses.get(p.name) if statuses is not None else None
                new = step_remote(p, mine, prev, now, started_at=self.started_at)
                self.state[(site, p.name)] = new
                d = new.routing.decision
                if d is None or d.same_outcome(prev.routing.decision):
                    continue
                evidence = "; ".join(_evidence(health, p.name, site)) or "none"
                log.info(
                    "site %s: %s -> %s: %s; evidence: %s",
                    site,
                    p.name,
                    ", ".join(d.endpoints) or d.fallback or "-",
                    d.reason,
                    evidence,
                )
                changed.append((site, steered_answer(p, d)))
        return changed

    def decisions(self) -> Mapping[tuple[str, str], RemoteProfile]:
        return self.state


def _evidence(health: SiteHealth, profile: str, site: str) -> list[str]:
    return [f"{j.profile}/{j.evidence(site)}" for j in health.judgements if j.profile == profile]
