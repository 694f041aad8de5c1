"""Prometheus metrics for the controller and the resolver, on a registry of their own (not the global one)."""

from __future__ import annotations

import bisect
import gzip
import weakref
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.routing import Move, classify_move
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.targets.base import ChangeResult

PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = [str(floatToGoString(b)) for b in PROBE_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]
_DOCS = {
    "up": "1 when the endpoint is Online",
    "status": "1 for the endpoint's current monitor status",
    "flaps": "Online -> Degraded transitions so far",
    "duration": "Probe latency",
    "failures": "Failed probes by reason",
    "transitions": "Monitor status transitions",
}
_DOCS_BY_NAME = {
    "dnsctl_endpoint_up": _DOCS["up"],
    "dnsctl_endpoint_status": _DOCS["status"],
    "dnsctl_endpoint_flaps": _DOCS["flaps"],
    "dnsctl_probe_duration_seconds": _DOCS["duration"],
    "dnsctl_probe_failures_total": _DOCS["failures"],
    "dnsctl_endpoint_transitions_total": _DOCS["transitions"],
}

# The type each kind is written as in the text format (as prometheus_client writes it).
_TYPES = {
    "counter": "counter",
    "gauge": "gauge",
    "histogram": "histogram",
    "summary": "summary",
    "info": "gauge",
    "stateset": "gauge",
    "gaugehistogram": "histogram",
}
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")
_FAST: weakref.WeakKeyDictionary[CollectorRegistry, EndpointSeries] = weakref.WeakKeyDictionary()
_VALUES: dict[float, str] = {}  # the text of values seen often (0, 1, bucket bounds, small counts)


def _value(v: float) -> str:
    text = _VALUES.get(v)
    if text is None:
        text = str(floatToGoString(v))  # type: ignore[no-untyped-call]
        if len(_VALUES) < 4096:
            _VALUES[v] = text
    return text


def _label(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format, as `prometheus_client.generate_latest` writes it,
    in a fraction of its time: 5,000 profiles make some 400,000 samples. The per-endpoint families
    of a `Metrics` on this registry are written last, from their own store."""
    fast = _FAST.get(registry)
    if fast is not None:
        fast.muted = True
    try:
        text = _exposition(registry)
    finally:
        if fast is not None:
            fast.muted = False
    return text + fast.render().encode("utf-8") if fast is not None else text


def metrics_body(registry: CollectorRegistry, gzipped: bool) -> tuple[bytes, str]:
    """What `/metrics` answers and its Content-Encoding. Written off the event loop (in a thread):
    thousands of endpoints take a second or more. Prometheus asks for gzip: a twentieth of the text."""
    body = exposition(registry)
    if gzipped and len(body) > 65536:
        return gzip.compress(body, compresslevel=1), "gzip"
    return body, ""


def _exposition(registry: CollectorRegistry) -> bytes:
    out: list[str] = []
    add = out.append
    for metric in registry.collect():
        name, kind = metric.name, metric.type
        if kind == "counter":
            name += "_total"
        elif kind == "info":
            name += "_info"
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        add(f"# HELP {name} {doc}\n# TYPE {name} {_TYPES.get(kind, 'untyped')}\n")
        extra: dict[str, list[str]] = {}
        for sample in metric.samples:
            labels = sample.labels
            if labels:
                items = sorted(labels.items()) if len(labels) > 1 else labels.items()
                text = ",".join([f'{k}="{_label(v)}"' for k, v in items])
                line = f"{sample.name}{{{text}}} {_value(sample.value)}\n"
            else:
                line = f"{sample.name} {_value(sample.value)}\n"
            if sample.name.endswith(_OPENMETRICS_ONLY) and sample.name != metric.name:
                suffix = sample.name[len(metric.name) :]
                if suffix in _OPENMETRICS_ONLY:
                    extra.setdefault(suffix, []).append(line)
                    continue
            add(line)
        for suffix, lines in sorted(extra.items()):
            add(f"# HELP {metric.name}{suffix} {doc}\n# TYPE {metric.name}{suffix} gauge\n")
            out.extend(lines)
    return "".join(out).encode("utf-8")


class _Endpoint:
    """One endpoint's series, as plain numbers (label text rendered once)."""

    __slots__ = ("buckets", "count", "failures", "flaps", "labels", "status", "sum", "transitions", "up")

    def __init__(self, profile: str, endpoint: str) -> None:
        self.labels = f'endpoint="{_label(endpoint)}",profile="{_label(profile)}"'
        self.up = 0.0
        self.status = MonitorStatus.CHECKING
        self.flaps = 0.0
        self.buckets: list[int] | None = None  # per bucket (not cumulative) once a probe was timed
        self.count = 0
        self.sum = 0.0
        self.failures: dict[str, int] = {}
        self.transitions: dict[str, int] = {}


class EndpointSeries(Collector):
    """The per-endpoint families (up, status, flaps, probe latency, failures, transitions).

    Kept out of prometheus_client's labelled children, whose collection costs microseconds per sample:
    at 5,000 profiles x 3 endpoints these families are some 300,000 samples. `render` writes them in
    one pass; `collect` gives the same samples to any other reader of the registry.
    """

    def __init__(self) -> None:
        self._eps: dict[tuple[str, str], _Endpoint] = {}
        self.muted = False  # while the fast path renders them itself

    def get(self, profile: str, endpoint: str) -> _Endpoint:
        ep = self._eps.get((profile, endpoint))
        if ep is None:
            ep = self._eps[(profile, endpoint)] = _Endpoint(profile, endpoint)
        return ep

    def observe(self, profile: str, endpoint: str, latency: float) -> None:
        ep = self.get(profile, endpoint)
        if ep.buckets is None:
            ep.buckets = [0] * (len(PROBE_BUCKETS) + 1)
        ep.buckets[bisect.bisect_left(PROBE_BUCKETS, latency)] += 1
        ep.count += 1
        ep.sum += latency

    def render(self) -> str:
        out: list[str] = []
        add = out.append
        eps = list(self._eps.values())
        add(f"# HELP dnsctl_endpoint_up {_DOCS['up']}\n# TYPE dnsctl_endpoint_up gauge\n")
        for ep in eps:
            add(f"dnsctl_endpoint_up{{{ep.labels}}} {_value(ep.up)}\n")
        add(f"# HELP dnsctl_endpoint_status {_DOCS['status']}\n# TYPE dnsctl_endpoint_status gauge\n")
        for ep in eps:
            for s in MonitorStatus:
                one = "1.0" if ep.status is s else "0.0"
                add(f'dnsctl_endpoint_status{{{ep.labels},status="{s.value}"}} {one}\n')
        add(f"# HELP dnsctl_endpoint_flaps {_DOCS['flaps']}\n# TYPE dnsctl_endpoint_flaps gauge\n")
        for ep in eps:
            add(f"dnsctl_endpoint_flaps{{{ep.labels}}} {_value(ep.flaps)}\n")
        name = "dnsctl_probe_duration_seconds"
        add(f"# HELP {name} {_DOCS['duration']}\n# TYPE {name} histogram\n")
        for ep in eps:
            if ep.buckets is None:
                continue
            total = 0
            for bound, n in zip(_BOUNDS, ep.buckets, strict=True):
                total += n
                add(f'{name}_bucket{{{ep.labels},le="{bound}"}} {_value(total)}\n')
            add(f"{name}_count{{{ep.labels}}} {_value(ep.count)}\n")
            add(f"{name}_sum{{{ep.labels}}} {_value(ep.sum)}\n")
        for family, attr, label in (
            ("dnsctl_probe_failures_total", "failures", "reason"),
            ("dnsctl_endpoint_transitions_total", "transitions", "to"),
        ):
            add(f"# HELP {family} {_DOCS[attr]}\n# TYPE {family} counter\n")
            for ep in eps:
                for key, n in list(getattr(ep, attr).items()):  # a copy: /metrics renders in a thread
                    # Labels in name order, as prometheus_client writes them (reason and to sort last).
                    add(f'{family}{{{ep.labels},{label}="{_label(key)}"}} {_value(n)}\n')
        return "".join(out)

    def collect(self) -> Iterable[Metric]:
        if self.muted:
            return []
        up = Metric("dnsctl_endpoint_up", _DOCS["up"], "gauge")
        status = Metric("dnsctl_endpoint_status", _DOCS["status"], "gauge")
        flaps = Metric("dnsctl_endpoint_flaps", _DOCS["flaps"], "gauge")
        duration = Metric("dnsctl_probe_duration_seconds", _DOCS["duration"], "histogram")
        failures = Metric("dnsctl_probe_failures", _DOCS["failures"], "counter")
        transitions = Metric("dnsctl_endpoint_transitions", _DOCS["transitions"], "counter")
        for (profile, endpoint), ep in list(self._eps.items()):
            labels = {"profile": profile, "endpoint": endpoint}
            up.add_sample("dnsctl_endpoint_up", labels, ep.up)
            for st in MonitorStatus:
                status.add_sample(
                    "dnsctl_endpoint_status", {**labels, "status": st.value}, float(ep.status is st)
                )
            flaps.add_sample("dnsctl_endpoint_flaps", labels, ep.flaps)
            if ep.buckets is not None:
                total = 0
                for bound, n in zip(_BOUNDS, ep.buckets, strict=True):
                    total += n
                    duration.add_sample(f"{duration.name}_bucket", {**labels, "le": bound}, float(total))
                duration.add_sample(f"{duration.name}_count", labels, float(ep.count))
                duration.add_sample(f"{duration.name}_sum", labels, ep.sum)
            for reason, n in list(ep.failures.items()):
                failures.add_sample("dnsctl_probe_failures_total", {**labels, "reason": reason}, float(n))
            for to, n in list(ep.transitions.items()):
                transitions.add_sample("dnsctl_endpoint_transitions_total", {**labels, "to": to}, float(n))
        return [up, status, flaps, duration, failures, transitions]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._profiles: dict[str, ProfileSpec] = {}
        r = self.registry
        # The per-endpoint families, kept apart so that /metrics stays fast at thousands of endpoints.
        self.endpoints = EndpointSeries()
        r.register(self.endpoints)
        _FAST[r] = self.endpoints
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
                self.endpoints.get(p.name, ep.name)  # Online 0, CheckingEndpoint 1, no flap

    def observe_round(self, outcome: RoundOutcome, results: Sequence[ProbeResult]) -> None:
        series = self.endpoints
        for res in results:
            series.observe(res.profile, res.endpoint, res.latency)
            if not res.ok and res.reason is not None:
                failures = series.get(res.profile, res.endpoint).failures
                failures[res.reason.value] = failures.get(res.reason.value, 0) + 1
        for t in outcome.transitions:
            moves = series.get(t.profile, t.endpoint).transitions
            moves[t.new.value] = moves.get(t.new.value, 0) + 1
        # Only the endpoints this outcome probed or moved: a round costs its own size, not the fleet's.
        touched = {(r.profile, r.endpoint) for r in results}
        touched.update((t.profile, t.endpoint) for t in outcome.transitions)
        for name, ep in touched:
            st = outcome.states.get(name)
            h = st.endpoints.get(ep) if st is not None else None
            if h is not None:
                self.show_endpoint(name, ep, h.status, h.flaps)
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
        ep = self.endpoints.get(profile, endpoint)
        ep.status = status
        ep.up = 1.0 if status is MonitorStatus.ONLINE else 0.0
        ep.flaps = float(flaps)

    def observe_writes(self, results: Sequence[ChangeResult]) -> None:
        for r in results:
            self.dns_writes.labels(r.change.profile, r.change.action.value, r.outcome.value).inc()
