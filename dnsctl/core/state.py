"""The state the engine carries between rounds, per profile, and one round's step over it.

`step` folds one round of probe results into every profile's health, applies the isolation
guard, and decides. It returns the new state and the events worth telling (transitions,
decision changes) so that the edges can log and count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from dnsctl.core.health import EndpointHealth, MonitorStatus, observe
from dnsctl.core.model import DnsctlSpec, EndpointStatus, Override, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.routing import Decision, RoutingState, decide, freeze


@dataclass(frozen=True, slots=True)
class ProfileState:
    started_at: float
    endpoints: Mapping[str, EndpointHealth] = field(default_factory=dict)
    routing: RoutingState = field(default_factory=RoutingState)
    views: Mapping[str, RoutingState] = field(default_factory=dict)  # resolver views by name
    overrides: Mapping[str, Override] = field(default_factory=dict)  # operator drains

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


ISOLATION_REASON = (
    "isolation guard: every probed endpoint of every profile failed at once; the controller's own "
    "network is the likelier cause; holding the last decisions until probes recover"
)


def initial_states(spec: DnsctlSpec, now: float) -> dict[str, ProfileState]:
    return {p.name: ProfileState(started_at=now) for p in spec.profiles}


def probed(profile: ProfileSpec) -> list[str]:
    """Endpoints that are probed: enabled ones (overrides still probe, so history stays true)."""
    return [ep.name for ep in profile.endpoints if ep.status is EndpointStatus.ENABLED]


def is_isolated(spec: DnsctlSpec, states: Mapping[str, ProfileState], results: Sequence[ProbeResult]) -> bool:
    """True when the latest probe of every probed endpoint of every profile failed.

    Profiles may be probed on their own schedules, so "at once" means: this round's results
    and, for endpoints not in this round, the last result each one had.
    """
    guard = spec.isolation_guard
    if not guard.enabled or not results:
        return False
    fresh = {(r.profile, r.endpoint): r for r in results}
    latest: list[ProbeResult | None] = []
    for profile in spec.profiles:
        st = states.get(profile.name)
        for name in probed(profile):
            r = fresh.get((profile.name, name))
            if r is None and st is not None and name in st.endpoints:
                r = st.endpoints[name].last
            latest.append(r)
    known = [r for r in latest if r is not None]
    return len(known) == len(latest) and len(known) >= guard.min_endpoints and not any(r.ok for r in known)


def step(
    spec: DnsctlSpec,
    states: Mapping[str, ProfileState],
    results: Sequence[ProbeResult],
    now: float,
    *,
    profiles: Sequence[str] | None = None,
) -> RoundOutcome:
    """One round: feed `results`, then decide for `profiles` (default: every profile)."""
    isolated = is_isolated(spec, states, results)
    by_profile: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_profile.setdefault(r.profile, []).append(r)
    new_states = dict(states)
    transitions: list[Transition] = []
    changes: list[DecisionChange] = []
    for profile in spec.profiles:
        if profiles is not None and profile.name not in profiles:
            continue
        st = states.get(profile.name) or ProfileState(started_at=now)
        health = dict(st.endpoints)
        for r in by_profile.get(profile.name, ()):
            old = health.get(r.endpoint, EndpointHealth())
            if isolated:
                # Our own network is the suspect: remember the result, judge nobody.
                health[r.endpoint] = replace(old, last=r)
                continue
            new = observe(old, r, profile.monitor, now)
            health[r.endpoint] = new
            if new.status is not old.status:
                transitions.append(
                    Transition(
                        profile.name, r.endpoint, old.status, new.status, new.flaps > old.flaps, r.describe()
                    )
                )
        st = replace(st, endpoints=health)
        st, profile_changes = _decide_all(spec, profile, st, now, isolated)
        changes.extend(profile_changes)
        new_states[profile.name] = st
    return RoundOutcome(new_states, tuple(transitions), tuple(changes), isolated)


def redecide(spec: DnsctlSpec, states: Mapping[str, ProfileState], now: float, profile: str) -> RoundOutcome:
    """Decide again without new results (after an operator action or a timer like failback_hold)."""
    return step(spec, states, (), now, profiles=[profile])


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
        if nxt.decision is not None and not nxt.decision.same_outcome(prev.decision):
            changes.append(DecisionChange(profile.name, view, prev.decision, nxt.decision))
        return nxt

    routing = one(st.routing, None, None)
    views: dict[str, RoutingState] = {}
    for view in spec.resolver.views:
        order = view.preference(profile.name)
        if order is not None:
            views[view.name] = one(st.views.get(view.name, RoutingState()), view.name, order)
    return replace(st, routing=routing, views=views), changes


def set_override(st: ProfileState, endpoint: str, override: Override | None) -> ProfileState:
    overrides = dict(st.overrides)
    if override is None or override is Override.OBEY:
        overrides.pop(endpoint, None)
    else:
        overrides[endpoint] = override
    return replace(st, overrides=overrides)


def request_failback(st: ProfileState) -> ProfileState:
    return replace(st, routing=replace(st.routing, failback_requested=True))
