"""Prometheus metrics for the controller and the resolver, on a registry of their own (not the global one)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.routing import Move, classify_move
from dnsctl.core.state import RoundOutcome
from dnsctl.targets.base import ChangeResult

PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._profiles: dict[str, ProfileSpec] = {}
        r = self.registry
        pe = ["profile", "endpoint"]
        self.endpoint_up = Gauge("dnsctl_endpoint_up", "1 when the endpoint is Online", pe, registry=r)
        self.endpoint_status = Gauge(
            "dnsctl_endpoint_status",
            "1 for the endpoint's current monitor status",
            [*pe, "status"],
            registry=r,
        )
        self.probe_duration = Histogram(
            "dnsctl_probe_duration_seconds", "Probe latency", pe, buckets=PROBE_BUCKETS, registry=r
        )
        self.probe_failures = Counter(
            "dnsctl_probe_failures_total", "Failed probes by reason", [*pe, "reason"], registry=r
        )
        self.transitions = Counter(
            "dnsctl_endpoint_transitions_total", "Monitor status transitions", [*pe, "to"], registry=r
        )
        self.flaps = Gauge("dnsctl_endpoint_flaps", "Online -> Degraded transitions so far", pe, registry=r)
        self.decision_changes = Counter(
            "dnsctl_decision_changes_total", "Decision changes", ["profile", "view"], registry=r
        )
        self.failovers = Counter(
            "dnsctl_failovers_total",
            "Moves away from an endpoint that is no longer Online (or to the fallback target)",
            ["profile"],
            registry=r,
        )
        self.failbacks = Counter(
            "dnsctl_failbacks_total",
            "Moves back to a better endpoint once it recovered (automatic or by the operator)",
            ["profile"],
            registry=r,
        )
        self.isolated = Gauge(
            "dnsctl_isolation_guard_active", "1 while the isolation guard freezes decisions", registry=r
        )
        self.dns_writes = Counter(
            "dnsctl_dns_writes_total",
            "DNS record writes by result",
            ["profile", "action", "result"],
            registry=r,
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
        self.target = Gauge(
            "dnsctl_profile_target",
            "1 for the kind of target each profile publishes to",
            ["profile", "kind"],
            registry=r,
        )

    def init_profiles(self, spec: DnsctlSpec) -> None:
        """Create every labelled series at zero, so dashboards see them before the first event."""
        self._profiles = {p.name: p for p in spec.profiles}
        for p in spec.profiles:
            if p.publication is not None:
                self.target.labels(p.name, p.publication.kind).set(1)
            self.failovers.labels(p.name)
            self.failbacks.labels(p.name)
            self.decision_changes.labels(p.name, "")
            for ep in p.endpoints:
                self.endpoint_up.labels(p.name, ep.name).set(0)
                self.flaps.labels(p.name, ep.name).set(0)
                for s in MonitorStatus:
                    self.endpoint_status.labels(p.name, ep.name, s.value).set(
                        1 if s is MonitorStatus.CHECKING else 0
                    )

    def observe_round(self, outcome: RoundOutcome, results: Sequence[ProbeResult]) -> None:
        for res in results:
            self.probe_duration.labels(res.profile, res.endpoint).observe(res.latency)
            if not res.ok and res.reason is not None:
                self.probe_failures.labels(res.profile, res.endpoint, res.reason.value).inc()
        for t in outcome.transitions:
            self.transitions.labels(t.profile, t.endpoint, t.new.value).inc()
        for name, st in outcome.states.items():
            for ep, h in st.endpoints.items():
                self.endpoint_up.labels(name, ep).set(1 if h.status is MonitorStatus.ONLINE else 0)
                self.flaps.labels(name, ep).set(h.flaps)
                for s in MonitorStatus:
                    self.endpoint_status.labels(name, ep, s.value).set(1 if h.status is s else 0)
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

    def observe_writes(self, results: Sequence[ChangeResult]) -> None:
        for r in results:
            self.dns_writes.labels(r.change.profile, r.change.action.value, r.outcome.value).inc()
