"""Endpoint orderings come from routing alone: the resolver's first answer and the mirror list follow them."""

from __future__ import annotations

from dnsctl.controller.serve import steered_answer
from dnsctl.core.health import EndpointHealth
from dnsctl.core.mirror import online
from dnsctl.core.model import EndpointStatus, Routing
from dnsctl.core.routing import by_latency, median_latency, ordered
from dnsctl.core.state import ProfileState
from tests.core.factories import T0, endpoint, online_since, profile


def test_routing_order_is_by_priority_and_a_view_preference_comes_first() -> None:
    p = profile(endpoint("westeurope", 2), endpoint("eastus", 1), endpoint("northeurope", 2))
    assert [ep.name for ep in ordered(p)] == ["eastus", "westeurope", "northeurope"]
    assert [ep.name for ep in ordered(p, ("northeurope",))] == ["northeurope", "eastus", "westeurope"]


def test_latency_order_puts_unknown_latency_last_and_breaks_ties_by_priority() -> None:
    p = profile(endpoint("westeurope", 2), endpoint("eastus", 1), endpoint("northeurope", 3))
    health = {"westeurope": online_since(T0, 0.010), "northeurope": online_since(T0, 0.010)}
    assert median_latency(health, "eastus") == float("inf")
    assert [ep.name for ep in by_latency(p.endpoints, health)] == ["westeurope", "northeurope", "eastus"]


def test_the_resolvers_answer_before_a_decision_follows_the_routing_order() -> None:
    p = profile(
        endpoint("westeurope", 2),
        endpoint("eastus", 1, status=EndpointStatus.DISABLED),
        endpoint("northeurope", 3),
    )
    for preference in ((), ("northeurope",), ("eastus", "westeurope")):
        first = next(ep for ep in ordered(p, preference) if ep.status is EndpointStatus.ENABLED)
        answer = steered_answer(p, None, preference, {})
        assert [t.target for t in answer.targets] == [first.target]


def test_the_mirror_list_of_performance_routing_is_routings_latency_order() -> None:
    p = profile(
        endpoint("eastus", 1),
        endpoint("westeurope", 2),
        endpoint("northeurope", 3),
        routing=Routing.PERFORMANCE,
    )
    health: dict[str, EndpointHealth] = {
        "eastus": online_since(T0, 0.030),
        "westeurope": online_since(T0, 0.010),
        "northeurope": online_since(T0, 0.010),
    }
    st = ProfileState(started_at=T0, endpoints=health)
    assert (
        online(p, st)
        == [ep.name for ep in by_latency(ordered(p), health)]
        == [
            "westeurope",
            "northeurope",
            "eastus",
        ]
    )
