"""The stored health history: round trips, and a steady state that encodes the same every run."""

from __future__ import annotations

import pytest

from dnsctl.core import codec
from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.model import EndpointSpec, MonitorSpec, Override, ProfileSpec
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
    back = codec.decode(PROFILE, codec.encode(PROFILE, state(successes=1, a_failures=2))).state
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


@pytest.mark.parametrize("last_answer", [True, False])
def test_a_keep_last_decision_keeps_whether_its_endpoints_are_our_last_answer(last_answer: bool) -> None:
    kept = Decision(DecisionKind.ALL_DOWN, ("a",), "why", 1010.0, keep_current=True, last_answer=last_answer)
    st = state()
    st = ProfileState(st.started_at, st.endpoints, RoutingState(kept), st.overrides)
    back = codec.decode(PROFILE, codec.encode(PROFILE, st)).state.decision
    assert back is not None and (back.keep_current, back.last_answer) == (True, last_answer)


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
    decoded = codec.decode(smaller, text)
    back = decoded.state
    assert set(back.endpoints) == {"b"} and back.decision is None
    assert "endpoint 'a'" in decoded.dropped and "endpoint 'a' of the decision" in decoded.dropped


def test_a_fallback_target_the_configuration_lacks_is_never_restored() -> None:
    stored = '{"v":1,"st":1000,"e":{},"d":{"k":"all-down","e":[],"fb":"evil.example","t":1000}}'
    decoded = codec.decode(PROFILE, stored)
    assert decoded.state.decision is None
    assert any("evil.example" in d for d in decoded.dropped)
    with_fallback = ProfileSpec(
        name="p", fqdn="p.example.com", endpoints=PROFILE.endpoints, fallback="p.global.example.com"
    )
    assert codec.decode(with_fallback, stored).state.decision is None
    good = stored.replace("evil.example", "p.global.example.com")
    d = codec.decode(with_fallback, good).state.decision
    assert d is not None and d.fallback == "p.global.example.com"


def test_overrides_of_unknown_endpoints_are_dropped_and_said() -> None:
    decoded = codec.decode(PROFILE, '{"v":1,"st":1000,"o":{"zz":"down","b":"down"}}')
    assert decoded.state.overrides == {"b": Override.DOWN}
    assert decoded.dropped == ("the override of endpoint 'zz'",)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"v": 99}',
        '{"v": 1, "e": {"a": {"s": "?"}}}',
        '{"v": 1, "st": 1, "e": {"a": {"s": ["O"]}}}',
        '{"v": 1, "st": 1, "e": {"a": {"s": "O", "ko": -1}}}',
        '{"v": 1, "st": 1, "e": {"a": {"s": "O", "t": "yesterday"}}}',
        '{"v": 1, "st": Infinity}',
        '{"v": 1, "st": 1, "e": []}',
        '{"v": 1, "st": 1, "d": {"k": "teleport", "e": ["a"], "t": 1}}',
        '{"v": 1, "st": 1, "d": {"k": "endpoint", "e": [["a"]], "t": 1}}',
        '{"v": 1, "st": 1, "o": {"a": "sideways"}}',
        "[" * 100_000,
    ],
)
def test_unreadable_state_raises_a_decode_error(text: str) -> None:
    with pytest.raises(codec.StateDecodeError):
        codec.decode(PROFILE, text)
