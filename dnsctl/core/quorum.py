"""The quorum step, between observing and deciding: every vantage's verdicts -> per-site health.

Pure: the reports (this vantage's own and those read from the exchange) and the time are arguments.

- A replica is down *for a site* when that site's own vantage says so: its clients share its path.
- A replica is down *everywhere* when `needed` fresh vantages say so (a publication shared by
  several sites follows that).
- A vantage whose report is older than `STALE_INTERVALS` probe intervals abstains (stale).
- A fresh vantage that sees every endpoint down while another fresh vantage sees one of them up is
  isolated, as is one whose own isolation guard holds: it abstains, and its site keeps its last
  answer (no status for it here).
Every judgement says whose evidence it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.routing import freeze
from dnsctl.core.sites import STALE_INTERVALS, SitesSpec
from dnsctl.core.state import ProfileState, RoundOutcome, probed


@dataclass(frozen=True, slots=True)
class EndpointVerdict:
    """One vantage's verdict on one endpoint of one profile."""

    vantage: str
    profile: str
    endpoint: str
    status: MonitorStatus
    since: float | None = None
    failure: str | None = None  # the last probe's failure kind (connect-timeout, http-status 503, ...)
    answered: bool = True  # whether anything came back from the endpoint in the last probe


@dataclass(frozen=True, slots=True)
class VantageReport:
    """What one vantage publishes to the exchange after a round."""

    vantage: str
    seq: int
    at: float  # wall-clock seconds of the round
    config_hash: str
    verdicts: tuple[EndpointVerdict, ...] = ()
    isolated: bool = False  # its own isolation guard holds: nothing came back from any endpoint


class VantageState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"  # silent for STALE_INTERVALS probe intervals (or never heard): abstains
    ISOLATED = "isolated"  # sees everything down while the others see it up: abstains


@dataclass(frozen=True, slots=True)
class VantageView:
    vantage: str
    state: VantageState
    last_seen: float | None  # the report's time, None when never heard
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """One endpoint of one profile, across the vantages."""

    profile: str
    endpoint: str
    for_site: Mapping[str, MonitorStatus]  # per site whose own vantage votes: what it says
    down: int  # fresh, non-isolated vantages that say Degraded
    online: int  # ... that say Online
    voters: int  # fresh, non-isolated vantages
    of: int  # every vantage (one per site)
    needed: int
    failures: Mapping[str, str]  # per voting vantage that saw it fail: the failure kind

    @property
    def down_everywhere(self) -> bool:
        return self.down >= self.needed

    def evidence(self, site: str) -> str:
        """`eastus: down for site westeurope (westeurope: connect-timeout) and Online for 2 of 3 vantages`."""
        own = self.for_site.get(site)
        if own is None:
            head = f"{self.endpoint}: no fresh verdict of site {site} (its vantage abstains)"
        elif own is MonitorStatus.DEGRADED:
            why = self.failures.get(site, "degraded")
            head = f"{self.endpoint}: down for site {site} ({site}: {why})"
        else:
            head = f"{self.endpoint}: {own} for site {site}"
        if self.down_everywhere:
            tail = f"down for {self.down} of {self.of} vantages (quorum {self.needed}: down everywhere)"
        else:
            tail = f"Online for {self.online} of {self.of} vantages"
        return f"{head} and {tail}"


@dataclass(frozen=True, slots=True)
class SiteHealth:
    vantages: tuple[VantageView, ...]
    judgements: tuple[Judgement, ...]
    needed: int

    def vantage(self, name: str) -> VantageView:
        for v in self.vantages:
            if v.vantage == name:
                return v
        raise KeyError(name)

    def judgement(self, profile: str, endpoint: str) -> Judgement:
        for j in self.judgements:
            if (j.profile, j.endpoint) == (profile, endpoint):
                return j
        raise KeyError((profile, endpoint))


def _sees_all_down(report: VantageReport) -> bool:
    judged = [v for v in report.verdicts if v.status is not MonitorStatus.CHECKING]
    return bool(judged) and all(v.status is MonitorStatus.DEGRADED for v in judged)


def combine(
    sites: SitesSpec,
    reports: Mapping[str, VantageReport],
    now: float,
    interval: float,
) -> SiteHealth:
    """The per-site health from every vantage's latest report (this vantage's own among them)."""
    fresh = {
        name: r
        for name, r in reports.items()
        if name in sites.names and now - r.at <= STALE_INTERVALS * interval
    }
    # A vantage whose own guard holds reports its frozen verdicts: they prove nothing is up.
    sees_up = {name for name, r in fresh.items() if not r.isolated and not _sees_all_down(r)}
    isolated = {
        name
        for name, r in fresh.items()
        if r.isolated or (_sees_all_down(r) and any(_sees_online(fresh[o], r.verdicts) for o in sees_up))
    }
    views: list[VantageView] = []
    for name in sites.names:
        r = reports.get(name)
        if r is None or name not in fresh:
            state = VantageState.STALE
        else:
            state = VantageState.ISOLATED if name in isolated else VantageState.FRESH
        views.append(
            VantageView(name, state, r.at if r is not None else None, r.seq if r is not None else None)
        )
    voting = {name: fresh[name] for name in fresh if name not in isolated}
    return SiteHealth(tuple(views), _judge(sites, voting), sites.needed)


def _sees_online(report: VantageReport, verdicts: Sequence[EndpointVerdict]) -> bool:
    keys = {(v.profile, v.endpoint) for v in verdicts}
    return any(v.status is MonitorStatus.ONLINE and (v.profile, v.endpoint) in keys for v in report.verdicts)


def _judge(sites: SitesSpec, voting: Mapping[str, VantageReport]) -> tuple[Judgement, ...]:
    by_key: dict[tuple[str, str], dict[str, EndpointVerdict]] = {}
    for name in sites.names:
        r = voting.get(name)
        if r is None:
            continue
        for v in r.verdicts:
            by_key.setdefault((v.profile, v.endpoint), {})[name] = v
    out: list[Judgement] = []
    for (profile, endpoint), seen in sorted(by_key.items()):
        judged = {n: v for n, v in seen.items() if v.status is not MonitorStatus.CHECKING}
        out.append(
            Judgement(
                profile=profile,
                endpoint=endpoint,
                for_site={n: v.status for n, v in judged.items()},
                down=sum(v.status is MonitorStatus.DEGRADED for v in judged.values()),
                online=sum(v.status is MonitorStatus.ONLINE for v in judged.values()),
                voters=len(voting),
                of=len(sites.sites),
                needed=sites.needed,
                failures={
                    n: v.failure or "degraded"
                    for n, v in judged.items()
                    if v.status is MonitorStatus.DEGRADED
                },
            )
        )
    return tuple(out)


def verdicts_of(vantage: str, states: Mapping[str, ProfileState]) -> tuple[EndpointVerdict, ...]:
    """This vantage's verdicts, from the engine's states after a round."""
    out: list[EndpointVerdict] = []
    for profile, st in sorted(states.items()):
        for endpoint, h in sorted(st.endpoints.items()):
            last = h.last
            out.append(
                EndpointVerdict(
                    vantage=vantage,
                    profile=profile,
                    endpoint=endpoint,
                    status=h.status,
                    since=h.since,
                    failure=None if last is None or last.ok else last.describe(),
                    answered=last is None or not last.says_nothing,
                )
            )
    return tuple(out)


def hold_when_isolated(
    spec: DnsctlSpec,
    sites: SitesSpec,
    site: str,
    before: Mapping[str, ProfileState],
    outcome: RoundOutcome,
    others: Mapping[str, VantageReport],
    now: float,
    interval: float,
) -> RoundOutcome:
    """The quorum's isolation guard for the vantage of `site`, after the core step of a round.

    When the latest probe of every endpoint of every profile it probes failed (whatever the
    failure) while another fresh vantage, not isolated itself, sees one of them Online, this
    vantage is blind rather than the replicas down: its site keeps its last answer exactly as under
    its own isolation guard (decisions frozen, no change, the outcome `isolated`). Its health is
    still observed, so its verdicts stay honest and the quorum shows it isolated.
    `outcome` is returned as it is when the hold does not apply (or the guard is disabled).
    """
    guard = spec.isolation_guard
    if outcome.isolated or not guard.enabled:
        return outcome
    expected = [(p.name, ep) for p in spec.profiles for ep in probed(p)]
    if len(expected) < max(1, guard.min_endpoints):
        return outcome
    for profile, ep in expected:
        last = outcome.states[profile].endpoints.get(ep) if profile in outcome.states else None
        if last is None or last.last is None or last.last.ok:
            return outcome
    keys = set(expected)
    seeing = sorted(
        (name, f"{v.profile}/{v.endpoint}")
        for name, r in others.items()
        if name != site
        and name in sites.names
        and not r.isolated
        and now - r.at <= STALE_INTERVALS * interval
        for v in r.verdicts
        if v.status is MonitorStatus.ONLINE and (v.profile, v.endpoint) in keys
    )
    if not seeing:
        return outcome
    name, what = seeing[0]
    reason = (
        f"isolated: every endpoint fails from site {site} while {name} sees {what} Online; "
        "holding the last decisions until probes recover here or the other vantages agree"
    )
    states = dict(outcome.states)
    for p in spec.profiles:
        prev, new = before.get(p.name), outcome.states.get(p.name)
        if prev is None or new is None:
            continue
        states[p.name] = replace(
            new,
            routing=freeze(prev.routing, reason),
            views={v: freeze(rs, reason) for v, rs in prev.views.items()},
            history=prev.history,
        )
    return replace(outcome, states=states, changes=(), isolated=True)
