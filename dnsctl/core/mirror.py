"""Which mirror hosts a node's container runtime should try for a profile, in order.

Pure: from a profile's state to an ordered list, or None when the configuration on disk must stay as it
is. The decision's endpoints come first (so hysteresis, failback and drains act exactly as in the DNS
modes); the other Online endpoints follow in routing order, because a runtime that finds its first
mirror down moves on to the next one, and that next one should be healthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dnsctl.core.decision import DecisionKind
from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status
from dnsctl.core.model import DEFAULT_PORTS, ProfileSpec, Routing
from dnsctl.core.routing import by_latency, ordered
from dnsctl.core.state import ProfileState


@dataclass(frozen=True, slots=True)
class MirrorHost:
    endpoint: str | None  # None for the profile's `fallback` target
    url: str  # scheme://host[:port]


@dataclass(frozen=True, slots=True)
class MirrorOrder:
    hosts: tuple[MirrorHost, ...]
    reason: str
    # keep-last / isolation guard: an existing file stays as it is; `hosts` is only for a first write.
    keep_existing: bool = False


def host_url(profile: ProfileSpec, target: str) -> str:
    m = profile.monitor
    name = target.rstrip(".")
    port = "" if m.port in (DEFAULT_PORTS[m.scheme], 0) else f":{m.port}"
    return f"{m.scheme}://{name}{port}"


def online(profile: ProfileSpec, state: ProfileState) -> list[str]:
    """The Online endpoints (after drains and configured status): by priority, or for `performance`
    routing by median latency. (A `weighted` decision names every Online endpoint itself.)"""
    up = [
        ep
        for ep in ordered(profile)
        if effective_status(ep, state.endpoints.get(ep.name, EndpointHealth()), state.overrides.get(ep.name))
        is MonitorStatus.ONLINE
    ]
    if profile.routing is Routing.PERFORMANCE:
        up = by_latency(up, state.endpoints)
    return [ep.name for ep in up]


def mirror_order(profile: ProfileSpec, state: ProfileState) -> MirrorOrder | None:
    """The hosts to write, or None while the profile has no decision (never act on ignorance)."""
    d = state.decision
    if d is None:
        return None
    if d.fallback is not None:
        fallback = (MirrorHost(None, host_url(profile, d.fallback)),)
        return MirrorOrder(fallback, d.reason, keep_existing=d.keep_current)
    up = online(profile, state)
    if d.keep_current or d.kind is DecisionKind.FROZEN:
        first = tuple(MirrorHost(n, host_url(profile, profile.endpoint(n).target)) for n in d.endpoints)
        return MirrorOrder(first, d.reason, keep_existing=True)
    if d.kind is DecisionKind.ALL_DOWN:  # serve-all / serve-first: exactly what the policy names
        names = list(d.endpoints)
    else:
        # A chosen endpoint still without a verdict (a restart kept it) stays first; a drained or
        # Degraded one never is (routing does not choose those).
        names = [n for n in d.endpoints if n in up or _checking(profile, state, n)]
        names += [n for n in up if n not in names]
    hosts = tuple(MirrorHost(n, host_url(profile, profile.endpoint(n).target)) for n in names)
    return MirrorOrder(hosts, d.reason)


def _checking(profile: ProfileSpec, state: ProfileState, name: str) -> bool:
    ep = profile.endpoint(name)
    status = effective_status(ep, state.endpoints.get(name, EndpointHealth()), state.overrides.get(name))
    return status is MonitorStatus.CHECKING


# --- a site's decision, as its vantage publishes it and node agents follow it -------------------


@dataclass(frozen=True, slots=True)
class ProfileDecision:
    """One profile's decision at a site: the answer its publications get and the mirror order.

    `mirror` names endpoints in the order node agents list them; with `fallback` the agents list that
    target instead. `keep`: keep-last or the isolation guard: a file already written stays as it is.
    """

    profile: str
    endpoints: tuple[str, ...]
    mirror: tuple[str, ...]
    reason: str
    fallback: str | None = None
    keep: bool = False


@dataclass(frozen=True, slots=True)
class SiteDecision:
    """What a site's vantage published for the site's node agents (one small document per site)."""

    site: str
    seq: int
    at: float  # wall-clock seconds of the round it was decided in
    config_hash: str
    profiles: tuple[ProfileDecision, ...] = ()

    def profile(self, name: str) -> ProfileDecision | None:
        return next((p for p in self.profiles if p.profile == name), None)


def decision_of(profile: ProfileSpec, state: ProfileState) -> ProfileDecision | None:
    """A profile's decision for the exchange, or None while it has none (never act on ignorance)."""
    order = mirror_order(profile, state)
    d = state.decision
    if order is None or d is None:
        return None
    mirror = tuple(h.endpoint for h in order.hosts if h.endpoint is not None)
    return ProfileDecision(profile.name, d.endpoints, mirror, d.reason, d.fallback, order.keep_existing)


def order_from(profile: ProfileSpec, decision: ProfileDecision) -> MirrorOrder:
    """The hosts a node agent writes for a site's decision (ValueError: it names an unknown endpoint)."""
    known = {ep.name: ep for ep in profile.endpoints}
    if decision.fallback is not None:
        hosts: tuple[MirrorHost, ...] = (MirrorHost(None, host_url(profile, decision.fallback)),)
    else:
        unknown = [n for n in decision.mirror if n not in known]
        if unknown:
            raise ValueError(f"names endpoint(s) {', '.join(unknown)} this configuration does not have")
        hosts = tuple(MirrorHost(n, host_url(profile, known[n].target)) for n in decision.mirror)
    return MirrorOrder(hosts, decision.reason, keep_existing=decision.keep)


def site_decisions(
    profiles: Sequence[ProfileSpec], states: Mapping[str, ProfileState]
) -> tuple[ProfileDecision, ...]:
    """Every profile's decision that exists (a profile without one yet is left out: agents wait)."""
    out = (decision_of(p, states[p.name]) for p in profiles if p.name in states)
    return tuple(d for d in out if d is not None)
