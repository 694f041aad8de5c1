"""The health engine: endpoint monitor status with fall/rise hysteresis and flap damping.

Pure functions over frozen values. `observe` folds one probe result into an endpoint's health;
`effective_status` applies the endpoint's configured status and the operator's override on top.

An endpoint with several addresses is probed at each of them. Every address keeps its own health
(the same hysteresis), and the endpoint's probe succeeds in a round when any address answered, so the
endpoint is Online while at least one address is; `serving_addresses` says which ones to publish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from statistics import median

from dnsctl.core.model import EndpointSpec, EndpointStatus, MonitorSpec, Override
from dnsctl.core.results import FailureReason, ProbeResult

# How many recent successful latencies performance routing looks at.
LATENCY_WINDOW = 5
# Damping doubles the hold for each flap past the threshold, up to this factor.
MAX_HOLD_FACTOR = 16


class MonitorStatus(StrEnum):
    CHECKING = "CheckingEndpoint"
    ONLINE = "Online"
    DEGRADED = "Degraded"
    # Answering, but refusing pulls (429, or 503 with Retry-After) for `throttled_fall` rounds: for its
    # clients it is down, so routing treats it like Degraded; it recovers like Degraded (`rise`).
    THROTTLED = "Throttled"
    DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    status: MonitorStatus = MonitorStatus.CHECKING
    successes: int = 0  # consecutive
    failures: int = 0  # consecutive (throttled answers neither count nor break the run)
    throttles: int = 0  # consecutive throttled answers
    flaps: int = 0  # Online -> Degraded transitions, ever
    flap_times: tuple[float, ...] = ()  # those inside the damping window
    hold_until: float | None = None  # damped: stays Degraded until then
    since: float | None = None  # when `status` was entered
    latencies: tuple[float, ...] = ()  # recent successful probe latencies, oldest first
    last: ProbeResult | None = None
    # Per address, for an endpoint with several addresses (each one's own health, same hysteresis).
    addresses: Mapping[str, EndpointHealth] = field(default_factory=dict)
    # `registry.watch`: the digest last seen for each watched reference ("": the replica has none).
    digests: Mapping[str, str] = field(default_factory=dict)

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
    new = replace(h, successes=successes, failures=0, throttles=0, latencies=latencies, last=result)
    if result.digests:
        new = replace(new, digests=dict(result.digests))
    if h.status is MonitorStatus.CHECKING:
        # The first verdict: a replica that answers is taken as Online at once.
        return replace(new, status=MonitorStatus.ONLINE, since=now)
    if h.status in (MonitorStatus.DEGRADED, MonitorStatus.THROTTLED) and successes >= monitor.rise:
        if h.hold_until is not None and now < h.hold_until:
            return new
        return replace(new, status=MonitorStatus.ONLINE, since=now, hold_until=None)
    return new


def _failure(h: EndpointHealth, result: ProbeResult, monitor: MonitorSpec, now: float) -> EndpointHealth:
    if result.reason is FailureReason.THROTTLED:
        # Failures of their own kind with their own threshold (`throttled_fall`).
        throttles = h.throttles + 1
        new = replace(h, successes=0, throttles=throttles, last=result)
        if throttles >= monitor.throttle_limit and h.status in (MonitorStatus.CHECKING, MonitorStatus.ONLINE):
            return replace(new, status=MonitorStatus.THROTTLED, since=now)
        return new
    failures = h.failures + 1
    new = replace(h, successes=0, failures=failures, throttles=0, last=result)
    if h.status is MonitorStatus.DEGRADED or failures < monitor.fall:
        return new
    if h.status in (MonitorStatus.CHECKING, MonitorStatus.THROTTLED):
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


def combine(results: Sequence[ProbeResult]) -> ProbeResult:
    """One endpoint's result for a round from the results of its addresses: ok when any answered."""
    if len(results) == 1:
        return results[0]
    for r in results:
        if r.ok:
            return r
    first = results[0]
    detail = "; ".join(f"{r.address}: {r.describe()}" for r in results)
    return replace(first, detail=f"every address failed ({detail})")


def observe_addresses(
    health: EndpointHealth, results: Sequence[ProbeResult], monitor: MonitorSpec, now: float
) -> EndpointHealth:
    """Fold one round of an endpoint's per-address results into its health (and each address's)."""
    new = observe(health, combine(results), monitor, now)
    if len(results) < 2 and not health.addresses:
        return new
    addresses = dict(health.addresses)
    for r in results:
        addresses[r.address] = observe(addresses.get(r.address, EndpointHealth()), r, monitor, now)
    return replace(new, addresses=addresses)


def serving_addresses(endpoint: EndpointSpec, health: EndpointHealth) -> tuple[str, ...]:
    """The addresses to answer with: the Online ones.

    With no address Online yet (just restarted: no per-address verdict) the ones not Degraded; with
    every address Degraded (an endpoint served anyway, e.g. serve-all) all of them, never none.
    """
    if len(endpoint.addresses) < 2:
        return endpoint.addresses

    def status(a: str) -> MonitorStatus:
        return health.addresses.get(a, EndpointHealth()).status

    online = tuple(a for a in endpoint.addresses if status(a) is MonitorStatus.ONLINE)
    if online:
        return online
    unjudged = tuple(a for a in endpoint.addresses if status(a) is not MonitorStatus.DEGRADED)
    return unjudged or endpoint.addresses


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
    if health.status is MonitorStatus.THROTTLED:
        if health.successes:
            return f"{endpoint} Throttled, recovering ({health.successes} good probes in a row)"
        return f"{endpoint} Throttled{why}"
    if health.status is MonitorStatus.CHECKING:
        return f"{endpoint} CheckingEndpoint (no verdict yet{why and ', last' + why})"
    return f"{endpoint} {health.status.value}"
