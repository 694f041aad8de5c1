"""Resolver counters in a plain object, and an optional Prometheus collector over it."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from dnslib import QTYPE, RCODE
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from dnsctl.resolver.forwarder import UpstreamState

# UDP answers from memory take microseconds: one in this many (a power of two) is timed.
MEMORY_ANSWER_SAMPLE = 32
LATENCY_HELP = (
    "Time to answer, sampled: every answer that needed an upstream, one in "
    f"{MEMORY_ANSWER_SAMPLE} UDP answers from memory, no TCP answer from memory "
    "(count queries with dnsctl_resolver_queries_total)"
)

# Query types exported by name; every other number is counted as "other", so that a client sweeping the
# 65,536 qtypes cannot add a series per number.
KNOWN_QTYPES: dict[int, str] = {int(k): str(v) for k, v in QTYPE.forward.items()}
OTHER_QTYPE = -1

# Seconds, from the in-process time of a cached answer to a slow upstream.
LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1,
    2.5,
)


class AnswerCounts:
    """Replies counted by one thread: the event loop's, or one UDP reader's (resolver/udp_reader.py).
    Only that thread writes them, so no increment is lost; ResolverMetrics adds them up when read."""

    __slots__ = ("cache_hits", "dropped", "latency_counts", "latency_sum", "queries")

    def __init__(self) -> None:
        self.queries: dict[tuple[int, int], int] = {}  # (qtype, rcode) -> replies sent
        self.cache_hits = 0
        self.dropped = 0  # packets dropped without a reply
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def observe(self, seconds: float) -> None:
        self.latency_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds


class ResolverMetrics:
    """What the resolver counts. Plain integers: cheap on the query path, exported by whoever wants to.
    Replies are counted per thread (`loop`, and one `AnswerCounts` per UDP reader); read them here."""

    def __init__(self) -> None:
        self.loop = AnswerCounts()
        self.readers: list[AnswerCounts] = []
        self.cache_misses = 0
        self.stale_served = 0
        self.refused = 0
        self.rate_limited = 0  # written under the server's rate limiter lock, from any thread
        self.malformed = 0
        self.internal_errors = 0
        self.upstream_failures: dict[str, int] = {}
        self.tcp_refused: dict[str, int] = {}  # reason -> TCP connections closed at accept
        self.tcp_evicted = 0
        self.tcp_connections: Callable[[], int] = lambda: 0
        self.cache_size: Callable[[], int] = lambda: 0
        self.upstreams: Callable[[], Sequence[UpstreamState]] = lambda: ()

    def reader(self) -> AnswerCounts:
        """Counters for one more UDP reader thread."""
        counts = AnswerCounts()
        self.readers.append(counts)
        return counts

    def count(self, qtype: int, rcode: int) -> None:
        """Count a reply sent from the event loop."""
        key = (qtype if qtype in KNOWN_QTYPES else OTHER_QTYPE, rcode)
        queries = self.loop.queries
        queries[key] = queries.get(key, 0) + 1

    def observe(self, seconds: float) -> None:
        """Time a reply sent from the event loop."""
        self.loop.observe(seconds)

    def _all(self) -> list[AnswerCounts]:
        return [self.loop, *self.readers]

    @property
    def cache_hits(self) -> int:
        return sum(c.cache_hits for c in self._all())

    @property
    def dropped(self) -> int:
        return sum(c.dropped for c in self._all())

    @property
    def latency_counts(self) -> list[int]:
        return [sum(column) for column in zip(*(c.latency_counts for c in self._all()), strict=True)]

    @property
    def latency_sum(self) -> float:
        return sum(c.latency_sum for c in self._all())

    @property
    def total_queries(self) -> int:
        return sum(sum(c.queries.values()) for c in self._all())

    def by_qtype_rcode(self) -> dict[tuple[str, str], int]:
        """Query counts keyed by names, e.g. ("A", "NOERROR"); unknown qtypes as "other"."""
        self._fold_unknown()
        out: dict[tuple[str, str], int] = {}
        for counts in self._all():
            # A reader's dict is read as a copy: that thread may add a key meanwhile.
            for (qtype, rcode), n in list(counts.queries.items()):
                key = (KNOWN_QTYPES.get(qtype, "other"), str(RCODE.get(rcode, str(rcode))))
                out[key] = out.get(key, 0) + n
        return out

    def _fold_unknown(self) -> None:
        """Merge the event loop's counts kept under an unknown qtype (answers from memory count their own)
        into "other", in place: the query path holds this very dict. Readers count "other" themselves."""
        queries = self.loop.queries
        for key in [k for k in queries if k[0] not in KNOWN_QTYPES and k[0] != OTHER_QTYPE]:
            other = (OTHER_QTYPE, key[1])
            queries[other] = queries.get(other, 0) + queries.pop(key)


class PrometheusCollector(Collector):
    """Exports a ResolverMetrics into the registry it is given (never the global default)."""

    def __init__(self, metrics: ResolverMetrics, registry: CollectorRegistry) -> None:
        self.metrics = metrics
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        queries = CounterMetricFamily("dnsctl_resolver_queries", "Replies sent", labels=["qtype", "rcode"])
        for (qtype, rcode), n in sorted(m.by_qtype_rcode().items()):
            queries.add_metric([qtype, rcode], n)
        yield queries
        for name, doc, value in (
            ("cache_hits", "Answers served from cache", m.cache_hits),
            ("cache_misses", "Queries forwarded because the cache had no fresh answer", m.cache_misses),
            ("stale_served", "Stale answers served while every upstream failed", m.stale_served),
            ("refused", "Queries refused (client outside the allow-list)", m.refused),
            (
                "rate_limited",
                "UDP responses over the rate limit (dropped, or sent truncated)",
                m.rate_limited,
            ),
            ("dropped", "Packets dropped without a reply", m.dropped),
            ("malformed", "Malformed queries answered FORMERR or NOTIMP", m.malformed),
            ("internal_errors", "Queries that hit an internal error", m.internal_errors),
        ):
            yield CounterMetricFamily(f"dnsctl_resolver_{name}", doc, value=value)
        refused = CounterMetricFamily(
            "dnsctl_resolver_tcp_refused",
            "TCP connections closed at accept (not_allowed, per_client_limit, server_full)",
            labels=["reason"],
        )
        for reason, n in sorted(m.tcp_refused.items()):
            refused.add_metric([reason], n)
        yield refused
        yield CounterMetricFamily(
            "dnsctl_resolver_tcp_evicted",
            "Idle TCP connections closed to make room for a new one",
            value=m.tcp_evicted,
        )
        yield GaugeMetricFamily(
            "dnsctl_resolver_tcp_connections", "Open TCP connections", value=m.tcp_connections()
        )
        failures = CounterMetricFamily(
            "dnsctl_resolver_upstream_failures", "Failed upstream exchanges", labels=["upstream"]
        )
        for upstream, n in sorted(m.upstream_failures.items()):
            failures.add_metric([upstream], n)
        yield failures
        states = m.upstreams()
        up = GaugeMetricFamily(
            "dnsctl_upstream_up",
            "1 while the upstream answers, 0 while it is down (queries in a row unanswered)",
            labels=["upstream"],
        )
        skipped = CounterMetricFamily(
            "dnsctl_upstream_skipped",
            "Queries that skipped the upstream because it was down",
            labels=["upstream"],
        )
        retry = GaugeMetricFamily(
            "dnsctl_upstream_first_retry_seconds",
            "How long a UDP query to the upstream waits for a reply before it is sent again "
            "(from its round trips; 0.3 until one is known)",
            labels=["upstream"],
        )
        for state in states:
            up.add_metric([state.upstream], 1.0 if state.up else 0.0)
            skipped.add_metric([state.upstream], state.skipped)
            retry.add_metric([state.upstream], state.first_retry)
        yield up
        yield skipped
        yield retry
        yield GaugeMetricFamily("dnsctl_resolver_cache_entries", "Answers in cache", value=m.cache_size())
        cumulative, buckets = 0, []
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), m.latency_counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(cumulative)))
        yield HistogramMetricFamily(
            "dnsctl_resolver_latency_sampled_seconds",
            LATENCY_HELP,
            buckets=buckets,
            sum_value=m.latency_sum,
        )
