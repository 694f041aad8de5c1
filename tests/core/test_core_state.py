"""`step` over rounds: transitions, decision changes, the isolation guard, operator actions, views."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from dnsctl.core.decision import DecisionKind
from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import EndpointStatus, Failback, IsolationGuardSpec, Override, ViewSpec, WhenAllDown
from dnsctl.core.results import CanaryResult, FailureReason
from dnsctl.core.state import (
    ISOLATION_REASON,
    ProfileState,
    Transition,
    is_isolated,
    probed,
    request_failback,
    set_override,
    step,
)

from .factories import T0, Engine, endpoint, fail, ok, profile, result, spec


def round_all_one(e: Engine, up: bool) -> None:
    e.round({"eastus": up, "westeurope": up})


CHECKING, ONLINE, DEGRADED = MonitorStatus.CHECKING, MonitorStatus.ONLINE, MonitorStatus.DEGRADED
UP = {"eastus": True, "westeurope": True}
EAST_DOWN = {"eastus": False, "westeurope": True}
ALL_FAIL = {"eastus": False, "westeurope": False}


def two_profiles() -> Engine:
    """Two profiles so that the isolation guard has every endpoint of every profile to look at."""
    return Engine(spec(profile(), profile(name="other")))


def round_all(e: Engine, verdicts: dict[str, bool]) -> None:
    """One round for both profiles at the same instant."""
    results = [
        result(ep, up, e.now, profile=p) for p in ("myregistry", "other") for ep, up in verdicts.items()
    ]
    e.feed(results)


def primary(e: Engine, profile: str = "myregistry", view: str | None = None) -> str | None:
    d = e.decision(profile, view)
    return d.primary if d is not None else None


def test_first_round_gives_verdicts_and_the_first_decision() -> None:
    e = Engine(spec())
    out = e.round(UP)
    assert {(t.endpoint, t.old, t.new) for t in out.transitions} == {
        ("eastus", CHECKING, ONLINE),
        ("westeurope", CHECKING, ONLINE),
    }
    assert not any(t.flap for t in out.transitions)
    assert len(out.changes) == 1
    change = out.changes[0]
    assert (change.profile, change.view, change.old) == ("myregistry", None, None)
    assert change.new.endpoints == ("eastus",)
    assert not change.failover


def test_nothing_is_decided_until_every_endpoint_has_a_verdict() -> None:
    e = Engine(spec())
    out = e.round({"eastus": True})
    assert e.decision() is None and out.changes == ()
    out = e.round({"westeurope": False})  # one failure of fall=3: still CheckingEndpoint
    assert e.decision() is None
    e.round({"westeurope": False})
    e.round({"westeurope": False})
    assert primary(e) == "eastus"


def test_a_failover_is_a_transition_and_a_decision_change_with_the_reason() -> None:
    e = Engine(spec())
    e.round(UP)
    for _ in range(2):
        out = e.round(EAST_DOWN)
        assert out.transitions == () and out.changes == ()
        assert primary(e) == "eastus"
    out = e.round(EAST_DOWN)
    assert out.transitions == (Transition("myregistry", "eastus", ONLINE, DEGRADED, True, "connect-timeout"),)
    (change,) = out.changes
    assert change.failover
    assert (
        change.new.reason
        == "eastus Degraded after 3 failures (connect-timeout); westeurope is next by priority"
    )
    assert e.health("eastus").flaps == 1


def test_auto_failback_after_failback_hold_of_continuous_online() -> None:
    e = Engine(spec(profile(failback_hold=60.0)))
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    assert primary(e) == "westeurope"
    e.round(UP)  # 1 of rise=2
    back_at = e.now
    e.round(UP)  # Online again
    assert e.health("eastus").status is ONLINE and e.health("eastus").since == back_at
    while e.now < back_at + 60:
        e.round(UP)
        assert primary(e) == "westeurope", f"failed back {e.now - 10 - back_at:.0f}s after recovery"
    out = e.round(UP)
    assert primary(e) == "eastus"
    assert out.changes[0].failover
    assert out.changes[0].new.reason.startswith("eastus Online for 60s (failback_hold 60s)")


def test_a_relapse_restarts_the_failback_hold() -> None:
    e = Engine(spec(profile(failback_hold=60.0)))
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    e.round(UP)
    e.round(UP)  # eastus Online again
    e.round(UP)
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)  # relapse before the hold ran out
    assert e.health("eastus").status is DEGRADED
    e.round(UP)
    second_back = e.now
    e.round(UP)
    while e.now < second_back + 60:
        e.round(UP)
        assert primary(e) == "westeurope"
    e.round(UP)
    assert primary(e) == "eastus"


def test_redecide_fails_back_when_the_hold_runs_out_between_rounds() -> None:
    e = Engine(spec(profile(failback_hold=60.0)))
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    e.round(UP)
    back_at = e.now
    e.round(UP, advance=30.0)
    assert primary(e) == "westeurope"
    e.now = back_at + 60
    out = e.redecide()
    assert primary(e) == "eastus"
    assert out.transitions == () and out.changes[0].failover


def test_manual_failback_waits_for_the_operator() -> None:
    e = Engine(spec(profile(failback=Failback.MANUAL)))
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    for _ in range(50):
        e.round(UP)
    assert primary(e) == "westeurope"
    e.update("myregistry", request_failback(e.states["myregistry"]))
    out = e.redecide()
    assert primary(e) == "eastus"
    assert out.changes[0].new.reason == "operator failback to eastus"
    assert not e.states["myregistry"].routing.failback_requested
    # Next time it fails over, it stays on westeurope again.
    for _ in range(3):
        e.round(EAST_DOWN)
    for _ in range(20):
        e.round(UP)
    assert primary(e) == "westeurope"


def test_operator_drain_and_undrain_at_run_time() -> None:
    e = Engine(spec())
    e.round(UP)
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", Override.DOWN))
    out = e.redecide()
    assert primary(e) == "westeurope"
    assert out.changes[0].new.reason == "eastus drained by operator; westeurope is next by priority"
    e.round(UP)
    assert primary(e) == "westeurope"  # probes do not undo a drain
    assert e.health("eastus").status is ONLINE  # ...and it is still probed
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", Override.OBEY))
    assert e.states["myregistry"].overrides == {}
    e.redecide()
    assert primary(e) == "westeurope"  # Online only since T0 + 0: failback_hold (60 s) still applies
    e.now = T0 + 60
    e.redecide()
    assert primary(e) == "eastus"


def test_operator_pin_up_at_run_time_routes_to_a_degraded_endpoint() -> None:
    e = Engine(spec())
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", Override.UP))
    e.redecide()
    assert primary(e) == "eastus"
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", None))
    e.redecide()
    assert primary(e) == "westeurope"


def test_configured_override_and_disabled_endpoints() -> None:
    e = Engine(spec(profile(endpoint("eastus", 1, override=Override.DOWN), endpoint("westeurope", 2))))
    e.round(UP)
    assert primary(e) == "westeurope"
    e2 = Engine(
        spec(profile(endpoint("eastus", 1, status=EndpointStatus.DISABLED), endpoint("westeurope", 2)))
    )
    assert probed(e2.spec.profiles[0]) == ["westeurope"]
    e2.round({"westeurope": True})
    assert primary(e2) == "westeurope"


# --- isolation guard --------------------------------------------------------------------------


def test_isolation_guard_freezes_every_decision_and_judges_nobody() -> None:
    e = two_profiles()
    round_all(e, UP)
    before = dict(e.states)
    for _ in range(10):  # far more than fall
        out_now = e.now
        round_all(e, ALL_FAIL)
        assert len(e.transitions) == 4  # only the first round's Checking -> Online
        for p in ("myregistry", "other"):
            d = e.decision(p)
            assert d is not None
            assert d.kind is DecisionKind.FROZEN
            assert d.reason == ISOLATION_REASON
            assert d.endpoints == ("eastus",)
            for ep in ("eastus", "westeurope"):
                h = e.health(ep, p)
                assert h.status is ONLINE and h.failures == 0
                assert h.last is not None and not h.last.ok and h.last.at == out_now
    assert len(e.changes) == 2  # only the two first decisions; a freeze is no change of answer
    assert {p: e.states[p].endpoints["eastus"].since for p in before} == {
        p: before[p].endpoints["eastus"].since for p in before
    }


def test_isolation_outcome_says_so_and_resumes_when_probes_recover() -> None:
    e = two_profiles()
    round_all(e, UP)
    out = step(
        e.spec, e.states, [fail(ep, e.now, profile=p) for p in ("myregistry", "other") for ep in UP], e.now
    )
    assert out.isolated and out.transitions == () and out.changes == ()
    e.states = out.states
    e.now += 10
    round_all(e, {"eastus": True, "westeurope": False})
    assert primary(e) == "eastus"
    d = e.decision()
    assert d is not None and d.kind is DecisionKind.ENDPOINT
    # Out of isolation, failures count again.
    for _ in range(3):
        round_all(e, {"eastus": False, "westeurope": True})
    assert primary(e) == "westeurope" and primary(e, "other") == "westeurope"


def test_isolation_needs_every_endpoint_of_every_profile() -> None:
    e = two_profiles()
    round_all(e, UP)
    for _ in range(3):
        results = [fail(ep, e.now, profile="myregistry") for ep in UP] + [
            ok("eastus", e.now, profile="other"),
            fail("westeurope", e.now, profile="other"),
        ]
        out = e.feed(results)
        assert not out.isolated
    d = e.decision("myregistry")
    assert d is not None and d.kind is DecisionKind.ALL_DOWN
    assert primary(e, "other") == "eastus"


def test_isolation_needs_every_failure_in_the_same_round() -> None:
    # "other" failed everywhere in an earlier round; that does not make this round's failures isolation.
    e = two_profiles()
    round_all(e, UP)
    e.round(ALL_FAIL, profile="other")
    out = e.round(ALL_FAIL, profile="myregistry")
    assert not out.isolated
    both = [fail(ep, e.now, profile=p) for p in ("myregistry", "other") for ep in UP]
    assert is_isolated(e.spec, both)
    assert not is_isolated(e.spec, [fail("eastus", e.now, profile="myregistry")])
    assert not is_isolated(e.spec, [*both[:-1], ok("westeurope", e.now, profile="other")])


@pytest.mark.parametrize(
    "reason",
    [
        FailureReason.HTTP_STATUS,
        FailureReason.REFUSED,
        FailureReason.RESET,
        FailureReason.TLS,
        FailureReason.TIMEOUT,
    ],
)
def test_answers_that_prove_the_path_never_trip_the_guard(reason: FailureReason) -> None:
    # A 503, a refusal, a reset, a TLS error, a connected-but-silent server: the endpoint is down, we are not.
    e = Engine(spec(profile(when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")))
    round_all_one(e, True)
    for _ in range(3):
        out = e.feed([fail(ep, e.now, reason=reason) for ep in UP])
        assert not out.isolated
    d = e.decision()
    assert d is not None and d.kind is DecisionKind.ALL_DOWN and d.fallback == "myregistry.azurecr.io"


@pytest.mark.parametrize(
    "reason",
    [FailureReason.CONNECT_TIMEOUT, FailureReason.UNREACHABLE, FailureReason.DNS, FailureReason.TLS_TIMEOUT],
)
def test_silence_from_every_endpoint_of_one_profile_is_isolation(reason: FailureReason) -> None:
    e = Engine(spec(profile(when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")))
    round_all_one(e, True)
    for _ in range(3):
        out = e.feed([fail(ep, e.now, reason=reason) for ep in UP])
        assert out.isolated
    d = e.decision()
    assert d is not None and d.kind is DecisionKind.FROZEN and d.endpoints == ("eastus",)


def test_a_canary_that_answers_lets_the_all_down_policy_apply() -> None:
    e = Engine(spec(profile(when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")))
    round_all_one(e, True)
    canary = [CanaryResult("168.63.129.16:53", True)]
    for _ in range(3):
        out = step(e.spec, e.states, [fail(ep, e.now) for ep in UP], e.now, canaries=canary)
        e.states = out.states
        e.now += 10
        assert not out.isolated
    d = e.decision()
    assert d is not None and d.fallback == "myregistry.azurecr.io"
    silent = [CanaryResult("168.63.129.16:53", False)]
    assert is_isolated(e.spec, [fail(ep, e.now) for ep in UP], silent)


def test_isolation_guard_disabled_lets_everything_go_down() -> None:
    e = Engine(spec(profile(), profile(name="other"), guard=IsolationGuardSpec(enabled=False)))
    round_all(e, UP)
    for _ in range(3):
        round_all(e, ALL_FAIL)
    for p in ("myregistry", "other"):
        d = e.decision(p)
        assert d is not None and d.kind is DecisionKind.ALL_DOWN
        assert e.health("eastus", p).status is DEGRADED


def test_isolation_guard_needs_min_endpoints() -> None:
    e = Engine(spec(profile(endpoint("eastus", 1)), guard=IsolationGuardSpec(min_endpoints=2)))
    e.round({"eastus": True})
    for _ in range(3):
        out = e.round({"eastus": False})
        assert not out.isolated
    assert e.health("eastus").status is DEGRADED


def test_isolation_ignores_disabled_endpoints() -> None:
    prof = profile(
        endpoint("eastus", 1),
        endpoint("westeurope", 2),
        endpoint("retired", 3, status=EndpointStatus.DISABLED),
    )
    e = Engine(spec(prof))
    e.round(UP)
    out = e.round(ALL_FAIL)
    assert out.isolated


def test_isolation_needs_a_result_for_every_endpoint() -> None:
    e = two_profiles()
    e.round(ALL_FAIL)  # "other" never probed yet: we cannot tell
    out = e.round(ALL_FAIL)
    assert not out.isolated


# --- views and partial rounds -----------------------------------------------------------------


def test_views_decide_in_their_own_order_and_report_their_changes() -> None:
    view = ViewSpec(
        "westeurope-vnet", (ip_network("10.2.0.0/16"),), (("myregistry", ("westeurope", "eastus")),)
    )
    e = Engine(spec(views=[view]))
    out = e.round(UP)
    assert primary(e) == "eastus"
    assert primary(e, view="westeurope-vnet") == "westeurope"
    assert {(c.view, c.new.primary) for c in out.changes} == {
        (None, "eastus"),
        ("westeurope-vnet", "westeurope"),
    }
    for _ in range(3):
        out = e.round({"eastus": True, "westeurope": False})
    assert primary(e, view="westeurope-vnet") == "eastus"
    assert [(c.view, c.failover) for c in out.changes] == [("westeurope-vnet", True)]


def test_a_view_without_a_preference_for_the_profile_has_no_state() -> None:
    view = ViewSpec("lab", (ip_network("10.9.0.0/16"),), (("elsewhere", ("x",)),))
    e = Engine(spec(views=[view]))
    e.round(UP)
    assert e.states["myregistry"].views == {}


def test_step_for_some_profiles_leaves_the_others_alone() -> None:
    e = two_profiles()
    round_all(e, UP)
    other_before = e.states["other"]
    out = step(
        e.spec,
        e.states,
        [fail("eastus", e.now, profile="myregistry")],
        e.now,
        profiles=["myregistry"],
    )
    assert out.states["other"] is other_before
    assert out.states["myregistry"].endpoints["eastus"].failures == 1


def test_step_starts_a_missing_profile_state_at_now() -> None:
    out = step(spec(), {}, [ok("eastus", T0), ok("westeurope", T0)], T0)
    st = out.states["myregistry"]
    assert isinstance(st, ProfileState) and st.started_at == T0
    assert st.decision is not None and st.decision.primary == "eastus"


def test_set_override_and_request_failback_are_pure() -> None:
    st = ProfileState(started_at=T0)
    drained = set_override(st, "eastus", Override.DOWN)
    assert st.overrides == {} and drained.overrides == {"eastus": Override.DOWN}
    assert set_override(drained, "eastus", Override.OBEY).overrides == {}
    asked = request_failback(st)
    assert asked.routing.failback_requested and not st.routing.failback_requested
