"""The order a node's runtime tries mirrors in: health, hysteresis, failback, drains, as in DNS modes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dnsctl.core import state as core_state
from dnsctl.core.mirror import host_url, mirror_order
from dnsctl.core.model import MonitorProtocol, Override, Routing, WhenAllDown
from dnsctl.core.registry_spec import RegistryProbeSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.state import ProfileState
from tests.core.factories import PROFILE, Engine, endpoint, monitor, profile, result, spec

EAST = "https://myregistry.eastus.geo.azurecr.io"
WEST = "https://myregistry.westeurope.geo.azurecr.io"
ASIA = "https://myregistry.southeastasia.geo.azurecr.io"


def three(**kw: Any) -> Engine:
    p = profile(endpoint("eastus", 1), endpoint("westeurope", 2), endpoint("southeastasia", 3), **kw)
    return Engine(spec(p))


def urls(engine: Engine) -> list[str] | None:
    order = mirror_order(engine.spec.profiles[0], engine.states[PROFILE])
    return None if order is None else [h.url for h in order.hosts]


def test_nothing_is_written_before_verdicts() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True})  # southeastasia not probed yet
    assert urls(e) is None


def test_the_preferred_endpoint_first_then_every_other_online_one_by_priority() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    assert urls(e) == [EAST, WEST, ASIA]


def test_a_failing_first_endpoint_moves_down_only_after_fall_failures() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    for _ in range(2):
        e.round({"eastus": False, "westeurope": True, "southeastasia": True})
        assert urls(e) == [EAST, WEST, ASIA]  # hysteresis: fall is 3
    e.round({"eastus": False, "westeurope": True, "southeastasia": True})
    assert urls(e) == [WEST, ASIA]


def test_a_second_endpoint_going_down_leaves_the_list_without_a_decision_change() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    for _ in range(3):
        out = e.round({"eastus": True, "westeurope": False, "southeastasia": True})
    assert not out.changes
    assert urls(e) == [EAST, ASIA]


def test_failback_waits_for_the_hold() -> None:
    e = three(failback_hold=60.0)
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    for _ in range(3):
        e.round({"eastus": False, "westeurope": True, "southeastasia": True})
    for _ in range(2):  # rise 2: Online again, but not yet preferred
        e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    assert urls(e) == [WEST, EAST, ASIA]
    for _ in range(6):
        e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    assert urls(e) == [EAST, WEST, ASIA]


def test_a_drained_endpoint_is_not_listed() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    e.update(PROFILE, core_state.set_override(e.states[PROFILE], "westeurope", Override.DOWN))
    e.redecide()
    assert urls(e) == [EAST, ASIA]
    e.update(PROFILE, core_state.set_override(e.states[PROFILE], "eastus", Override.DOWN))
    e.redecide()
    assert urls(e) == [ASIA]


def test_keep_last_keeps_the_file_when_everything_is_down() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    for _ in range(3):
        e.round({"eastus": False, "westeurope": False, "southeastasia": False})
    order = mirror_order(e.spec.profiles[0], e.states[PROFILE])
    assert order is not None and order.keep_existing


def test_serve_all_lists_every_enabled_endpoint_when_everything_is_down() -> None:
    e = Engine(
        replace(
            spec(profile(when_all_down=WhenAllDown.SERVE_ALL)),
            isolation_guard=replace(spec().isolation_guard, enabled=False),
        )
    )
    e.round({"eastus": True, "westeurope": True})
    for _ in range(3):
        e.round({"eastus": False, "westeurope": False})
    order = mirror_order(e.spec.profiles[0], e.states[PROFILE])
    assert order is not None and not order.keep_existing
    assert [h.url for h in order.hosts] == [EAST, WEST]


def test_the_isolation_guard_keeps_the_file() -> None:
    p1 = profile()
    p2 = profile(name="other")
    e = Engine(spec(p1, p2))
    e.feed(
        [
            *_results(p1.name, {"eastus": True, "westeurope": True}, e.now),
            *_results(p2.name, {"eastus": True, "westeurope": True}, e.now),
        ]
    )
    out = None
    for _ in range(3):
        out = e.feed(
            [
                *_results(p1.name, {"eastus": False, "westeurope": False}, e.now),
                *_results(p2.name, {"eastus": False, "westeurope": False}, e.now),
            ]
        )
    assert out is not None and out.isolated
    order = mirror_order(p1, e.states[p1.name])
    assert order is not None and order.keep_existing


def _results(name: str, verdicts: dict[str, bool], now: float) -> list[ProbeResult]:
    return [result(ep, up, now, profile=name) for ep, up in verdicts.items()]


def test_host_urls_follow_the_monitor_scheme_and_port() -> None:
    ep = "eastus.lab.test"
    assert host_url(profile(monitor_spec=monitor(protocol=MonitorProtocol.HTTPS, port=443)), ep) == (
        "https://eastus.lab.test"
    )
    assert host_url(profile(monitor_spec=monitor(protocol=MonitorProtocol.HTTP, port=5000)), ep) == (
        "http://eastus.lab.test:5000"
    )
    plain = monitor(protocol=MonitorProtocol.REGISTRY, port=80, registry=RegistryProbeSpec("app", "1", True))
    assert host_url(profile(monitor_spec=plain), ep) == "http://eastus.lab.test"


def test_a_restored_choice_without_verdict_stays_first() -> None:
    e = three()
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    st = e.states[PROFILE]
    fresh = ProfileState(started_at=e.now, routing=st.routing)
    e.update(PROFILE, fresh)
    e.round({"westeurope": True, "southeastasia": True})
    assert urls(e) == [EAST, WEST, ASIA]


def test_performance_routing_lists_the_others_fastest_first() -> None:
    e = three(routing=Routing.PERFORMANCE)
    fast = {"eastus": 0.050, "westeurope": 0.030, "southeastasia": 0.010}
    e.round({"eastus": True, "westeurope": True, "southeastasia": True}, latency=fast)
    d = e.decision()
    assert d is not None
    first = d.endpoints[0]
    rest = [u for u in urls(e) or [] if first not in u]
    assert rest == [u for u in (ASIA, WEST, EAST) if first not in u]


def test_weighted_routing_lists_the_drawn_endpoint_first_then_the_others_by_priority() -> None:
    p = profile(
        endpoint("eastus", 1, weight=1),
        endpoint("westeurope", 2, weight=5),
        endpoint("southeastasia", 3, weight=3),
        routing=Routing.WEIGHTED,
    )
    e = Engine(spec(p))
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    d = e.decision()
    assert d is not None
    got = urls(e) or []
    assert got[0].startswith(f"https://myregistry.{d.endpoints[0]}.")
    assert got[1:] == [u for u in (EAST, WEST, ASIA) if u != got[0]]
