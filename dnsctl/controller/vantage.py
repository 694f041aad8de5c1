"""This process as the vantage of one site (`dnsctl run --site S`).

After every pass it publishes its verdicts to the exchange, reads the other vantages' reports and
folds them through the pure quorum step (`dnsctl.core.quorum`) into the per-site health that
`status`, `/status`, the metrics and the log show. An exchange that cannot be written or read is
reported (status, log) and never stops the site's own decisions: its vantage decides for its site.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Gauge

from dnsctl.controller.exchange import VerdictExchange
from dnsctl.core.mirror import SiteDecision, site_decisions
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.quorum import (
    SiteHealth,
    VantageReport,
    VantageState,
    combine,
    hold_when_isolated,
    verdicts_of,
)
from dnsctl.core.sites import SitesSpec
from dnsctl.core.state import DecisionChange, ProfileState, RoundOutcome
from dnsctl.documents.jsonable import iso
from dnsctl.documents.sites import SitesDoc, VantageDoc
from dnsctl.errors import ExchangeError
from dnsctl.process.clock import Clock

log = logging.getLogger("dnsctl.sites")


def config_hash(spec: DnsctlSpec) -> str:
    """A short hash of the whole configuration: vantages judging with different ones can be told apart."""
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:16]


class Vantage:
    def __init__(
        self,
        site: str,
        sites: SitesSpec,
        exchange: VerdictExchange,
        clock: Clock,
        *,
        interval: float,
        config: str,
        registry: CollectorRegistry | None = None,
        profiles: Sequence[ProfileSpec] = (),  # the site's profiles: their decisions go to node agents
    ) -> None:
        sites.site(site)  # KeyError for an unknown site
        self.site = site
        self.sites = sites
        self.exchange = exchange
        self.clock = clock
        self.interval = interval
        self.config = config
        self.profiles = tuple(profiles)
        self.health: SiteHealth | None = None
        self.error: str | None = None
        self.unread: dict[str, str] = {}
        self.reports: dict[str, VantageReport] = {}  # every vantage's latest report, as last read
        self.holding = False  # the quorum holds this site's decisions (`hold`)
        self._seq = 0
        self._last_exchange: float | None = None  # monotonic
        r = registry or CollectorRegistry()
        self._state = Gauge(
            "dnsctl_vantage_state", "1 for the state each vantage is in", ["vantage", "state"], registry=r
        )
        self._age = Gauge(
            "dnsctl_vantage_age_seconds", "Seconds since each vantage's last report", ["vantage"], registry=r
        )
        self._exchange_ok = Gauge(
            "dnsctl_exchange_up", "1 when the verdict exchange was written and read last time", registry=r
        )

    def due(self) -> bool:
        """Whether a round's verdicts go to the exchange: at most every half interval (each profile's
        round carries every profile's verdicts, so one exchange per pass is enough, not one per profile)."""
        last = self._last_exchange
        return last is None or self.clock.monotonic() - last >= self.interval / 2

    async def exchange_round(
        self, states: Mapping[str, ProfileState], *, isolated: bool = False
    ) -> SiteHealth:
        """Publish this vantage's verdicts (`isolated`: its isolation guard holds), read every other's,
        and combine them."""
        now = self.clock.now()
        self._last_exchange = self.clock.monotonic()
        self._seq = max(self._seq + 1, int(now * 1000))  # grows across restarts too
        own = VantageReport(
            self.site, self._seq, now, self.config, verdicts_of(self.site, states), isolated=isolated
        )
        reports: dict[str, VantageReport] = {}
        errors: list[str] = []
        try:
            await self.exchange.publish(own)
        except ExchangeError as e:
            errors.append(str(e))
        if self.profiles:  # the site's decision, for its node agents (`mirror --source exchange`)
            decisions = site_decisions(self.profiles, states)
            decided = SiteDecision(self.site, self._seq, now, self.config, decisions)
            try:
                await self.exchange.publish_decision(decided)
            except ExchangeError as e:
                errors.append(str(e))
        try:
            read = await self.exchange.read()
            reports.update(read.reports)
            self.unread = dict(read.problems)
        except ExchangeError as e:
            errors.append(str(e))
        reports[self.site] = own  # this vantage always knows its own verdicts
        error = "; ".join(errors) or None
        if error != self.error:
            if error:
                log.error("verdict exchange: %s (this site keeps deciding on its own verdicts)", error)
            else:
                log.info("verdict exchange works again")
        self.error = error
        health = combine(self.sites, reports, now, self.interval)
        self.reports = reports
        self._exchange_ok.set(0 if error else 1)
        for v in health.vantages:
            for state in VantageState:
                self._state.labels(v.vantage, state.value).set(1 if v.state is state else 0)
            if v.last_seen is not None:
                self._age.labels(v.vantage).set(max(0.0, now - v.last_seen))
        self._log_states(health)
        self.health = health
        return health

    def hold(
        self, spec: DnsctlSpec, before: Mapping[str, ProfileState], outcome: RoundOutcome
    ) -> RoundOutcome:
        """The engine's hook after each step: this site keeps its last answer while its vantage sees
        every endpoint fail and another fresh vantage sees one of them up (`core.quorum`)."""
        held = hold_when_isolated(
            spec, self.sites, self.site, before, outcome, self.reports, self.clock.now(), self.interval
        )
        holding = held is not outcome
        if holding == self.holding or not (holding or outcome.results):
            return held  # a re-decision without probes says nothing new
        if holding:
            why = next((st.decision.reason for st in held.states.values() if st.decision), "")
            log.error("site %s keeps its last answer: %s", self.site, why)
        else:
            log.warning("site %s decides on its own verdicts again", self.site)
        self.holding = holding
        return held

    def _log_states(self, health: SiteHealth) -> None:
        before = {v.vantage: v.state for v in self.health.vantages} if self.health else {}
        for v in health.vantages:
            if before.get(v.vantage, VantageState.FRESH) is not v.state:
                level = logging.INFO if v.state is VantageState.FRESH else logging.WARNING
                log.log(
                    level, "vantage %s is %s (last seen %s)", v.vantage, v.state, iso(v.last_seen) or "never"
                )

    def evidence(self, profile: str | None = None) -> list[str]:
        if self.health is None:
            return []
        return [
            f"{j.profile}/{j.evidence(self.site)}"
            for j in self.health.judgements
            if profile is None or j.profile == profile
        ]

    def log_changes(self, changes: tuple[DecisionChange, ...]) -> None:
        """Each decision change of this site with the evidence it rests on."""
        for c in changes:
            if c.view is not None:
                continue
            moved = ", ".join(c.new.endpoints) or c.new.fallback or "-"
            log.info(
                "site %s: %s -> %s; evidence: %s",
                self.site,
                c.profile,
                moved,
                "; ".join(self.evidence(c.profile)) or "none yet",
            )

    def doc(self) -> SitesDoc:
        vantages = self.health.vantages if self.health is not None else ()
        return SitesDoc(
            site=self.site,
            rule=self.sites.rule(),
            vantages=tuple(VantageDoc(v.vantage, v.state.value, iso(v.last_seen), v.seq) for v in vantages),
            evidence=tuple(self.evidence()),
            exchange=self.exchange.kind,
            exchange_error=self.error,
            unread=tuple(f"{name}: {why}" for name, why in sorted(self.unread.items())),
        )
