"""Routing: from the endpoints' health to a decision, with failback control and all-down policy.

`decide` is pure: the previous routing state and the time come in, the next state goes out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.health import EndpointHealth, MonitorStatus, describe, effective_status
from dnsctl.core.model import EndpointSpec, Failback, Override, ProfileSpec, Routing, WhenAllDown


class Move(StrEnum):
    """What a change of the chosen endpoint was, for counting (`classify_move`)."""

    FAILOVER = "failover"  # away from an endpoint that is no longer Online (or to the fallback)
    FAILBACK = "failback"  # back to a better endpoint (or from the fallback) while the current one is fine


def decide(
    profile: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    prev: RoutingState,
    now: float,
    *,
    started_at: float,
    overrides: Mapping[str, Override] | None = None,
    preference: Sequence[str] | None = None,
) -> RoutingState:
    """The next routing state of `profile`.

    `preference` is a view's endpoint order (endpoints it does not name follow by priority).
    No decision is made while an enabled endpoint has no verdict, unless a previous decision
    exists or the startup grace has passed (DESIGN rule 1).
    """
    order = ordered(profile, preference)
    status = {
        ep.name: effective_status(ep, health.get(ep.name, EndpointHealth()), (overrides or {}).get(ep.name))
        for ep in order
    }
    if prev.decision is None and now - started_at < profile.startup_grace:
        waiting = [n for n, s in status.items() if s is MonitorStatus.CHECKING]
        if waiting:
            return prev
    held = _held_with_unjudged(prev, status)
    if held:
        # The freeze has ended: its answer is judged again from its first endpoint, not kept whole.
        assert prev.decision is not None
        prev = replace(prev, decision=replace(prev.decision, endpoints=prev.decision.endpoints[:1]))
    current = _current(prev)
    if current is not None and status.get(current) is MonitorStatus.CHECKING and not held:
        # No verdict on the current endpoint (a restart with a restored choice): no reason to move.
        return _keep(prev, f"{current} has no verdict yet; keeping it", now)
    online = [ep for ep in order if status[ep.name] is MonitorStatus.ONLINE]
    if not online:
        return replace(prev, decision=_all_down(profile, health, status, prev.decision, now), challenger=None)
    if profile.routing is Routing.WEIGHTED:
        return _weighted(profile, online, prev, now)
    if profile.routing is Routing.PERFORMANCE:
        return _performance(profile, online, health, status, prev, now)
    ranking = "in the view's order" if preference else "by priority"
    return _priority(profile, order, online, health, status, prev, now, ranking)


def ordered(profile: ProfileSpec, preference: Sequence[str] | None = None) -> list[EndpointSpec]:
    """The endpoints in routing order: by priority, or a view's `preference` first (the one ordering)."""
    by_priority = list(profile.by_priority)
    if not preference:
        return by_priority
    rank = {name: i for i, name in enumerate(preference)}
    return sorted(by_priority, key=lambda ep: (rank.get(ep.name, len(rank)), ep.priority))


def median_latency(health: Mapping[str, EndpointHealth], name: str) -> float:
    """An endpoint's median probe latency, infinite when none is known (performance routing's measure)."""
    m = health.get(name, EndpointHealth()).median_latency()
    return m if m is not None else float("inf")


def by_latency(endpoints: Sequence[EndpointSpec], health: Mapping[str, EndpointHealth]) -> list[EndpointSpec]:
    """`endpoints` fastest first; priority breaks ties (performance routing's order)."""
    return sorted(endpoints, key=lambda ep: (median_latency(health, ep.name), ep.priority))


def _held_with_unjudged(prev: RoutingState, status: Mapping[str, MonitorStatus]) -> bool:
    """A decision held by the isolation guard that serves endpoints beside its first that are not Online:
    it may have been an all-down answer (the freeze does not say which), so it is not kept as a choice."""
    d = prev.decision
    return (
        d is not None
        and d.kind is DecisionKind.FROZEN
        and any(status.get(n) is not MonitorStatus.ONLINE for n in d.endpoints[1:])
    )


def _current(prev: RoutingState) -> str | None:
    d = prev.decision
    return d.primary if d is not None and d.kind is not DecisionKind.ALL_DOWN else None


def _switch(
    prev: RoutingState, chosen: tuple[str, ...], reason: str, now: float, **kw: object
) -> RoutingState:
    old = prev.decision
    decision = Decision(DecisionKind.ENDPOINT, chosen, reason, now)
    same = old is not None and replace(old, addresses=()).same_outcome(decision)
    if old is not None and same and old.kind is DecisionKind.ENDPOINT:
        decision = replace(decision, since=old.since)
    # A switch settles any pending failback request: a stale one must not fire on a later recovery.
    fields: dict[str, object] = {
        "decision": decision,
        "challenger": None,
        "challenger_rounds": 0,
        "failback_requested": False,
    }
    fields.update(kw)
    return replace(prev, **fields)  # type: ignore[arg-type]


def _why_not(name: str, health: Mapping[str, EndpointHealth], status: Mapping[str, MonitorStatus]) -> str:
    s = status.get(name)
    if s is None:  # a restored decision may name an endpoint the config no longer has
        return f"{name} is no longer configured"
    if s is MonitorStatus.DISABLED:
        return f"{name} Disabled"
    h = health.get(name, EndpointHealth())
    if s is MonitorStatus.DEGRADED and h.status is not MonitorStatus.DEGRADED:
        return f"{name} drained by operator"
    return describe(name, h)


def _priority(
    profile: ProfileSpec,
    order: Sequence[EndpointSpec],
    online: list[EndpointSpec],
    health: Mapping[str, EndpointHealth],
    status: Mapping[str, MonitorStatus],
    prev: RoutingState,
    now: float,
    ranking: str,
) -> RoutingState:
    best = online[0]
    current = _current(prev)
    online_names = [ep.name for ep in online]
    if current is None:
        return _switch(
            prev, (best.name,), _first_online_reason(best.name, order, health, status, ranking), now
        )
    if current not in online_names:
        return _switch(
            prev,
            (best.name,),
            f"{_why_not(current, health, status)}; {best.name} is next {ranking}",
            now,
            failback_requested=False,
        )
    if best.name == current:
        return _keep(prev, _first_online_reason(current, order, health, status, ranking), now)
    # A better endpoint is Online again: failback policy decides.
    if profile.failback is Failback.MANUAL:
        if prev.failback_requested:
            return _switch(
                prev, (best.name,), f"operator failback to {best.name}", now, failback_requested=False
            )
        return _keep(prev, f"{best.name} is Online again; failback is manual, staying on {current}", now)
    since = health.get(best.name, EndpointHealth()).since
    online_for = now - since if since is not None else 0.0
    if status[best.name] is MonitorStatus.ONLINE and (
        online_for >= profile.failback_hold or _pinned_up(health, best.name)
    ):
        return _switch(
            prev,
            (best.name,),
            f"{best.name} Online for {online_for:.0f}s (failback_hold {profile.failback_hold:.0f}s); "
            f"failing back from {current}",
            now,
        )
    wait = profile.failback_hold - online_for
    return _keep(
        prev, f"{best.name} is Online again; failback to it in {wait:.0f}s, staying on {current}", now
    )


def _first_online_reason(
    current: str,
    order: Sequence[EndpointSpec],
    health: Mapping[str, EndpointHealth],
    status: Mapping[str, MonitorStatus],
    ranking: str,
) -> str:
    # While better endpoints are down, keep saying why: that is what an operator looks for.
    better = []
    for ep in order:
        if ep.name == current:
            break
        better.append(_why_not(ep.name, health, status))
    if not better:
        return f"{current} is Online and first {ranking}"
    return f"{'; '.join(better)}; {current} is the first Online {ranking}"


def _pinned_up(health: Mapping[str, EndpointHealth], name: str) -> bool:
    # An operator's `up` pin has no Online-since time to wait for.
    return health.get(name, EndpointHealth()).status is not MonitorStatus.ONLINE


def _keep(prev: RoutingState, reason: str, now: float) -> RoutingState:
    d = prev.decision
    assert d is not None
    if d.kind is DecisionKind.ENDPOINT and d.reason == reason:
        return prev
    return replace(prev, decision=replace(d, kind=DecisionKind.ENDPOINT, reason=reason))


def _weighted(
    profile: ProfileSpec, online: list[EndpointSpec], prev: RoutingState, now: float
) -> RoutingState:
    names = tuple(ep.name for ep in online)
    d = prev.decision
    if d is not None and d.kind is DecisionKind.ENDPOINT and set(d.endpoints) == set(names):
        return prev
    primary = _weighted_pick(profile, online)
    rest = tuple(n for n in names if n != primary)
    weights = ", ".join(f"{ep.name}={ep.weight}" for ep in online)
    return _switch(prev, (primary, *rest), f"weighted over Online endpoints ({weights}); drew {primary}", now)


def _weighted_pick(profile: ProfileSpec, online: list[EndpointSpec]) -> str:
    # A hash, not random(): the same seed and the same Online set always draw the same endpoint.
    key = f"{profile.weight_seed}:{profile.name}:{','.join(ep.name for ep in online)}".encode()
    total = sum(max(ep.weight, 0) for ep in online)
    if total <= 0:
        return online[0].name
    point = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % total
    for ep in online:
        point -= max(ep.weight, 0)
        if point < 0:
            return ep.name
    return online[-1].name


def _performance(
    profile: ProfileSpec,
    online: list[EndpointSpec],
    health: Mapping[str, EndpointHealth],
    status: Mapping[str, MonitorStatus],
    prev: RoutingState,
    now: float,
) -> RoutingState:
    def med(name: str) -> float:
        return median_latency(health, name)

    fastest = by_latency(online, health)[0]
    current = _current(prev)
    if current is None or current not in {ep.name for ep in online}:
        lead = f"{_why_not(current, health, status)}; " if current is not None else ""
        return _switch(prev, (fastest.name,), f"{lead}{fastest.name} has the lowest median latency", now)
    if fastest.name == current or not med(fastest.name) < med(current) * (1 - profile.performance_margin):
        return replace(
            _keep(prev, f"{current} is Online and fastest within margin", now),
            challenger=None,
            challenger_rounds=0,
        )
    rounds = prev.challenger_rounds + 1 if prev.challenger == fastest.name else 1
    if rounds >= profile.monitor.rise:
        return _switch(
            prev,
            (fastest.name,),
            f"{fastest.name} faster than {current} ({med(fastest.name) * 1000:.0f} ms vs "
            f"{med(current) * 1000:.0f} ms) for {rounds} rounds",
            now,
        )
    kept = _keep(
        prev, f"{fastest.name} is faster than {current}; switching after {profile.monitor.rise} rounds", now
    )
    return replace(kept, challenger=fastest.name, challenger_rounds=rounds)


def _all_down(
    profile: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    status: Mapping[str, MonitorStatus],
    prev: Decision | None,
    now: float,
) -> Decision:
    down = "; ".join(_why_not(ep.name, health, status) for ep in profile.by_priority)
    enabled = tuple(ep.name for ep in profile.by_priority if status[ep.name] is not MonitorStatus.DISABLED)
    first = enabled[:1] or (profile.by_priority[0].name,)
    policy = profile.when_all_down
    if prev is None and any(s is MonitorStatus.CHECKING for s in status.values()):
        # The startup grace ran out without verdicts: keep whatever is published (DESIGN rule 1).
        policy = WhenAllDown.KEEP_LAST
    since = prev.since if prev is not None and prev.kind is DecisionKind.ALL_DOWN else now
    if policy is WhenAllDown.SERVE_ALL:
        return Decision(
            DecisionKind.ALL_DOWN, enabled or first, f"no endpoint Online ({down}); serving all", since
        )
    if policy is WhenAllDown.SERVE_FIRST:
        return Decision(
            DecisionKind.ALL_DOWN, first, f"no endpoint Online ({down}); serving {first[0]}", since
        )
    if policy is WhenAllDown.FALLBACK and profile.fallback is not None:
        return Decision(
            DecisionKind.ALL_DOWN,
            (),
            f"no endpoint Online ({down}); fallback to {profile.fallback}",
            since,
            fallback=profile.fallback,
        )
    last = tuple(n for n in prev.endpoints if n in status) if prev is not None else ()
    kept = last or first
    fallback = prev.fallback if prev is not None and not prev.endpoints else None
    # Our last answer is the previous decision's, unless that one was itself only a guess.
    ours = prev is not None and (not prev.keep_current or prev.last_answer) and bool(last or fallback)
    addresses = tuple((n, a) for n, a in prev.addresses if n in last) if prev is not None and ours else ()
    # With nothing decided before, there is no last answer of ours: a publisher keeps what is
    # published, and only where nothing is does it publish the first endpoint.
    keeping = "keeping the last answer" if prev is not None else f"keeping what is published (else {kept[0]})"
    return Decision(
        DecisionKind.ALL_DOWN,
        kept if fallback is None else (),
        f"no endpoint Online ({down}); {keeping}",
        since,
        fallback=fallback,
        keep_current=True,
        last_answer=ours,
        addresses=addresses,
    )


def classify_move(
    profile: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    overrides: Mapping[str, Override],
    old: Decision | None,
    new: Decision,
) -> Move | None:
    """A failover, a failback, or neither (the first decision, or performance and weighted switches)."""
    if old is None or old.primary == new.primary:
        return None
    if old.primary is None:
        return Move.FAILBACK if new.primary is not None else None
    try:
        was = profile.endpoint(old.primary)
    except KeyError:  # a restored decision may name an endpoint the config no longer has
        return Move.FAILOVER
    status = effective_status(was, health.get(was.name, EndpointHealth()), overrides.get(was.name))
    if status is not MonitorStatus.ONLINE or new.primary is None:
        return Move.FAILOVER
    if profile.endpoint(new.primary).priority < was.priority:
        return Move.FAILBACK
    return None


def freeze(prev: RoutingState, reason: str) -> RoutingState:
    """The isolation guard's hold: the last decision stays, with the guard's reason."""
    d = prev.decision
    if d is None:
        return prev
    return replace(prev, decision=replace(d, kind=DecisionKind.FROZEN, reason=reason))
