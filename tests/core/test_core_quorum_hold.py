"""The quorum's isolation hold: a vantage that sees every endpoint fail while another fresh vantage
sees one of them up keeps its site's last answer, exactly as when its own isolation guard holds."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.core.decision import DecisionKind
from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import WhenAllDown
from dnsctl.core.quorum import EndpointVerdict, VantageReport, VantageState, combine, hold_when_isolated
from dnsctl.core.results import FailureReason
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from dnsctl.core.state import RoundOutcome, step
from tests.core.factories import PROFILE, T0, Engine, fail, monitor, ok, profile, spec

SITES = SitesSpec(
    sites=(SiteSpec("eastus"), SiteSpec("westeurope"), SiteSpec("southeastasia")),
    exchange=ExchangeSpec(ExchangeKind.DIRECTORY, path="/x"),
)
INTERVAL = 10.0
# Every endpoint down makes this profile move to its fallback: a blind vantage would flip its site.
SPEC = spec(
    profile(
        monitor_spec=monitor(fall=1, rise=1),
        when_all_down=WhenAllDown.FALLBACK,
        fallback="myregistry.azurecr.io",
    )
)
ENDPOINTS = ("eastus", "westeurope")


def seen_from(vantage: str, status: MonitorStatus, at: float, *, isolated: bool = False) -> VantageReport:
    verdicts = tuple(EndpointVerdict(vantage, PROFILE, ep, status) for ep in ENDPOINTS)
    return VantageReport(vantage, 1, at, "h", verdicts, isolated=isolated)


def held_round(engine: Engine, others: dict[str, VantageReport], *, up: bool) -> RoundOutcome:
    """One round as the vantage of westeurope steps it: the core step, then the quorum's hold."""
    results = [ok(ep, engine.now) if up else fail(ep, engine.now, FailureReason.REFUSED) for ep in ENDPOINTS]
    before = engine.states
    out = step(SPEC, before, results, engine.now)
    out = hold_when_isolated(SPEC, SITES, "westeurope", before, out, others, engine.now, INTERVAL)
    engine.states = out.states
    engine.changes.extend(out.changes)
    engine.now += INTERVAL
    return out


def test_without_the_others_a_vantage_seeing_everything_down_follows_its_all_down_policy() -> None:
    e = Engine(SPEC)
    held_round(e, {}, up=True)
    out = held_round(e, {}, up=False)
    assert not out.isolated
    d = e.decision()
    assert d is not None and d.fallback == "myregistry.azurecr.io"


def test_a_vantage_seeing_everything_fail_while_another_sees_it_up_keeps_its_sites_answer() -> None:
    e = Engine(SPEC)
    held_round(e, {}, up=True)
    first = e.decision()
    assert first is not None and first.endpoints == ("eastus",)
    others = {"eastus": seen_from("eastus", MonitorStatus.ONLINE, e.now)}
    for _ in range(3):
        out = held_round(e, others, up=False)
        assert out.isolated
        assert out.changes == ()
        d = e.decision()
        assert d is not None and d.endpoints == ("eastus",) and d.fallback is None
        assert d.kind is DecisionKind.FROZEN
        assert "westeurope" in d.reason and "eastus sees" in d.reason
        others = {"eastus": replace(others["eastus"], at=e.now)}
    # Its own verdicts stay honest (Degraded): the others see it isolated by the quorum's rule.
    assert e.health("eastus").status is MonitorStatus.DEGRADED
    # Its probes recover: it converges without a flip.
    out = held_round(e, others, up=True)
    assert not out.isolated
    d = e.decision()
    assert d is not None and d.endpoints == ("eastus",)
    assert [c.new.endpoints for c in e.changes] == [("eastus",)]  # only the very first decision


def test_stale_isolated_or_all_down_others_do_not_hold_a_vantage() -> None:
    for others in (
        {"eastus": seen_from("eastus", MonitorStatus.ONLINE, T0 - 4 * INTERVAL)},  # stale
        {"eastus": seen_from("eastus", MonitorStatus.ONLINE, T0 + INTERVAL, isolated=True)},  # own guard
        {"eastus": seen_from("eastus", MonitorStatus.DEGRADED, T0 + INTERVAL)},  # down there too
        {"westeurope": seen_from("westeurope", MonitorStatus.ONLINE, T0 + INTERVAL)},  # itself
        {"mars": seen_from("mars", MonitorStatus.ONLINE, T0 + INTERVAL)},  # no site
    ):
        e = Engine(SPEC)
        held_round(e, others, up=True)
        out = held_round(e, others, up=False)
        assert not out.isolated, others
        d = e.decision()
        assert d is not None and d.fallback == "myregistry.azurecr.io", others


def test_one_endpoint_still_answering_is_no_isolation() -> None:
    e = Engine(SPEC)
    others = {"eastus": seen_from("eastus", MonitorStatus.ONLINE, T0 + INTERVAL)}
    held_round(e, others, up=True)
    before = e.states
    results = [fail("eastus", e.now, FailureReason.REFUSED), ok("westeurope", e.now)]
    out = step(SPEC, before, results, e.now)
    assert hold_when_isolated(SPEC, SITES, "westeurope", before, out, others, e.now, INTERVAL) is out
    d = out.states[PROFILE].decision
    assert d is not None and d.endpoints == ("westeurope",)


def test_the_hold_is_off_with_the_isolation_guard() -> None:
    off = replace(SPEC, isolation_guard=replace(SPEC.isolation_guard, enabled=False))
    e = Engine(off)
    others = {"eastus": seen_from("eastus", MonitorStatus.ONLINE, T0 + INTERVAL)}
    e.round(dict.fromkeys(ENDPOINTS, True))
    before = e.states
    out = step(off, before, [fail(ep, e.now, FailureReason.REFUSED) for ep in ENDPOINTS], e.now)
    assert hold_when_isolated(off, SITES, "westeurope", before, out, others, e.now, INTERVAL) is out


def test_frozen_verdicts_of_a_vantage_under_its_own_guard_prove_nothing_up() -> None:
    """Everyone down for real, one vantage cut off (its guard froze its Online verdicts): the others
    are not shown isolated because of it, and they vote."""
    sites = SitesSpec(SITES.sites[:2], SITES.exchange)
    reports = {
        "eastus": seen_from("eastus", MonitorStatus.ONLINE, T0, isolated=True),
        "westeurope": seen_from("westeurope", MonitorStatus.DEGRADED, T0),
    }
    health = combine(sites, reports, T0, INTERVAL)
    assert health.vantage("eastus").state is VantageState.ISOLATED
    assert health.vantage("westeurope").state is VantageState.FRESH
    assert health.judgement(PROFILE, "eastus").down == 1
