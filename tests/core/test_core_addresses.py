"""Endpoints with several addresses: each one judged on its own; only the Online ones are published."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.core.decision import decision_targets
from dnsctl.core.health import EndpointHealth, MonitorStatus, combine, serving_addresses
from dnsctl.core.plan import MANAGED_BY, PROFILE_KEY, Published, ReadRecord, desired_value, make_plan
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.results import FailureReason, ProbeResult

from .factories import PROFILE, T0, Engine, endpoint, profile, spec

DEAD, LIVE = "10.0.0.9", "10.0.0.3"


def at(address: str, up: bool, now: float, name: str = "eastus") -> ProbeResult:
    if up:
        return ProbeResult(PROFILE, name, now, True, 0.01, address, status_code=401)
    return ProbeResult(PROFILE, name, now, False, 5.0, address, reason=FailureReason.CONNECT_TIMEOUT)


def two_address_engine(addresses: tuple[str, ...] = (DEAD, LIVE)) -> Engine:
    az = AzureRecordSpec("sub", "rg", "privatelink.azurecr.io", "myregistry", record_type=RecordType.A)
    p = profile(
        endpoint("eastus", 1, addresses=addresses),
        endpoint("westeurope", 2, addresses=("10.2.0.5",)),
        azure=az,
    )
    return Engine(spec(p))


def feed(e: Engine, east: dict[str, bool], west: bool = True) -> None:
    e.feed([*(at(a, up, e.now) for a, up in east.items()), at("10.2.0.5", west, e.now, "westeurope")])


def test_a_dead_first_address_does_not_take_the_endpoint_down() -> None:
    e = two_address_engine()
    for _ in range(4):
        feed(e, {DEAD: False, LIVE: True})
    assert e.health("eastus").status is MonitorStatus.ONLINE
    assert e.health("eastus").addresses[DEAD].status is MonitorStatus.DEGRADED
    assert e.health("eastus").addresses[LIVE].status is MonitorStatus.ONLINE
    d = e.decision()
    assert d is not None and d.endpoints == ("eastus",)
    p = e.spec.profile(PROFILE)
    assert decision_targets(p, d)[0].addresses == (LIVE,)
    assert desired_value(p, d).values == (LIVE,)


def test_the_dead_address_is_left_out_from_the_first_round_either_way_round() -> None:
    # A live address answers at once; a dead one is never published beside it, whatever the order.
    for order in ((DEAD, LIVE), (LIVE, DEAD)):
        e = two_address_engine(order)
        feed(e, {DEAD: False, LIVE: True})
        d = e.decision()
        assert d is not None and decision_targets(e.spec.profile(PROFILE), d)[0].addresses == (LIVE,)


def test_an_address_coming_back_is_published_again_after_rise() -> None:
    e = two_address_engine()
    for _ in range(3):
        feed(e, {DEAD: False, LIVE: True})
    changes_before = len(e.changes)
    feed(e, {DEAD: True, LIVE: True})  # 1 success of rise=2
    d = e.decision()
    assert d is not None and decision_targets(e.spec.profile(PROFILE), d)[0].addresses == (LIVE,)
    feed(e, {DEAD: True, LIVE: True})
    d = e.decision()
    assert d is not None and decision_targets(e.spec.profile(PROFILE), d)[0].addresses == (DEAD, LIVE)
    assert len(e.changes) == changes_before + 1, "the address set changing is a decision change"


def test_every_address_down_takes_the_endpoint_down_after_fall() -> None:
    e = two_address_engine()
    feed(e, {DEAD: True, LIVE: True})
    for _ in range(3):
        feed(e, {DEAD: False, LIVE: False})
    assert e.health("eastus").status is MonitorStatus.DEGRADED
    assert "every address failed" in (e.health("eastus").last or at(DEAD, True, T0)).detail
    d = e.decision()
    assert d is not None and d.endpoints == ("westeurope",)


def test_the_a_record_plan_updates_when_an_address_dies() -> None:
    e = two_address_engine()
    feed(e, {DEAD: True, LIVE: True})
    p = e.spec.profile(PROFILE)
    d = e.decision()
    assert d is not None and desired_value(p, d).values == (DEAD, LIVE)
    for _ in range(3):
        feed(e, {DEAD: False, LIVE: True})
    d2 = e.decision()
    assert d2 is not None
    current = ReadRecord(desired_value(p, d), "e1", {MANAGED_BY: "dnsctl", PROFILE_KEY: PROFILE})
    plan = make_plan([p], {PROFILE: Published("z/myregistry", {RecordType.A: current})}, {PROFILE: d2})
    [change] = plan.dns_changes
    assert change.after is not None and change.after.values == (LIVE,)
    assert not change.counts_toward_limit, "dropping a dead address is failover, not configuration"


def test_combine_and_serving_addresses_edge_cases() -> None:
    ok, bad = at(LIVE, True, T0), at(DEAD, False, T0)
    assert combine([bad, ok]) is ok
    both_bad = combine([bad, replace(bad, address=LIVE)])
    assert not both_bad.ok and DEAD in both_bad.detail and LIVE in both_bad.detail
    ep = endpoint("eastus", 1, addresses=(DEAD, LIVE))
    # No per-address verdict yet (just restored): publish all; all Degraded: still never none.
    assert serving_addresses(ep, EndpointHealth()) == (DEAD, LIVE)
    degraded = EndpointHealth(status=MonitorStatus.DEGRADED)
    h = EndpointHealth(addresses={DEAD: degraded, LIVE: degraded})
    assert serving_addresses(ep, h) == (DEAD, LIVE)
    assert serving_addresses(endpoint("x", 1, addresses=(LIVE,)), h) == (LIVE,)
