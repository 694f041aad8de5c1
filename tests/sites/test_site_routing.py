"""A site's decisions from its own vantage's verdicts (`dnsctl.core.site_routing`), after the quorum step:
what `dnsctl serve` answers the clients of a site whose vantage runs elsewhere."""

from __future__ import annotations

from dnsctl.core.health import MonitorStatus
from dnsctl.core.quorum import EndpointVerdict, VantageReport, combine
from dnsctl.core.site_routing import RemoteProfile, site_statuses, step_remote
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from tests.core.factories import PROFILE, profile

ON, DOWN = MonitorStatus.ONLINE, MonitorStatus.DEGRADED
SITES = SitesSpec(
    sites=(SiteSpec("a"), SiteSpec("b"), SiteSpec("c")),
    exchange=ExchangeSpec(ExchangeKind.DIRECTORY, path="/x"),
)
INTERVAL = 10.0
NOW = 1_000.0
P = profile()  # eastus (priority 1), westeurope (2)


def report(
    vantage: str, eastus: MonitorStatus, westeurope: MonitorStatus = ON, at: float = NOW
) -> VantageReport:
    verdicts = (
        EndpointVerdict(
            vantage, PROFILE, "eastus", eastus, failure="connect-timeout" if eastus is DOWN else None
        ),
        EndpointVerdict(vantage, PROFILE, "westeurope", westeurope),
    )
    return VantageReport(vantage, 1, at, "h", verdicts)


def decide_for(
    site: str, reports: dict[str, VantageReport], prev: RemoteProfile, now: float = NOW
) -> RemoteProfile:
    statuses = site_statuses(combine(SITES, reports, now, INTERVAL), site)
    mine = statuses.get(PROFILE) if statuses is not None else None
    return step_remote(P, mine, prev, now, started_at=NOW - 100)


def test_a_site_follows_its_own_vantage_not_the_others() -> None:
    reports = {"a": report("a", ON), "b": report("b", DOWN), "c": report("c", ON)}
    b = decide_for("b", reports, RemoteProfile())
    a = decide_for("a", reports, RemoteProfile())
    assert b.routing.decision is not None and b.routing.decision.endpoints == ("westeurope",)
    assert a.routing.decision is not None and a.routing.decision.endpoints == ("eastus",)


def test_a_stale_vantage_moves_nothing_its_site_keeps_its_last_answer() -> None:
    before = decide_for("b", {"b": report("b", ON)}, RemoteProfile())
    assert before.routing.decision is not None and before.routing.decision.endpoints == ("eastus",)
    # b's last report says eastus is down, but it is 4 intervals old: b abstains.
    late = NOW + 4 * INTERVAL
    after = decide_for("b", {"a": report("a", ON, at=late), "b": report("b", DOWN)}, before, now=late)
    assert after is before


def test_an_isolated_vantage_moves_nothing() -> None:
    before = decide_for("b", {"a": report("a", ON), "b": report("b", ON)}, RemoteProfile())
    # b sees everything down while a sees it up: b is isolated, its site keeps eastus.
    after = decide_for("b", {"a": report("a", ON), "b": report("b", DOWN, DOWN)}, before)
    assert after is before


def test_no_verdict_from_the_site_means_no_decision() -> None:
    state = decide_for("b", {"a": report("a", DOWN)}, RemoteProfile())
    assert state.routing.decision is None


def test_since_is_when_the_status_was_first_seen_so_failback_hold_applies() -> None:
    held = profile(failback_hold=60.0)
    prev = RemoteProfile()
    down = site_statuses(combine(SITES, {"b": report("b", DOWN)}, NOW, INTERVAL), "b")
    assert down is not None
    prev = step_remote(held, down[PROFILE], prev, NOW, started_at=NOW - 100)
    assert prev.routing.decision is not None and prev.routing.decision.endpoints == ("westeurope",)
    for t in (NOW + 10, NOW + 40):  # eastus Online again from NOW + 10: the hold runs from then
        up = site_statuses(combine(SITES, {"b": report("b", ON, at=t)}, t, INTERVAL), "b")
        assert up is not None
        prev = step_remote(held, up[PROFILE], prev, t, started_at=NOW - 100)
        assert prev.routing.decision is not None and prev.routing.decision.endpoints == ("westeurope",)
        assert prev.health["eastus"].since == NOW + 10
    t = NOW + 71
    up = site_statuses(combine(SITES, {"b": report("b", ON, at=t)}, t, INTERVAL), "b")
    assert up is not None
    prev = step_remote(held, up[PROFILE], prev, t, started_at=NOW - 100)
    assert prev.routing.decision is not None and prev.routing.decision.endpoints == ("eastus",)
