"""Builders for core tests: specs with sensible defaults, probe results, and a manual-clock driver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dnsctl.core.decision import Decision
from dnsctl.core.health import EndpointHealth, observe
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    IsolationGuardSpec,
    MonitorSpec,
    ProfileSpec,
    ResolverSpec,
    ViewSpec,
)
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.core.state import (
    DecisionChange,
    ProfileState,
    RoundOutcome,
    Transition,
    initial_states,
    step,
)

PROFILE = "myregistry"
T0 = 1_000_000.0


def endpoint(name: str, priority: int, **kw: object) -> EndpointSpec:
    return EndpointSpec(name=name, target=f"{PROFILE}.{name}.geo.azurecr.io", priority=priority, **kw)  # type: ignore[arg-type]


def monitor(**kw: object) -> MonitorSpec:
    base: dict[str, object] = {"interval": 10.0, "timeout": 5.0, "fall": 3, "rise": 2}
    base.update(kw)
    return MonitorSpec(**base)  # type: ignore[arg-type]


def profile(
    *endpoints: EndpointSpec,
    name: str = PROFILE,
    monitor_spec: MonitorSpec | None = None,
    **kw: object,
) -> ProfileSpec:
    """A profile; without endpoints, the reference pair eastus (1) and westeurope (2)."""
    eps = endpoints or (endpoint("eastus", 1), endpoint("westeurope", 2))
    return ProfileSpec(
        name=name,
        fqdn=f"{name}.azurecr.io",
        endpoints=eps,
        monitor=monitor_spec or monitor(),
        **kw,  # type: ignore[arg-type]
    )


def spec(
    *profiles: ProfileSpec,
    views: Sequence[ViewSpec] = (),
    guard: IsolationGuardSpec | None = None,
) -> DnsctlSpec:
    return DnsctlSpec(
        profiles=profiles or (profile(),),
        resolver=ResolverSpec(views=tuple(views)),
        isolation_guard=guard or IsolationGuardSpec(),
    )


def ok(endpoint: str, at: float = T0, latency: float = 0.020, profile: str = PROFILE) -> ProbeResult:
    return ProbeResult(profile, endpoint, at, True, latency, "10.0.0.1", status_code=401)


def fail(
    endpoint: str,
    at: float = T0,
    reason: FailureReason = FailureReason.CONNECT_TIMEOUT,
    detail: str = "",
    profile: str = PROFILE,
) -> ProbeResult:
    return ProbeResult(profile, endpoint, at, False, 5.0, "10.0.0.1", reason=reason, detail=detail)


def result(
    endpoint: str, up: bool, at: float = T0, latency: float = 0.020, profile: str = PROFILE
) -> ProbeResult:
    return ok(endpoint, at, latency, profile) if up else fail(endpoint, at, profile=profile)


def fold(
    verdicts: Iterable[bool],
    mon: MonitorSpec | None = None,
    start: float = T0,
    every: float = 10.0,
    health: EndpointHealth | None = None,
) -> EndpointHealth:
    """Feed a sequence of probe verdicts for one endpoint, one per `every` seconds."""
    mon = mon or monitor()
    h = health or EndpointHealth()
    now = start
    for up in verdicts:
        h = observe(h, result("eastus", up, now), mon, now)
        now += every
    return h


def online_since(at: float, latency: float = 0.020) -> EndpointHealth:
    """An endpoint that has been Online since `at` (its first success)."""
    return observe(EndpointHealth(), ok("x", at, latency), monitor(), at)


def degraded(failures: int = 3, reason: FailureReason = FailureReason.CONNECT_TIMEOUT) -> EndpointHealth:
    h = EndpointHealth()
    for i in range(failures):
        h = observe(h, fail("x", T0 + i, reason=reason), monitor(fall=failures), T0 + i)
    return h


@dataclass
class Engine:
    """Drives `step` like the controller does, with a manual clock; keeps every event it saw."""

    spec: DnsctlSpec
    now: float = T0
    states: Mapping[str, ProfileState] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    changes: list[DecisionChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.states:
            self.states = initial_states(self.spec, self.now)

    def round(
        self,
        verdicts: Mapping[str, bool],
        profile: str = PROFILE,
        advance: float = 10.0,
        latency: Mapping[str, float] | None = None,
    ) -> RoundOutcome:
        """One round of results for one profile at `now`, then the clock moves on by `advance`."""
        lat = latency or {}
        results = [result(ep, up, self.now, lat.get(ep, 0.020), profile) for ep, up in verdicts.items()]
        return self.feed(results, advance)

    def feed(self, results: Sequence[ProbeResult], advance: float = 10.0) -> RoundOutcome:
        out = step(self.spec, self.states, results, self.now)
        self._absorb(out)
        self.now += advance
        return out

    def redecide(self, profile: str = PROFILE) -> RoundOutcome:
        out = step(self.spec, self.states, (), self.now, profiles=[profile])
        self._absorb(out)
        return out

    def update(self, profile: str, st: ProfileState) -> None:
        self.states = {**self.states, profile: st}

    def decision(self, profile: str = PROFILE, view: str | None = None) -> Decision | None:
        st = self.states[profile]
        if view is None:
            return st.decision
        rs = st.views.get(view)
        return rs.decision if rs is not None else None

    def health(self, endpoint: str, profile: str = PROFILE) -> EndpointHealth:
        return self.states[profile].endpoints.get(endpoint, EndpointHealth())

    def _absorb(self, out: RoundOutcome) -> None:
        self.states = out.states
        self.transitions.extend(out.transitions)
        self.changes.extend(out.changes)


def with_monitor(p: ProfileSpec, **kw: object) -> ProfileSpec:
    return replace(p, monitor=replace(p.monitor, **kw))  # type: ignore[arg-type]
