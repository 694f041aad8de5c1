"""Which mirror hosts a node's container runtime should try for a profile, in order.

Pure: from a profile's state to an ordered list, or None when the configuration on disk must stay as it
is. The decision's endpoints come first (so hysteresis, failback and drains act exactly as in the DNS
modes); the other Online endpoints follow in routing order, because a runtime that finds its first
mirror down moves on to the next one, and that next one should be healthy.
"""

from __future__ import annotations

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
