"""The quorum step: local and remote verdicts, with their age, -> per-site health and its evidence."""

from __future__ import annotations

import pytest

from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.quorum import EndpointVerdict, VantageReport, VantageState, combine, verdicts_of
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from dnsctl.core.state import ProfileState

ON, DOWN, CHECK = MonitorStatus.ONLINE, MonitorStatus.DEGRADED, MonitorStatus.CHECKING
SITES = SitesSpec(
    sites=(SiteSpec("eastus"), SiteSpec("westeurope"), SiteSpec("southeastasia")),
    exchange=ExchangeSpec(ExchangeKind.DIRECTORY, path="/x"),
)
INTERVAL = 10.0
NOW = 1_000.0


def report(
    vantage: str, statuses: dict[str, MonitorStatus], at: float = NOW, failure: str = ""
) -> VantageReport:
    return VantageReport(
        vantage,
        seq=1,
        at=at,
        config_hash="h",
        verdicts=tuple(
            EndpointVerdict(vantage, "reg", ep, st, failure=(failure or None) if st is DOWN else None)
            for ep, st in statuses.items()
        ),
    )


def all_up(vantage: str, at: float = NOW) -> VantageReport:
    return report(vantage, {"eastus": ON, "westeurope": ON, "southeastasia": ON}, at)


def test_a_replica_down_for_one_site_only_is_down_for_that_site_not_everywhere() -> None:
    reports = {
        "eastus": all_up("eastus"),
        "westeurope": report(
            "westeurope", {"eastus": DOWN, "westeurope": ON, "southeastasia": ON}, failure="connect-timeout"
        ),
        "southeastasia": all_up("southeastasia"),
    }
    health = combine(SITES, reports, NOW, INTERVAL)
    j = health.judgement("reg", "eastus")
    assert j.for_site == {"eastus": ON, "westeurope": DOWN, "southeastasia": ON}
    assert not j.down_everywhere
    assert j.evidence("westeurope") == (
        "eastus: down for site westeurope (westeurope: connect-timeout) and Online for 2 of 3 vantages"
    )
    assert [v.state for v in health.vantages] == [VantageState.FRESH] * 3


@pytest.mark.parametrize(
    ("down_at", "needed", "everywhere"),
    [
        (("eastus",), None, False),
        (("eastus", "westeurope"), None, True),  # 2 of 3: a majority
        (("eastus", "westeurope"), 3, False),
        (("eastus", "westeurope", "southeastasia"), 3, True),
    ],
)
def test_down_everywhere_takes_a_quorum_of_fresh_vantages(
    down_at: tuple[str, ...], needed: int | None, everywhere: bool
) -> None:
    sites = SitesSpec(SITES.sites, SITES.exchange, quorum=needed)
    reports = {
        name: report(name, {"eastus": DOWN if name in down_at else ON, "westeurope": ON})
        for name in sites.names
    }
    assert combine(sites, reports, NOW, INTERVAL).judgement("reg", "eastus").down_everywhere is everywhere


def test_a_vantage_older_than_three_intervals_is_stale_and_abstains() -> None:
    reports = {
        "eastus": report("eastus", {"eastus": DOWN, "westeurope": ON}),
        "westeurope": report("westeurope", {"eastus": DOWN, "westeurope": ON}, at=NOW - 3 * INTERVAL - 0.1),
        "southeastasia": report("southeastasia", {"eastus": ON, "westeurope": ON}),
    }
    health = combine(SITES, reports, NOW, INTERVAL)
    assert health.vantage("westeurope").state is VantageState.STALE
    assert health.vantage("westeurope").last_seen == NOW - 3 * INTERVAL - 0.1
    j = health.judgement("reg", "eastus")
    assert not j.down_everywhere  # westeurope's old "down" does not count
    assert "westeurope" not in j.for_site
    assert j.evidence("westeurope").startswith("eastus: no fresh verdict of site westeurope")


def test_exactly_three_intervals_old_is_still_fresh() -> None:
    reports = {"eastus": all_up("eastus", at=NOW - 3 * INTERVAL)}
    assert combine(SITES, reports, NOW, INTERVAL).vantage("eastus").state is VantageState.FRESH


def test_a_vantage_never_heard_is_stale() -> None:
    health = combine(SITES, {"eastus": all_up("eastus")}, NOW, INTERVAL)
    assert health.vantage("southeastasia").state is VantageState.STALE
    assert health.vantage("southeastasia").last_seen is None


def test_a_vantage_seeing_everything_down_while_others_see_it_up_is_isolated() -> None:
    blind = report(
        "westeurope", {"eastus": DOWN, "westeurope": DOWN, "southeastasia": DOWN}, failure="connect-timeout"
    )
    reports = {"eastus": all_up("eastus"), "westeurope": blind, "southeastasia": all_up("southeastasia")}
    health = combine(SITES, reports, NOW, INTERVAL)
    assert health.vantage("westeurope").state is VantageState.ISOLATED
    for ep in ("eastus", "westeurope", "southeastasia"):
        j = health.judgement("reg", ep)
        assert "westeurope" not in j.for_site  # its site keeps its last answer
        assert j.down == 0 and not j.down_everywhere


def test_everyone_seeing_everything_down_is_not_isolation() -> None:
    reports = {
        name: report(name, {"eastus": DOWN, "westeurope": DOWN}, failure="http-status 503")
        for name in SITES.names
    }
    health = combine(SITES, reports, NOW, INTERVAL)
    assert [v.state for v in health.vantages] == [VantageState.FRESH] * 3
    j = health.judgement("reg", "eastus")
    assert j.down_everywhere
    assert j.evidence("eastus") == (
        "eastus: down for site eastus (eastus: http-status 503) and down for 3 of 3 vantages "
        "(quorum 2: down everywhere)"
    )


def test_checking_verdicts_neither_vote_nor_make_a_vantage_isolated() -> None:
    reports = {
        "eastus": report("eastus", {"eastus": CHECK, "westeurope": CHECK}),
        "westeurope": all_up("westeurope"),
    }
    health = combine(SITES, reports, NOW, INTERVAL)
    assert health.vantage("eastus").state is VantageState.FRESH
    assert health.judgement("reg", "eastus").for_site == {"westeurope": ON}


def test_reports_of_unknown_vantages_are_ignored() -> None:
    reports = {"mars": report("mars", {"eastus": DOWN}), "eastus": all_up("eastus")}
    health = combine(SITES, reports, NOW, INTERVAL)
    assert [v.vantage for v in health.vantages] == list(SITES.names)
    assert health.judgement("reg", "eastus").down == 0


def test_verdicts_carry_their_vantage_and_the_last_failure() -> None:
    failed = ProbeResult("reg", "eastus", NOW, False, 5.0, "10.1.0.5", reason=FailureReason.CONNECT_TIMEOUT)
    states = {
        "reg": ProfileState(
            started_at=0.0,
            endpoints={
                "eastus": EndpointHealth(status=DOWN, since=900.0, last=failed),
                "westeurope": EndpointHealth(),
            },
        )
    }
    (east, west) = verdicts_of("westeurope", states)
    assert east == EndpointVerdict(
        "westeurope", "reg", "eastus", DOWN, 900.0, "connect-timeout", answered=False
    )
    assert west == EndpointVerdict("westeurope", "reg", "westeurope", CHECK, None, None, answered=True)


def test_a_vantage_whose_own_guard_holds_is_isolated_and_does_not_vote() -> None:
    frozen = report("westeurope", {"eastus": DOWN, "westeurope": ON})  # its last verdicts, frozen
    frozen = VantageReport(
        frozen.vantage, frozen.seq, frozen.at, frozen.config_hash, frozen.verdicts, isolated=True
    )
    reports = {"eastus": report("eastus", {"eastus": DOWN, "westeurope": ON}), "westeurope": frozen}
    health = combine(SITES, reports, NOW, INTERVAL)
    assert health.vantage("westeurope").state is VantageState.ISOLATED
    j = health.judgement("reg", "eastus")
    assert j.down == 1 and not j.down_everywhere  # westeurope's frozen "down" does not make a quorum
