"""`decide`: priority, failback, weighted, performance, all-down, startup grace, views, freeze."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest

from dnsctl.core.decision import Decision, DecisionKind, DecisionTarget, RoutingState, decision_targets
from dnsctl.core.health import EndpointHealth, MonitorStatus, observe
from dnsctl.core.model import EndpointStatus, Failback, Override, ProfileSpec, Routing, WhenAllDown
from dnsctl.core.results import FailureReason
from dnsctl.core.routing import Move, classify_move, decide, freeze

from .factories import T0, degraded, endpoint, monitor, ok, online_since, profile

LONG_AGO = T0 - 10_000.0


def run(
    prof: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    prev: RoutingState | None = None,
    now: float = T0,
    *,
    started_at: float = LONG_AGO,
    overrides: Mapping[str, Override] | None = None,
    preference: Sequence[str] | None = None,
) -> RoutingState:
    return decide(
        prof,
        health,
        prev or RoutingState(),
        now,
        started_at=started_at,
        overrides=overrides,
        preference=preference,
    )


def on(*names: str) -> RoutingState:
    return RoutingState(decision=Decision(DecisionKind.ENDPOINT, names, "earlier", LONG_AGO))


def up(since: float = LONG_AGO, latency: float = 0.020) -> EndpointHealth:
    return online_since(since, latency)


def chosen(state: RoutingState) -> tuple[str, ...]:
    assert state.decision is not None
    return state.decision.endpoints


# --- priority ---------------------------------------------------------------------------------


def test_priority_picks_the_lowest_priority_number_not_the_list_order() -> None:
    prof = profile(endpoint("westeurope", 2), endpoint("eastus", 1), endpoint("southeastasia", 3))
    st = run(prof, {"eastus": up(), "westeurope": up(), "southeastasia": up()})
    assert st.decision is not None
    assert st.decision.kind is DecisionKind.ENDPOINT
    assert st.decision.endpoints == ("eastus",)
    assert st.decision.reason == "eastus is Online and first by priority"
    assert st.decision.since == T0


@pytest.mark.parametrize(
    ("down", "expected"),
    [
        ((), "a"),
        (("a",), "b"),
        (("a", "b"), "c"),
        (("b",), "a"),
        (("a", "c"), "b"),
    ],
)
def test_priority_order_over_three(down: tuple[str, ...], expected: str) -> None:
    prof = profile(endpoint("a", 1), endpoint("b", 2), endpoint("c", 3))
    health = {n: (degraded() if n in down else up()) for n in "abc"}
    assert chosen(run(prof, health)) == (expected,)


def test_failover_reason_names_the_failed_endpoint_its_failures_and_the_next_one() -> None:
    st = run(profile(), {"eastus": degraded(3), "westeurope": up()}, on("eastus"))
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    assert st.decision.reason == (
        "eastus Degraded after 3 failures (connect-timeout); westeurope is next by priority"
    )
    assert st.decision.since == T0


def test_failover_reason_for_http_status() -> None:
    h = degraded(2, FailureReason.HTTP_STATUS)
    assert h.last is not None
    h = replace(h, last=replace(h.last, status_code=503))
    st = run(profile(), {"eastus": h, "westeurope": up()}, on("eastus"))
    assert st.decision is not None
    assert (
        st.decision.reason
        == "eastus Degraded after 2 failures (http-status 503); westeurope is next by priority"
    )


def test_failover_reason_for_a_drained_or_disabled_endpoint() -> None:
    drained = run(
        profile(), {"eastus": up(), "westeurope": up()}, on("eastus"), overrides={"eastus": Override.DOWN}
    )
    assert drained.decision is not None
    assert drained.decision.reason == "eastus drained by operator; westeurope is next by priority"
    prof = profile(endpoint("eastus", 1, status=EndpointStatus.DISABLED), endpoint("westeurope", 2))
    disabled = run(prof, {"eastus": up(), "westeurope": up()}, on("eastus"))
    assert disabled.decision is not None
    assert disabled.decision.endpoints == ("westeurope",)
    assert disabled.decision.reason == "eastus Disabled; westeurope is next by priority"


def test_configured_override_up_routes_to_a_degraded_endpoint() -> None:
    prof = profile(endpoint("eastus", 1, override=Override.UP), endpoint("westeurope", 2))
    assert chosen(run(prof, {"eastus": degraded(), "westeurope": up()})) == ("eastus",)


def test_staying_put_keeps_the_decision_since() -> None:
    first = run(profile(), {"eastus": up(), "westeurope": up()})
    again = run(profile(), {"eastus": up(), "westeurope": up()}, first, now=T0 + 500)
    assert again.decision == first.decision


# --- failback ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("online_for", "fails_back"),
    [(0.0, False), (30.0, False), (59.9, False), (60.0, True), (600.0, True)],
)
def test_auto_failback_only_after_failback_hold_of_online(online_for: float, fails_back: bool) -> None:
    prof = profile(failback_hold=60.0)
    health = {"eastus": up(since=T0 - online_for), "westeurope": up()}
    st = run(prof, health, on("westeurope"))
    assert st.decision is not None
    if fails_back:
        assert st.decision.endpoints == ("eastus",)
        assert st.decision.reason == (
            f"eastus Online for {online_for:.0f}s (failback_hold 60s); failing back from westeurope"
        )
    else:
        assert st.decision.endpoints == ("westeurope",)
        assert "eastus is Online again; failback to it in" in st.decision.reason
        assert st.decision.reason.endswith("staying on westeurope")
        assert st.decision.since == LONG_AGO  # nothing changed


def test_auto_failback_is_immediate_to_an_endpoint_pinned_up() -> None:
    health = {"eastus": degraded(), "westeurope": up()}
    st = run(profile(), health, on("westeurope"), overrides={"eastus": Override.UP})
    assert chosen(st) == ("eastus",)


@pytest.mark.parametrize("online_for", [0.0, 3600.0, 1e6])
def test_manual_failback_stays_until_requested(online_for: float) -> None:
    prof = profile(failback=Failback.MANUAL)
    health = {"eastus": up(since=T0 - online_for), "westeurope": up()}
    st = run(prof, health, on("westeurope"))
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    assert st.decision.reason == "eastus is Online again; failback is manual, staying on westeurope"
    requested = run(prof, health, replace(st, failback_requested=True), now=T0 + 1)
    assert requested.decision is not None
    assert requested.decision.endpoints == ("eastus",)
    assert requested.decision.reason == "operator failback to eastus"
    assert requested.failback_requested is False


def test_manual_failback_still_fails_over_by_itself() -> None:
    prof = profile(failback=Failback.MANUAL)
    st = run(prof, {"eastus": degraded(), "westeurope": up()}, on("eastus"))
    assert chosen(st) == ("westeurope",)


def test_a_request_with_nothing_to_fail_back_to_waits_for_the_better_endpoint() -> None:
    prof = profile(failback=Failback.MANUAL)
    waiting = run(
        prof, {"eastus": degraded(), "westeurope": up()}, replace(on("westeurope"), failback_requested=True)
    )
    assert chosen(waiting) == ("westeurope",)
    assert waiting.failback_requested
    back = run(prof, {"eastus": up(), "westeurope": up()}, waiting, now=T0 + 10)
    assert chosen(back) == ("eastus",)


def test_a_stale_failback_request_is_dropped_when_the_decision_switches() -> None:
    # Requested while already on the best endpoint; then everything went down and westeurope came
    # back first. eastus's later recovery must not fail back without a new request.
    prof = profile(failback=Failback.MANUAL)
    st = replace(on("eastus"), failback_requested=True)
    st = run(prof, {"eastus": up(), "westeurope": up()}, st)
    st = run(prof, {"eastus": degraded(), "westeurope": degraded()}, st, now=T0 + 10)
    assert st.decision is not None and st.decision.kind is DecisionKind.ALL_DOWN
    st = run(prof, {"eastus": degraded(), "westeurope": up(since=T0 + 20)}, st, now=T0 + 20)
    assert chosen(st) == ("westeurope",)
    st = run(prof, {"eastus": up(since=T0 + 30), "westeurope": up()}, st, now=T0 + 30)
    assert chosen(st) == ("westeurope",)


# --- weighted ---------------------------------------------------------------------------------


def weighted(seed: int = 0, weights: tuple[int, int] = (3, 1)) -> ProfileSpec:
    return profile(
        endpoint("eastus", 1, weight=weights[0]),
        endpoint("westeurope", 2, weight=weights[1]),
        routing=Routing.WEIGHTED,
        weight_seed=seed,
    )


BOTH_UP = {"eastus": up(), "westeurope": up()}


def test_weighted_is_deterministic_for_a_seed() -> None:
    for seed in range(20):
        a = run(weighted(seed), BOTH_UP)
        b = run(weighted(seed), BOTH_UP, now=T0 + 99)
        assert chosen(a) == chosen(b)


def test_weighted_lists_every_online_endpoint_with_the_draw_first() -> None:
    st = run(weighted(), BOTH_UP)
    assert st.decision is not None
    assert sorted(st.decision.endpoints) == ["eastus", "westeurope"]
    primary = st.decision.endpoints[0]
    assert st.decision.reason == f"weighted over Online endpoints (eastus=3, westeurope=1); drew {primary}"


def test_weighted_draw_respects_the_weights_over_many_seeds() -> None:
    draws = [chosen(run(weighted(seed, (3, 1)), BOTH_UP))[0] for seed in range(4000)]
    share = draws.count("eastus") / len(draws)
    assert 0.70 <= share <= 0.80
    even = [chosen(run(weighted(seed, (1, 1)), BOTH_UP))[0] for seed in range(4000)]
    assert 0.45 <= even.count("eastus") / len(even) <= 0.55


def test_weighted_never_draws_a_zero_weight_endpoint_while_another_has_weight() -> None:
    for seed in range(200):
        assert chosen(run(weighted(seed, (0, 5)), BOTH_UP))[0] == "westeurope"


def test_weighted_keeps_its_draw_while_the_online_set_is_unchanged() -> None:
    first = run(weighted(7), BOTH_UP)
    assert run(weighted(7), BOTH_UP, first, now=T0 + 100) is first


def test_weighted_drops_a_degraded_endpoint_and_redraws_when_it_returns() -> None:
    first = run(weighted(1), BOTH_UP)
    down = run(weighted(1), {"eastus": degraded(), "westeurope": up()}, first, now=T0 + 10)
    assert chosen(down) == ("westeurope",)
    back = run(weighted(1), BOTH_UP, down, now=T0 + 20)
    assert sorted(chosen(back)) == ["eastus", "westeurope"]
    assert chosen(back) == chosen(first)  # same seed, same set, same draw


# --- performance ------------------------------------------------------------------------------


def perf(margin: float = 0.2, rise: int = 2) -> ProfileSpec:
    prof = profile(routing=Routing.PERFORMANCE, performance_margin=margin)
    return replace(prof, monitor=replace(prof.monitor, rise=rise))


def lat(eastus: float, westeurope: float) -> dict[str, EndpointHealth]:
    return {"eastus": up(latency=eastus), "westeurope": up(latency=westeurope)}


def test_performance_picks_the_lowest_median_latency() -> None:
    st = run(perf(), lat(0.080, 0.020))
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    assert st.decision.reason == "westeurope has the lowest median latency"


def test_performance_breaks_ties_by_priority() -> None:
    assert chosen(run(perf(), lat(0.030, 0.030))) == ("eastus",)


def test_performance_median_ignores_one_slow_outlier() -> None:
    h = EndpointHealth()
    for i, latency in enumerate([0.010, 0.500, 0.010]):
        h = observe(h, ok("westeurope", T0 + i, latency), monitor(), T0 + i)
    health = {"eastus": up(latency=0.020), "westeurope": h}
    assert chosen(run(perf(), health)) == ("westeurope",)


@pytest.mark.parametrize(
    ("challenger_latency", "switches"),
    [(0.100, False), (0.085, False), (0.081, False), (0.079, True), (0.010, True)],
)
def test_performance_switches_only_when_better_by_the_margin(
    challenger_latency: float, switches: bool
) -> None:
    prof = perf(margin=0.2, rise=2)
    health = lat(0.100, challenger_latency)
    st = on("eastus")
    for _ in range(5):
        st = run(prof, health, st)
    assert chosen(st) == (("westeurope",) if switches else ("eastus",))


@pytest.mark.parametrize("rise", [1, 2, 3, 5])
def test_performance_switches_after_rise_rounds(rise: int) -> None:
    prof = perf(margin=0.2, rise=rise)
    health = lat(0.100, 0.050)
    st = on("eastus")
    for r in range(1, rise):
        st = run(prof, health, st, now=T0 + r)
        assert chosen(st) == ("eastus",), f"switched after {r} of {rise} rounds"
        assert (st.challenger, st.challenger_rounds) == ("westeurope", r)
    st = run(prof, health, st, now=T0 + rise)
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    assert st.decision.reason == f"westeurope faster than eastus (50 ms vs 100 ms) for {rise} rounds"
    assert (st.challenger, st.challenger_rounds) == (None, 0)


def test_performance_challenger_resets_when_its_lead_vanishes() -> None:
    prof = perf(margin=0.2, rise=3)
    st = run(prof, lat(0.100, 0.050), on("eastus"))
    st = run(prof, lat(0.100, 0.050), st)
    assert st.challenger_rounds == 2
    st = run(prof, lat(0.100, 0.095), st)
    assert (st.challenger, st.challenger_rounds) == (None, 0)
    st = run(prof, lat(0.100, 0.050), st)
    st = run(prof, lat(0.100, 0.050), st)
    assert chosen(st) == ("eastus",)
    st = run(prof, lat(0.100, 0.050), st)
    assert chosen(st) == ("westeurope",)


def test_performance_leaves_a_degraded_endpoint_at_once() -> None:
    st = run(perf(rise=5), {"eastus": degraded(), "westeurope": up(latency=0.5)}, on("eastus"))
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    assert st.decision.reason.startswith("eastus Degraded after 3 failures")


# --- all down ---------------------------------------------------------------------------------

ALL_DOWN = {"eastus": degraded(), "westeurope": degraded()}


def test_keep_last_keeps_the_current_answer() -> None:
    st = run(profile(), ALL_DOWN, on("westeurope"))
    d = st.decision
    assert d is not None
    assert d.kind is DecisionKind.ALL_DOWN
    assert d.endpoints == ("westeurope",)
    assert d.keep_current
    assert d.fallback is None
    assert d.reason.startswith("no endpoint Online (eastus Degraded after 3 failures")
    assert "westeurope Degraded after 3 failures" in d.reason
    assert d.reason.endswith("keeping the last answer")


def test_keep_last_says_its_endpoints_are_our_last_answer_and_keeps_saying_it() -> None:
    st = run(profile(), ALL_DOWN, on("westeurope"))
    assert st.decision is not None and st.decision.last_answer
    again = run(profile(), ALL_DOWN, st)  # keep-last after keep-last: still our answer
    assert again.decision is not None and again.decision.last_answer
    assert again.decision.endpoints == ("westeurope",)


def test_keep_last_after_a_guess_is_still_a_guess() -> None:
    guess = run(profile(), ALL_DOWN)  # no previous answer: the first endpoint is named, not ours
    assert guess.decision is not None and not guess.decision.last_answer
    again = run(profile(), ALL_DOWN, guess)
    assert again.decision is not None and not again.decision.last_answer


def test_keep_last_without_any_previous_answer_keeps_the_record_and_names_the_first() -> None:
    st = run(profile(), ALL_DOWN)
    assert st.decision is not None
    assert st.decision.keep_current
    assert st.decision.endpoints == ("eastus",)
    # There is no last answer of ours to keep: the reason must not claim one.
    assert "last answer" not in st.decision.reason
    assert st.decision.reason.endswith("keeping what is published (else eastus)")


def test_keep_last_keeps_a_previous_fallback() -> None:
    prev = RoutingState(
        decision=Decision(DecisionKind.ALL_DOWN, (), "fb", LONG_AGO, fallback="global.example")
    )
    st = run(profile(), ALL_DOWN, prev)
    assert st.decision is not None
    assert (st.decision.endpoints, st.decision.fallback, st.decision.keep_current) == (
        (),
        "global.example",
        True,
    )


def test_serve_all_serves_every_enabled_endpoint() -> None:
    prof = profile(
        endpoint("a", 1),
        endpoint("b", 2, status=EndpointStatus.DISABLED),
        endpoint("c", 3),
        when_all_down=WhenAllDown.SERVE_ALL,
    )
    st = run(prof, {"a": degraded(), "b": up(), "c": degraded()}, on("a"))
    d = st.decision
    assert d is not None
    assert (d.kind, d.endpoints, d.keep_current) == (DecisionKind.ALL_DOWN, ("a", "c"), False)
    assert d.reason.endswith("serving all")
    assert "b Disabled" in d.reason


def test_serve_first_serves_the_first_enabled_by_priority() -> None:
    prof = profile(
        endpoint("c", 3),
        endpoint("a", 1, status=EndpointStatus.DISABLED),
        endpoint("b", 2),
        when_all_down=WhenAllDown.SERVE_FIRST,
    )
    st = run(prof, {"a": degraded(), "b": degraded(), "c": degraded()}, on("c"))
    d = st.decision
    assert d is not None
    assert (d.kind, d.endpoints, d.keep_current) == (DecisionKind.ALL_DOWN, ("b",), False)
    assert d.reason.endswith("serving b")


def test_fallback_points_at_the_fallback_target() -> None:
    prof = profile(when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")
    st = run(prof, ALL_DOWN, on("eastus"))
    d = st.decision
    assert d is not None
    assert (d.kind, d.endpoints, d.fallback, d.keep_current) == (
        DecisionKind.ALL_DOWN,
        (),
        "myregistry.azurecr.io",
        False,
    )
    assert d.reason.endswith("fallback to myregistry.azurecr.io")
    assert decision_targets(prof, d) == (DecisionTarget(None, "myregistry.azurecr.io", ()),)


def test_all_down_keeps_its_since_while_it_lasts_and_recovery_routes_again() -> None:
    first = run(profile(), ALL_DOWN, on("eastus"), now=T0)
    later = run(profile(), ALL_DOWN, first, now=T0 + 300)
    assert later.decision is not None and later.decision.since == T0
    back = run(profile(), {"eastus": degraded(), "westeurope": up()}, later, now=T0 + 310)
    assert back.decision is not None
    assert back.decision.kind is DecisionKind.ENDPOINT
    assert back.decision.endpoints == ("westeurope",)
    assert back.decision.since == T0 + 310


@pytest.mark.parametrize("policy", list(WhenAllDown))
def test_no_policy_ever_yields_an_empty_decision(policy: WhenAllDown) -> None:
    prof = profile(
        when_all_down=policy, fallback="global.example" if policy is WhenAllDown.FALLBACK else None
    )
    for prev in (RoutingState(), on("eastus")):
        d = run(prof, ALL_DOWN, prev).decision
        assert d is not None
        assert d.endpoints or d.fallback


def test_an_endpoint_removed_from_the_config_is_not_a_crash() -> None:
    # A decision restored from an older config may name an endpoint that no longer exists.
    st = run(profile(), {"eastus": up(), "westeurope": up()}, on("retired"))
    assert chosen(st) == ("eastus",)
    assert st.decision is not None and "retired" in st.decision.reason
    perf_st = run(perf(), lat(0.1, 0.02), on("retired"))
    assert chosen(perf_st) == ("westeurope",)
    down = run(profile(), ALL_DOWN, on("retired"))
    assert down.decision is not None
    decision_targets(profile(), down.decision)  # every name it holds is configured


# --- startup grace ----------------------------------------------------------------------------


def test_no_decision_while_an_endpoint_is_checking_within_the_grace() -> None:
    prof = profile(startup_grace=60.0)
    for health in ({}, {"eastus": up()}, {"westeurope": up()}, {"eastus": degraded()}):
        st = run(prof, health, now=T0 + 59, started_at=T0)
        assert st.decision is None


def test_a_decision_as_soon_as_every_enabled_endpoint_has_a_verdict() -> None:
    prof = profile(startup_grace=60.0)
    st = run(prof, {"eastus": degraded(), "westeurope": up()}, now=T0 + 1, started_at=T0)
    assert chosen(st) == ("westeurope",)


def test_a_disabled_endpoint_does_not_hold_the_start() -> None:
    prof = profile(endpoint("eastus", 1, status=EndpointStatus.DISABLED), endpoint("westeurope", 2))
    st = run(prof, {"westeurope": up()}, now=T0 + 1, started_at=T0)
    assert chosen(st) == ("westeurope",)


def test_after_the_grace_the_online_ones_are_used() -> None:
    prof = profile(startup_grace=60.0)
    st = run(prof, {"westeurope": up()}, now=T0 + 60, started_at=T0)
    assert chosen(st) == ("westeurope",)


def test_after_the_grace_with_nothing_known_the_current_record_is_kept() -> None:
    st = run(profile(startup_grace=60.0), {}, now=T0 + 60, started_at=T0)
    d = st.decision
    assert d is not None
    assert d.kind is DecisionKind.ALL_DOWN and d.keep_current


def test_a_restored_decision_stands_while_its_endpoint_has_no_verdict() -> None:
    # A restart must not wait, nor flip DNS on ignorance: no verdict on eastus, no reason to leave it.
    prev = on("eastus")
    st = run(profile(startup_grace=60.0), {"westeurope": up()}, prev, now=T0 + 1, started_at=T0)
    assert st.decision is not None
    assert st.decision.endpoints == ("eastus",)
    assert "eastus has no verdict yet" in st.decision.reason
    moved = run(
        profile(startup_grace=60.0),
        {"eastus": degraded(), "westeurope": up()},
        prev,
        now=T0 + 1,
        started_at=T0,
    )
    assert chosen(moved) == ("westeurope",)


@pytest.mark.parametrize("policy", [WhenAllDown.SERVE_FIRST, WhenAllDown.SERVE_ALL, WhenAllDown.FALLBACK])
def test_after_the_grace_with_no_verdicts_every_policy_keeps_the_record(policy: WhenAllDown) -> None:
    prof = profile(
        startup_grace=60.0,
        when_all_down=policy,
        fallback="global.example" if policy is WhenAllDown.FALLBACK else None,
    )
    d = run(prof, {}, now=T0 + 60, started_at=T0).decision
    assert d is not None and d.keep_current and d.fallback is None


# --- views ------------------------------------------------------------------------------------


def test_view_preference_orders_before_priority() -> None:
    health = {"eastus": up(), "westeurope": up()}
    st = run(profile(), health, preference=["westeurope", "eastus"])
    assert st.decision is not None
    assert st.decision.endpoints == ("westeurope",)
    # The view's order decided, not the priority (eastus has priority 1).
    assert st.decision.reason == "westeurope is Online and first in the view's order"


def test_a_view_failover_names_the_views_order_not_priority() -> None:
    health = {"eastus": up(), "westeurope": degraded()}
    st = run(profile(), health, on("westeurope"), preference=["westeurope", "eastus"])
    assert st.decision is not None and st.decision.endpoints == ("eastus",)
    assert st.decision.reason.endswith("; eastus is next in the view's order")
    assert "priority" not in st.decision.reason
    prof = profile(endpoint("a", 1), endpoint("b", 2), endpoint("c", 3))
    st = run(prof, {"a": up(), "b": up(), "c": degraded()}, preference=["c", "b"])
    assert st.decision is not None
    assert st.decision.reason.endswith("; b is the first Online in the view's order")


def test_view_falls_over_in_its_own_order() -> None:
    prof = profile(endpoint("a", 1), endpoint("b", 2), endpoint("c", 3))
    pref = ["c", "b"]
    assert chosen(run(prof, {n: up() for n in "abc"}, preference=pref)) == ("c",)
    assert chosen(run(prof, {"a": up(), "b": up(), "c": degraded()}, preference=pref)) == ("b",)
    # Endpoints the view does not name follow by priority.
    assert chosen(run(prof, {"a": up(), "b": degraded(), "c": degraded()}, preference=pref)) == ("a",)
    assert chosen(run(prof, {n: up() for n in "abc"}, preference=["b"])) == ("b",)


# --- freeze and targets -----------------------------------------------------------------------


def test_freeze_holds_the_last_decision_with_the_guards_reason() -> None:
    prev = on("eastus")
    frozen = freeze(prev, "guard")
    assert frozen.decision is not None
    assert frozen.decision.kind is DecisionKind.FROZEN
    assert frozen.decision.reason == "guard"
    assert frozen.decision.same_outcome(prev.decision)
    assert freeze(RoutingState(), "guard") == RoutingState()


def test_decision_after_a_freeze_is_an_endpoint_decision_again() -> None:
    frozen = freeze(on("eastus"), "guard")
    st = run(profile(), {"eastus": up(), "westeurope": up()}, frozen)
    assert st.decision is not None
    assert st.decision.kind is DecisionKind.ENDPOINT
    assert st.decision.endpoints == ("eastus",)


def test_decision_targets_render_targets_addresses_and_weights() -> None:
    prof = profile(
        endpoint("eastus", 1, addresses=("10.1.0.5",), weight=3),
        endpoint("westeurope", 2, addresses=("10.2.0.5", "10.2.0.6")),
    )
    d = Decision(DecisionKind.ENDPOINT, ("westeurope", "eastus"), "r", T0)
    assert decision_targets(prof, d) == (
        DecisionTarget("westeurope", "myregistry.westeurope.geo.azurecr.io", ("10.2.0.5", "10.2.0.6"), 1),
        DecisionTarget("eastus", "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",), 3),
    )


def test_decide_does_not_touch_its_inputs() -> None:
    health = {"eastus": degraded(), "westeurope": up()}
    snapshot = dict(health)
    prev = on("eastus")
    run(profile(), health, prev)
    assert health == snapshot and prev == on("eastus")
    assert health["eastus"].status is MonitorStatus.DEGRADED


# --- failover or failback -------------------------------------------------------------------------


def _on(*names: str, fallback: str | None = None) -> Decision:
    return Decision(DecisionKind.ENDPOINT, names, "r", T0, fallback=fallback)


@pytest.mark.parametrize(
    ("health", "overrides", "old", "new", "move"),
    [
        # The first decision is neither.
        ({"eastus": up(), "westeurope": up()}, {}, None, _on("eastus"), None),
        # Away from an endpoint that went Degraded, was drained, or left the config: a failover.
        ({"eastus": degraded(), "westeurope": up()}, {}, _on("eastus"), _on("westeurope"), Move.FAILOVER),
        (
            {"eastus": up(), "westeurope": up()},
            {"eastus": Override.DOWN},
            _on("eastus"),
            _on("westeurope"),
            Move.FAILOVER,
        ),
        ({"westeurope": up()}, {}, _on("gone"), _on("westeurope"), Move.FAILOVER),
        ({"eastus": degraded()}, {}, _on("eastus"), _on(fallback="fb.example"), Move.FAILOVER),
        # Back to the better endpoint while the current one is still Online: a failback.
        ({"eastus": up(), "westeurope": up()}, {}, _on("westeurope"), _on("eastus"), Move.FAILBACK),
        ({"eastus": up()}, {}, _on(fallback="fb.example"), _on("eastus"), Move.FAILBACK),
        # To a worse endpoint while the current one is fine (performance, weighted): neither.
        ({"eastus": up(), "westeurope": up()}, {}, _on("eastus"), _on("westeurope"), None),
        # The same endpoint (keep-last when all are down): neither.
        ({"eastus": degraded()}, {}, _on("eastus"), _on("eastus"), None),
    ],
)
def test_a_move_is_a_failover_a_failback_or_neither(
    health: Mapping[str, EndpointHealth],
    overrides: Mapping[str, Override],
    old: Decision | None,
    new: Decision,
    move: Move | None,
) -> None:
    assert classify_move(profile(), health, overrides, old, new) is move
