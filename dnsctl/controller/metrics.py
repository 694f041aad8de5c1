"""Prometheus metrics for the controller and the resolver, on a registry of their own (not the global one)."""

from __future__ import annotations

import gzip
import weakref
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from dnsctl.controller.metric_text import CachedFamilies, EndpointSeries, registry_text
from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.routing import Move, classify_move
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.targets.base import ChangeResult

_FAST: weakref.WeakKeyDictionary[CollectorRegistry, tuple[EndpointSeries, CachedFamilies]] = (
    weakref.WeakKeyDictionary()
)


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format, as `prometheus_client.generate_latest` writes it,
    in a fraction of its time: 5,000 profiles make some 400,000 samples. The per-endpoint and
    per-profile families of a `Metrics` on this registry are written last, from their own stores,
    and only what changed since the last scrape is written again (`dnsctl.controller.metric_text`)."""
    fast = _FAST.get(registry)
    if fast is None:
        return registry_text(registry).encode("utf-8")
    endpoints, profiles = fast
    endpoints.muted = profiles.muted = True
    try:
        text = registry_text(registry)
    finally:
        endpoints.muted = profiles.muted = False
    return "".join([text, profiles.render(), endpoints.render()]).encode("utf-8")


def metrics_body(registry: CollectorRegistry, gzipped: bool) -> tuple[bytes, str]:
    """What `/metrics` answers and its Content-Encoding. Written off the event loop (in a thread):
    thousands of endpoints take a second or more. Prometheus asks for gzip: a twentieth of the text."""
    body = exposition(registry)
    if gzipped and len(body) > 65536:
        return gzip.compress(body, compresslevel=1), "gzip"
    return body, ""


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._profiles: dict[str, ProfileSpec] = {}
        r = self.registry
        # The per-endpoint families, kept apart so that /metrics stays fast at thousands of endpoints.
        self.endpoints = EndpointSeries()
        r.register(self.endpoints)
        # The per-profile families, on a registry of their own: written again only after a change.
        per_profile = CollectorRegistry()
        self.per_profile = CachedFamilies(per_profile)
        r.register(self.per_profile)
        _FAST[r] = (self.endpoints, self.per_profile)
        self.decision_changes = Counter(
            "dnsctl_decision_changes_total", "Decision changes", ["profile", "view"], registry=per_profile
        )
        self.failovers = Counter(
            "dnsctl_failovers_total",
            "Moves away from an endpoint that is no longer Online (or to the fallback target)",
            ["profile"],
            registry=per_profile,
        )
        self.failbacks = Counter(
            "dnsctl_failbacks_total",
            "Moves back to a better endpoint once it recovered (automatic or by the operator)",
            ["profile"],
            registry=per_profile,
        )
        self.isolated = Gauge(
            "dnsctl_isolation_guard_active", "1 while the isolation guard freezes decisions", registry=r
        )
        self.dns_writes = Counter(
            "dnsctl_dns_writes_total",
            "DNS record writes by result",
            ["profile", "action", "result"],
            registry=per_profile,
        )
        self.last_reconcile = Gauge(
            "dnsctl_last_successful_reconcile_timestamp_seconds",
            "When the last reconcile converged",
            registry=r,
        )
        self.reconcile_errors = Gauge(
            "dnsctl_reconcile_consecutive_errors", "Reconcile passes failed in a row", registry=r
        )
        self.drift = Counter(
            "dnsctl_drift_detected_total",
            "Records found changed by someone else",
            ["profile", "owned"],
            registry=r,
        )
        self.leader = Gauge(
            "dnsctl_leader", "1 while this replica holds the lease and writes DNS", registry=r
        )
        self.lease_errors = Counter(
            "dnsctl_lease_errors",
            "Failed lease attempts (unreachable, refused, bad credential); another holder is no error",
            registry=r,
        )
        self.ready = Gauge("dnsctl_ready", "1 exactly when /readyz answers 200", registry=r)
        self.state_read = Gauge(
            "dnsctl_state_read",
            "1 once the stored health history has been read; 0 while it is unknown (nothing is written)",
            registry=r,
        )
        self.state_read_errors = Counter(
            "dnsctl_state_read_errors_total", "Failed attempts to read the stored state at start", registry=r
        )
        self.state_problem = Gauge(
            "dnsctl_state_problem",
            "1 when the stored state was unusable at start (a bad state file is moved aside)",
            registry=r,
        )
        self.state_save_errors = Counter(
            "dnsctl_state_save_errors_total", "Failed saves of the health history", registry=r
        )
        self.loop_lag = Gauge(
            "dnsctl_event_loop_lag_seconds",
            "How late the event loop ran its timers lately (the largest delay in the last few seconds)",
            registry=r,
        )
        self.probes_due = Counter(
            "dnsctl_probes_due_total",
            "Probes the schedule asked for (every interval, late or not)",
            registry=r,
        )
        self.probes_sent = Counter("dnsctl_probes_sent_total", "Probes made", registry=r)
        self.probe_rounds_late = Counter(
            "dnsctl_probe_rounds_late_total",
            "Probe rounds that started an interval or more after they were due (the previous one was slow)",
            registry=r,
        )
        self.probes_in_flight = Gauge("dnsctl_probes_in_flight", "Probes in flight now", registry=r)
        self.probe_limit = Gauge(
            "dnsctl_probes_in_flight_limit",
            "The bound on probes in flight (lowered for a while after this process ran out of file "
            "descriptors or buffers)",
            registry=r,
        )
        self.target = Gauge(
            "dnsctl_profile_target",
            "1 for the kind of target each profile publishes to",
            ["profile", "kind"],
            registry=per_profile,
        )

    def init_profiles(self, spec: DnsctlSpec) -> None:
        """Create every labelled series at zero, so dashboards see them before the first event."""
        self._profiles = {p.name: p for p in spec.profiles}
        self.per_profile.changed()
        for p in spec.profiles:
            if p.publication is not None:
                self.target.labels(p.name, p.publication.kind).set(1)
            self.failovers.labels(p.name)
            self.failbacks.labels(p.name)
            self.decision_changes.labels(p.name, "")
            for ep in p.endpoints:
                self.endpoints.get(p.name, ep.name)  # Online 0, CheckingEndpoint 1, no flap

    def observe_round(self, outcome: RoundOutcome, results: Sequence[ProbeResult]) -> None:
        # Only the endpoints this outcome probed or moved: a round costs its own size, not the fleet's.
        series, states = self.endpoints, outcome.states
        for res in results:
            ep = series.get(res.profile, res.endpoint)
            series.time(ep, res.latency)
            if not res.ok and res.reason is not None:
                series.count_failure(ep, res.reason.value)
            st = states.get(res.profile)
            h = st.endpoints.get(res.endpoint) if st is not None else None
            if h is not None:
                series.show(ep, h.status, h.flaps)
        for t in outcome.transitions:
            ep = series.get(t.profile, t.endpoint)
            series.count_transition(ep, t.new.value)
            st = states.get(t.profile)
            h = st.endpoints.get(t.endpoint) if st is not None else None
            if h is not None:
                series.show(ep, h.status, h.flaps)
        if outcome.changes:
            self.per_profile.changed()
        for c in outcome.changes:
            self.decision_changes.labels(c.profile, c.view or "").inc()
            profile = self._profiles.get(c.profile)
            after = outcome.states.get(c.profile)
            if c.view is not None or profile is None or after is None:
                continue
            move = classify_move(profile, after.endpoints, after.overrides, c.old, c.new)
            if move is Move.FAILOVER:
                self.failovers.labels(c.profile).inc()
            elif move is Move.FAILBACK:
                self.failbacks.labels(c.profile).inc()
        if results:  # a re-decision without probes says nothing about isolation
            self.isolated.set(1 if outcome.isolated else 0)

    def show_states(self, states: Mapping[str, ProfileState]) -> None:
        """Every endpoint's series from `states` (after the stored state is restored, or at start)."""
        for name, st in states.items():
            for ep, h in st.endpoints.items():
                self.show_endpoint(name, ep, h.status, h.flaps)

    def show_endpoint(self, profile: str, endpoint: str, status: MonitorStatus, flaps: int) -> None:
        self.endpoints.show(self.endpoints.get(profile, endpoint), status, flaps)

    def observe_writes(self, results: Sequence[ChangeResult]) -> None:
        if results:
            self.per_profile.changed()
        for r in results:
            self.dns_writes.labels(r.change.profile, r.change.action.value, r.outcome.value).inc()
