"""The state the engine carries between rounds, per profile, and one round's step over it.

`step` folds one round of probe results into every profile's health, applies the isolation
guard, and decides. It returns the new state and the events worth telling (transitions,
decision changes) so that the edges can log and count them.

The decision step runs only for profiles whose inputs changed. A profile is *settled* when its last
decision step gave back the routing it was given (a fixed point) in a situation that does not depend on
the time (a decision exists, no automatic failback is pending, not performance routing). While its
routing, views, overrides and health stay those objects, changed only by this step, and every endpoint's
health stays equal in what routing reads of it (`_same_for_routing`), deciding again would give the same
routing: the step is skipped. The health step (counters, latencies) runs for every result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from dnsctl.core import history as core_history
from dnsctl.core.decision import Decision, DecisionKind, RoutingState, with_serving_addresses
from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status, observe_addresses
from dnsctl.core.model import DnsctlSpec, EndpointStatus, Override, ProfileSpec, Routing
from dnsctl.core.results import CanaryResult, ProbeResult
from dnsctl.core.routing import decide, freeze, ordered


@dataclass(frozen=True, slots=True)
class ProfileState:
    started_at: float
    endpoints: Mapping[str, EndpointHealth] = field(default_factory=dict)
    routing: RoutingState = field(default_factory=RoutingState)
    views: Mapping[str, RoutingState] = field(default_factory=dict)  # resolver views by name
    overrides: Mapping[str, Override] = field(default_factory=dict)  # operator drains
    history: tuple[core_history.HistoryEntry, ...] = ()  # the last decision changes, oldest first
    # The (routing, views, overrides, endpoints) objects after the last decision step that was a time-free
    # fixed point, or a step that skipped it (see the module's doc): while they are these, deciding again
    # changes nothing. Not state: never stored, never compared.
    settled: tuple[object, object, object, object] | None = field(default=None, compare=False, repr=False)

    @property
    def decision(self) -> Decision | None:
        return self.routing.decision


@dataclass(frozen=True, slots=True)
class Transition:
    profile: str
    endpoint: str
    old: MonitorStatus
    new: MonitorStatus
    flap: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DecisionChange:
    profile: str
    view: str | None
    old: Decision | None
    new: Decision

    @property
    def failover(self) -> bool:
        return self.old is not None and self.old.primary is not None and self.old.primary != self.new.primary


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    states: Mapping[str, ProfileState]
    transitions: tuple[Transition, ...]
    changes: tuple[DecisionChange, ...]
    isolated: bool
    results: tuple[ProbeResult, ...] = ()  # the probe results this outcome was stepped from


ISOLATION_REASON = (
    "isolation guard: no probe of any endpoint of any profile got an answer this round (timeouts, "
    "unreachable, name resolution) and no canary answered; the controller's own network is the likelier "
    "cause; holding the last decisions until probes recover"
)


def initial_states(spec: DnsctlSpec, now: float) -> dict[str, ProfileState]:
    return {p.name: ProfileState(started_at=now) for p in spec.profiles}


def probed(profile: ProfileSpec) -> list[str]:
    """Endpoints that are probed: enabled ones (overrides still probe, so history stays true)."""
    return [ep.name for ep in profile.endpoints if ep.status is EndpointStatus.ENABLED]


def is_isolated(
    spec: DnsctlSpec, results: Sequence[ProbeResult], canaries: Sequence[CanaryResult] = ()
) -> bool:
    """True when nothing came back from any endpoint of any profile in this round, nor from a canary.

    Only failures that say nothing about the endpoint count (no answer to the connection, no route,
    no name resolution, a TLS handshake that never completed); an HTTP error, a completed TLS
    handshake, a refusal or a reset proves that the path works, so the endpoint really is down and
    the all-down policy applies. Every probed endpoint must have failed in `results` itself (one
    round), not earlier.
    """
    guard = spec.isolation_guard
    if not guard.enabled or not results or not all(r.says_nothing for r in results):
        return False
    if any(c.connected for c in canaries):
        return False
    seen = {(r.profile, r.endpoint) for r in results}
    expected = [(p.name, name) for p in spec.profiles for name in probed(p)]
    return len(expected) >= guard.min_endpoints and all(key in seen for key in expected)


def suspect_isolation(spec: DnsctlSpec, results: Sequence[ProbeResult]) -> bool:
    """Whether these results could be the start of isolation (worth probing the rest and the canaries)."""
    return spec.isolation_guard.enabled and bool(results) and all(r.says_nothing for r in results)


def step(
    spec: DnsctlSpec,
    states: Mapping[str, ProfileState],
    results: Sequence[ProbeResult],
    now: float,
    *,
    profiles: Sequence[str] | None = None,
    canaries: Sequence[CanaryResult] = (),
    isolated: bool | None = None,
) -> RoundOutcome:
    """One round: feed `results` (one or more per endpoint: one per address), then decide for
    `profiles` (default: every profile). `canaries` are this round's looks at the isolation canaries.
    A `local` result (this process failed to make the probe) is no evidence: it is left out.
    `isolated` is the guard's verdict on the whole round when `results` are only a slice of it."""
    results = [r for r in results if not r.local]
    if isolated is None:
        isolated = is_isolated(spec, results, canaries)
    by_profile: dict[str, dict[str, list[ProbeResult]]] = {}
    for r in results:
        by_profile.setdefault(r.profile, {}).setdefault(r.endpoint, []).append(r)
    new_states = dict(states)
    transitions: list[Transition] = []
    changes: list[DecisionChange] = []
    wanted = None if profiles is None else set(profiles)
    for profile in spec.profiles:
        if wanted is not None and profile.name not in wanted:
            continue
        st = states.get(profile.name) or ProfileState(started_at=now)
        health = dict(st.endpoints)
        same = True  # every endpoint's health the same for routing as before this round
        for endpoint, got in by_profile.get(profile.name, {}).items():
            old = health.get(endpoint, EndpointHealth())
            if isolated:
                # Our own network is the suspect: remember the result, judge nobody.
                health[endpoint] = replace(old, last=got[0])
                continue
            new = observe_addresses(old, got, profile.monitor, now)
            health[endpoint] = new
            same = same and _same_for_routing(old, new)
            if new.status is not old.status:
                assert new.last is not None
                transitions.append(
                    Transition(
                        profile.name,
                        endpoint,
                        old.status,
                        new.status,
                        new.flaps > old.flaps,
                        new.last.describe(),
                    )
                )
        if not isolated and same and _is_settled(st):
            st = replace(st, endpoints=health, settled=(st.routing, st.views, st.overrides, health))
        else:
            st, profile_changes = _decide_all(spec, profile, replace(st, endpoints=health), now, isolated)
            changes.extend(profile_changes)
        new_states[profile.name] = st
    return RoundOutcome(new_states, tuple(transitions), tuple(changes), isolated)


def _same_for_routing(old: EndpointHealth, new: EndpointHealth) -> bool:
    """Whether routing reads the same of `new` as of `old`: both Online, entered at the same time, with
    the same digests and per-address statuses (an Online endpoint is described by its status alone).
    The counters and latencies of an Online endpoint matter only to performance routing, never settled.
    An endpoint that is not Online is described with its counters and last failure: any result changes it."""
    if new is old:
        return True
    if old.status is not MonitorStatus.ONLINE or new.status is not MonitorStatus.ONLINE:
        return False
    if old.since != new.since or old.hold_until != new.hold_until or old.digests != new.digests:
        return False
    if old.addresses or new.addresses:
        return old.addresses.keys() == new.addresses.keys() and all(
            h.status is new.addresses[a].status for a, h in old.addresses.items()
        )
    return True


def _is_settled(st: ProfileState) -> bool:
    s = st.settled
    return (
        s is not None
        and s[0] is st.routing
        and s[1] is st.views
        and s[2] is st.overrides
        and s[3] is st.endpoints
    )


def _time_free(
    profile: ProfileSpec, st: ProfileState, routing: RoutingState, order: Sequence[str] | None
) -> bool:
    """Whether deciding again with the same inputs gives `routing` whatever the time: there is a
    decision (no startup grace), latencies do not choose (performance routing), and for priority
    routing no endpoint before the chosen one is Online (no failback hold running out)."""
    d = routing.decision
    if d is None or d.kind is not DecisionKind.ENDPOINT or profile.routing is Routing.PERFORMANCE:
        return False
    if profile.routing is Routing.WEIGHTED:
        return True  # the same Online set keeps the same draw
    for ep in ordered(profile, order):
        if ep.name == d.primary:
            return True
        health = st.endpoints.get(ep.name, EndpointHealth())
        if effective_status(ep, health, st.overrides.get(ep.name)) is MonitorStatus.ONLINE:
            return False
    return False


def _decide_all(
    spec: DnsctlSpec, profile: ProfileSpec, st: ProfileState, now: float, isolated: bool
) -> tuple[ProfileState, list[DecisionChange]]:
    changes: list[DecisionChange] = []

    def one(prev: RoutingState, view: str | None, preference: Sequence[str] | None) -> RoutingState:
        if isolated:
            nxt = freeze(prev, ISOLATION_REASON)
        else:
            nxt = decide(
                profile,
                st.endpoints,
                prev,
                now,
                started_at=st.started_at,
                overrides=st.overrides,
                preference=preference,
            )
            nxt = with_serving_addresses(profile, st.endpoints, nxt)
        if nxt.decision is not None and not nxt.decision.same_outcome(prev.decision):
            changes.append(DecisionChange(profile.name, view, prev.decision, nxt.decision))
        return nxt

    routing = one(st.routing, None, None)
    fixed = routing is st.routing and _time_free(profile, st, routing, None)
    views: dict[str, RoutingState] = {}
    for view in spec.resolver.views:
        order = view.preference(profile.name)
        if order is not None:
            prev = st.views.get(view.name)
            views[view.name] = one(prev or RoutingState(), view.name, order)
            fixed = fixed and views[view.name] is prev and _time_free(profile, st, prev, order)
    if not changes and fixed and views == st.views:
        # Nothing moved: the state keeps its objects, and it is settled until one of them changes.
        return replace(st, settled=(st.routing, st.views, st.overrides, st.endpoints)), changes
    entries = [
        core_history.entry(profile, st.endpoints, st.overrides, c.view, c.old, c.new, now) for c in changes
    ]
    history = core_history.append(st.history, entries)
    return replace(st, routing=routing, views=views, history=history, settled=None), changes


def set_override(st: ProfileState, endpoint: str, override: Override | None) -> ProfileState:
    overrides = dict(st.overrides)
    if override is None or override is Override.OBEY:
        overrides.pop(endpoint, None)
    else:
        overrides[endpoint] = override
    return replace(st, overrides=overrides)


def request_failback(st: ProfileState) -> ProfileState:
    return replace(st, routing=replace(st.routing, failback_requested=True))
