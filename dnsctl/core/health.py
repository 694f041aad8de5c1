"""The health engine: endpoint monitor status with fall/rise hysteresis and flap damping.

Pure functions over frozen values. `observe` folds one probe result into an endpoint's health;
`effective_status` applies the endpoint's configured status and the operator's override on top.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import median

from dnsctl.core.model import EndpointSpec, EndpointStatus, MonitorSpec, Override
from dnsctl.core.results import ProbeResult

# How many recent successful latencies performance routing looks at.
LATENCY_WINDOW = 5
# Damping doubles the hold for each flap past the threshold, up to this factor.
MAX_HOLD_FACTOR = 16


class MonitorStatus(StrEnum):
    CHECKING = "CheckingEndpoint"
    ONLINE = "Online"
    DEGRADED = "Degraded"
    DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    status: MonitorStatus = MonitorStatus.CHECKING
    successes: int = 0  # consecutive
    failures: int = 0  # consecutive
    flaps: int = 0  # Online -> Degraded transitions, ever
    flap_times: tuple[float, ...] = ()  # those inside the damping window
    hold_until: float | None = None  # damped: stays Degraded until then
    since: float | None = None  # when `status` was entered
    latencies: tuple[float, ...] = ()  # recent successful probe latencies, oldest first
    last: ProbeResult | None = None

    @property
    def damped(self) -> bool:
        return self.hold_until is not None

    def median_latency(self) -> float | None:
        return median(self.latencies) if self.latencies else None


def observe(health: EndpointHealth, result: ProbeResult, monitor: MonitorSpec, now: float) -> EndpointHealth:
    """Fold one probe result into the endpoint's health."""
    if result.ok:
        return _success(health, result, monitor, now)
    return _failure(health, result, monitor, now)


def _success(h: EndpointHealth, result: ProbeResult, monitor: MonitorSpec, now: float) -> EndpointHealth:
    successes = h.successes + 1
    latencies = (*h.latencies, result.latency)[-LATENCY_WINDOW:]
    new = replace(h, successes=successes, failures=0, latencies=latencies, last=result)
    if h.status is MonitorStatus.CHECKING:
        # The first verdict: a replica that answers is taken as Online at once.
        return replace(new, status=MonitorStatus.ONLINE, since=now)
    if h.status is MonitorStatus.DEGRADED and successes >= monitor.rise:
        if h.hold_until is not None and now < h.hold_until:
            return new
        return replace(new, status=MonitorStatus.ONLINE, since=now, hold_until=None)
    return new


def _failure(h: EndpointHealth, result: ProbeResult, monitor: MonitorSpec, now: float) -> EndpointHealth:
    failures = h.failures + 1
    new = replace(h, successes=0, failures=failures, last=result)
    if h.status is MonitorStatus.DEGRADED or failures < monitor.fall:
        return new
    if h.status is MonitorStatus.CHECKING:
        return replace(new, status=MonitorStatus.DEGRADED, since=now)
    # Online -> Degraded: a flap. Count it, and damp an endpoint that keeps flapping.
    recent = (*(t for t in h.flap_times if now - t < monitor.flap_window), now)
    hold_until: float | None = None
    excess = len(recent) - monitor.flap_threshold
    if excess >= 0:
        hold_until = now + monitor.flap_hold * min(2**excess, MAX_HOLD_FACTOR)
    return replace(
        new,
        status=MonitorStatus.DEGRADED,
        since=now,
        flaps=h.flaps + 1,
        flap_times=recent,
        hold_until=hold_until,
    )


def effective_status(
    endpoint: EndpointSpec, health: EndpointHealth, override: Override | None = None
) -> MonitorStatus:
    """The status routing uses: configured `disabled` and operator overrides win over probes.

    `override` is the operator's run-time override (drain/undrain); when absent the configured
    one applies.
    """
    if endpoint.status is EndpointStatus.DISABLED:
        return MonitorStatus.DISABLED
    pin = override if override is not None else endpoint.override
    if pin is Override.UP:
        return MonitorStatus.ONLINE
    if pin is Override.DOWN:
        return MonitorStatus.DEGRADED
    return health.status


def describe(endpoint: str, health: EndpointHealth) -> str:
    """A short human account of an endpoint's health, for decision reasons."""
    why = ""
    if health.last is not None and not health.last.ok:
        why = f" ({health.last.describe()})"
    if health.status is MonitorStatus.DEGRADED:
        tail = f"; damped after {len(health.flap_times)} flaps" if health.damped else ""
        if health.successes:
            return f"{endpoint} Degraded, recovering ({health.successes} good probes in a row){tail}"
        plural = "" if health.failures == 1 else "s"
        return f"{endpoint} Degraded after {health.failures} failure{plural}{why}{tail}"
    if health.status is MonitorStatus.CHECKING:
        return f"{endpoint} CheckingEndpoint (no verdict yet{why and ', last' + why})"
    return f"{endpoint} {health.status.value}"
