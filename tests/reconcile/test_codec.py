"""The stored health history: round trips, and a steady state that encodes the same every run."""

from __future__ import annotations

import pytest

from dnsctl.core import codec
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.model import EndpointSpec, MonitorSpec, Override, ProfileSpec
from dnsctl.core.routing import Decision, DecisionKind, RoutingState
from dnsctl.core.state import ProfileState

PROFILE = ProfileSpec(
    name="p",
    fqdn="p.example.com",
    endpoints=(EndpointSpec("a", "a.example.com", 1), EndpointSpec("b", "b.example.com", 2)),
    monitor=MonitorSpec(fall=3, rise=2),
)


def state(successes: int = 5, failures: int = 0, a_failures: int = 0) -> ProfileState:
    return ProfileState(
        started_at=1000.0,
        endpoints={
            "a": EndpointHealth(
                MonitorStatus.ONLINE,
                successes=0 if a_failures else 9,
                failures=a_failures,
                since=1010.0,
                flaps=2,
                flap_times=(1005.0,),
            ),
            "b": EndpointHealth(
                MonitorStatus.DEGRADED,
                successes=successes,
                failures=0 if successes else 7,
                since=1020.0,
                hold_until=1300.0,
            ),
        },
        routing=RoutingState(Decision(DecisionKind.ENDPOINT, ("a",), "why", 1010.0), failback_requested=True),
        overrides={"b": Override.DOWN},
    )


def test_round_trip_keeps_what_hysteresis_needs() -> None:
    back = codec.decode(PROFILE, codec.encode(PROFILE, state(successes=1, a_failures=2)))
    a, b = back.endpoints["a"], back.endpoints["b"]
    assert (a.status, a.failures, a.flaps, a.flap_times, a.since) == (
        MonitorStatus.ONLINE,
        2,
        2,
        (1005.0,),
        1010.0,
    )
    assert (b.status, b.successes, b.hold_until) == (MonitorStatus.DEGRADED, 1, 1300.0)
    assert back.decision is not None and back.decision.endpoints == ("a",) and back.decision.since == 1010.0
    assert back.routing.failback_requested and back.overrides == {"b": Override.DOWN}
    assert back.started_at == 1000.0


def test_a_steady_state_encodes_identically_run_after_run() -> None:
    # Counts that lead to no transition (successes while Online, failures while Degraded, counts
    # past the threshold) change nothing that matters.
    assert codec.encode(PROFILE, state(successes=2)) == codec.encode(PROFILE, state(successes=40))
    assert codec.encode(PROFILE, state(a_failures=3)) == codec.encode(PROFILE, state(a_failures=90))
    assert codec.encode(PROFILE, state(successes=1)) != codec.encode(PROFILE, state(successes=2))
    assert codec.encode(PROFILE, state(a_failures=1)) != codec.encode(PROFILE, state(a_failures=2))


def test_endpoints_removed_from_the_config_are_dropped() -> None:
    text = codec.encode(PROFILE, state())
    smaller = ProfileSpec(name="p", fqdn="p.example.com", endpoints=(EndpointSpec("b", "b.example.com", 2),))
    back = codec.decode(smaller, text)
    assert set(back.endpoints) == {"b"} and back.decision is None


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"v": 99}', '{"v": 1, "e": {"a": {"s": "?"}}}'])
def test_unreadable_state_raises_a_decode_error(text: str) -> None:
    with pytest.raises(codec.StateDecodeError):
        codec.decode(PROFILE, text)
