"""The Prometheus text of the controller's metrics, written fast and kept between scrapes.

At 5,000 profiles the registry holds some 400,000 samples; prometheus_client collects them at
microseconds a sample. The per-endpoint families live in `EndpointSeries` (plain numbers, label text
rendered once) and the per-profile families in a registry of their own behind `CachedFamilies`: what did
not change since the last scrape is not written again. Up, status and flaps are written again only after
an endpoint's status or flaps changed; a histogram only after its endpoint was probed again; failures and
transitions only after one was counted; the per-profile families only after one of them changed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from dnsctl.core.health import MonitorStatus

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
_VALUES: dict[float, str] = {}  # the text of values seen often (0, 1, bucket bounds, small counts)
_HISTOGRAM = "dnsctl_probe_duration_seconds"


def _value(v: float) -> str:
    text = _VALUES.get(v)
    if text is None:
        text = str(floatToGoString(v))  # type: ignore[no-untyped-call]
        if len(_VALUES) < 4096:
            _VALUES[v] = text
    return text


def _count(n: int) -> str:
    """A count as `floatToGoString` writes it (Go turns to exponents from a million on)."""
    return f"{n}.0" if 0 <= n < 1_000_000 else _value(float(n))


def _label(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


def registry_text(registry: CollectorRegistry) -> str:
    """The registry in the Prometheus text format, as `prometheus_client.generate_latest` writes it."""
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
    return "".join(out)


class CachedFamilies(Collector):
    """The families of `registry` (a registry of their own), seen by every reader of the registry this
    collector is registered in, and written as text again only after `changed()` was called."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.muted = False  # while the fast path writes them itself
        self._version = 0
        self._text = ""
        self._text_version = -1

    def changed(self) -> None:
        self._version += 1

    def collect(self) -> Iterable[Metric]:
        return [] if self.muted else list(self.registry.collect())

    def render(self) -> str:
        version = self._version  # read first: a change while writing is written at the next scrape
        if version != self._text_version:
            self._text = registry_text(self.registry)
            self._text_version = version
        return self._text


class _Endpoint:
    """One endpoint's series, as plain numbers (label text rendered once), and its histogram's text."""

    __slots__ = (
        "buckets",
        "count",
        "failures",
        "flaps",
        "histogram",
        "histogram_count",
        "labels",
        "status",
        "sum",
        "transitions",
        "up",
    )

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
        self.histogram = ""  # the histogram's lines as last written, for `histogram_count` probes
        self.histogram_count = 0

    def histogram_text(self) -> str:
        count = self.count
        if count != self.histogram_count or not self.histogram:
            buckets = list(self.buckets or ())  # a copy: /metrics is written in a thread
            lines = []
            total = 0
            for bound, n in zip(_BOUNDS, buckets, strict=True):
                total += n
                lines.append(f'{_HISTOGRAM}_bucket{{{self.labels},le="{bound}"}} {_count(total)}\n')
            lines.append(f"{_HISTOGRAM}_count{{{self.labels}}} {_count(count)}\n")
            total_sum = str(floatToGoString(self.sum))  # type: ignore[no-untyped-call]
            lines.append(f"{_HISTOGRAM}_sum{{{self.labels}}} {total_sum}\n")
            self.histogram = "".join(lines)
            self.histogram_count = count
        return self.histogram


class EndpointSeries(Collector):
    """The per-endpoint families (up, status, flaps, probe latency, failures, transitions).

    Kept out of prometheus_client's labelled children, whose collection costs microseconds per sample:
    at 5,000 profiles x 3 endpoints these families are some 300,000 samples. `render` writes them in
    one pass, again only what changed; `collect` gives the same samples to any other reader.
    """

    def __init__(self) -> None:
        self._eps: dict[tuple[str, str], _Endpoint] = {}
        self.muted = False  # while the fast path renders them itself
        self._states = 0  # bumped when an up, status or flaps value (or an endpoint) is new
        self._events = 0  # bumped when a failure or a transition is counted
        self._states_text: tuple[int, str] = (-1, "")
        self._events_text: tuple[int, str] = (-1, "")

    def get(self, profile: str, endpoint: str) -> _Endpoint:
        ep = self._eps.get((profile, endpoint))
        if ep is None:
            ep = self._eps[(profile, endpoint)] = _Endpoint(profile, endpoint)
            self._states += 1
            self._events += 1
        return ep

    def observe(self, profile: str, endpoint: str, latency: float) -> None:
        self.time(self.get(profile, endpoint), latency)

    @staticmethod
    def time(ep: _Endpoint, latency: float) -> None:
        """One probe's latency into its endpoint's histogram."""
        if ep.buckets is None:
            ep.buckets = [0] * (len(PROBE_BUCKETS) + 1)
        ep.buckets[bisect.bisect_left(PROBE_BUCKETS, latency)] += 1
        ep.sum += latency
        ep.count += 1  # last: the count says the histogram changed

    def count_failure(self, ep: _Endpoint, reason: str) -> None:
        ep.failures[reason] = ep.failures.get(reason, 0) + 1
        self._events += 1

    def count_transition(self, ep: _Endpoint, to: str) -> None:
        ep.transitions[to] = ep.transitions.get(to, 0) + 1
        self._events += 1

    def show(self, ep: _Endpoint, status: MonitorStatus, flaps: int) -> None:
        if ep.status is not status or ep.flaps != flaps:
            ep.status = status
            ep.up = 1.0 if status is MonitorStatus.ONLINE else 0.0
            ep.flaps = float(flaps)
            self._states += 1

    def render(self) -> str:
        eps = list(self._eps.values())
        states, events = self._states, self._events  # read first: later changes go to the next scrape
        if self._states_text[0] != states:
            self._states_text = (states, self._render_states(eps))
        histograms = [ep.histogram_text() for ep in eps if ep.buckets is not None]
        if self._events_text[0] != events:
            self._events_text = (events, self._render_events(eps))
        name = _HISTOGRAM
        head = f"# HELP {name} {_DOCS['duration']}\n# TYPE {name} histogram\n"
        return "".join([self._states_text[1], head, *histograms, self._events_text[1]])

    @staticmethod
    def _render_states(eps: list[_Endpoint]) -> str:
        out: list[str] = []
        add = out.append
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
        return "".join(out)

    @staticmethod
    def _render_events(eps: list[_Endpoint]) -> str:
        out: list[str] = []
        add = out.append
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
        duration = Metric(_HISTOGRAM, _DOCS["duration"], "histogram")
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
