"""A site's decisions from its vantage's verdicts, for a process that answers that site's clients
without probing for it (`dnsctl serve` answering a site whose vantage runs elsewhere).

Pure: the per-site health (from `dnsctl.core.quorum.combine`), the previous state and the time are
arguments. The site's vantage has already applied hysteresis (its verdict is the endpoint's monitor
status); routing (priority, weights, failback hold, all-down policy) is applied here, per site, as it
is for this process's own decisions. A vantage that abstains (stale, isolated) moves nothing: its
site keeps its last answer. An endpoint's `since` is when this process first saw its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dnsctl.core.decision import RoutingState
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.model import ProfileSpec
from dnsctl.core.quorum import SiteHealth, VantageState
from dnsctl.core.routing import decide


@dataclass(frozen=True, slots=True)
class RemoteProfile:
    """One profile as one site's vantage sees it: each endpoint's health, and the site's routing."""

    health: Mapping[str, EndpointHealth] = field(default_factory=dict)
    routing: RoutingState = field(default_factory=RoutingState)


def site_statuses(health: SiteHealth, site: str) -> dict[str, dict[str, MonitorStatus]] | None:
    """Per profile, per endpoint: what `site`'s own vantage says; None when it abstains."""
    try:
        view = health.vantage(site)
    except KeyError:
        return None
    if view.state is not VantageState.FRESH:
        return None
    out: dict[str, dict[str, MonitorStatus]] = {}
    for j in health.judgements:
        status = j.for_site.get(site)
        if status is not None:
            out.setdefault(j.profile, {})[j.endpoint] = status
    return out


def observed(
    before: Mapping[str, EndpointHealth], statuses: Mapping[str, MonitorStatus], now: float
) -> dict[str, EndpointHealth]:
    """The endpoints' health from a vantage's statuses: `since` kept while a status lasts."""
    out: dict[str, EndpointHealth] = {}
    for name, status in statuses.items():
        prev = before.get(name)
        out[name] = prev if prev is not None and prev.status is status else EndpointHealth(status, since=now)
    return out


def step_remote(
    profile: ProfileSpec,
    statuses: Mapping[str, MonitorStatus] | None,
    prev: RemoteProfile,
    now: float,
    *,
    started_at: float,
) -> RemoteProfile:
    """The next state of `profile` for a site, from its vantage's statuses (None: it abstains)."""
    if statuses is None:
        return prev
    health = observed(prev.health, statuses, now)
    return RemoteProfile(health, decide(profile, health, prev.routing, now, started_at=started_at))
