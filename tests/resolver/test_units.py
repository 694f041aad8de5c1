"""The pure pieces alone: query parsing, upstream reply normalizing, cache, rate limiter, metrics."""

from __future__ import annotations

import ipaddress

import dns.edns
import dns.message
import dns.rrset
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dnsctl.core.model import CacheSpec, RateLimitSpec
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.cache import AnswerCache
from dnsctl.resolver.metrics import PrometheusCollector, ResolverMetrics
from dnsctl.resolver.normalize import normalize_reply
from dnsctl.resolver.ratelimit import DEFAULT_QPS, RateLimiter, effective_qps, response_limiter
from dnsctl.resolver.wire import FORMERR, NOTIMP, Malformed, lookup_key, parse_query


def test_parse_keeps_the_client_case_and_lowercases_the_key() -> None:
    wire = dns.message.make_query(
        "WwW.ExAmple.COM", "AAAA", use_edns=0, payload=3000, want_dnssec=True
    ).to_wire()
    q = parse_query(wire)
    assert q.qname == b"\x03WwW\x07ExAmple\x03COM\x00"
    assert q.key == lookup_key("www.example.com", 28)
    assert (q.qtype, q.qclass, q.edns, q.do, q.version, q.limit) == (28, 1, True, True, 0, 3000)


def test_parse_limits() -> None:
    assert parse_query(dns.message.make_query("a.example", "A", use_edns=False).to_wire()).limit == 512
    huge = dns.message.make_query("a.example", "A", use_edns=0, payload=65000).to_wire()
    assert parse_query(huge).limit == 4096
    tiny = dns.message.make_query("a.example", "A", use_edns=0, payload=100).to_wire()
    assert parse_query(tiny).limit == 512


def test_parse_ecs_and_rejects_a_bad_one() -> None:
    good = dns.message.make_query("a.example", "A", use_edns=0, options=[dns.edns.ECSOption("10.2.3.0", 24)])
    ecs = parse_query(good.to_wire()).ecs
    assert ecs is not None and (ecs.family, ecs.source, ecs.address) == (1, 24, b"\x0a\x02\x03")
    bad = bytearray(good.to_wire())
    bad[-5] = 40  # source prefix 40 for IPv4
    with pytest.raises(Malformed) as caught:
        parse_query(bytes(bad))
    assert caught.value.rcode == FORMERR


def test_parse_opcode_and_response() -> None:
    wire = bytearray(dns.message.make_query("a.example", "A").to_wire())
    wire[2] |= 4 << 3  # NOTIFY
    with pytest.raises(Malformed) as caught:
        parse_query(bytes(wire))
    assert caught.value.rcode == NOTIMP
    wire[2] = 0x80
    with pytest.raises(Malformed) as caught:
        parse_query(bytes(wire))
    assert caught.value.rcode is None


def upstream_reply(
    name: str, ttls: list[int], *, rcode: int = 0, soa: tuple[int, int] | None = None
) -> bytes:
    query = dns.message.make_query(name, "A", use_edns=0)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    for i, ttl in enumerate(ttls):
        reply.answer.append(dns.rrset.from_text(name, ttl, "IN", "A", f"192.0.2.{i + 1}"))
    if soa is not None:
        ttl, minimum = soa
        reply.authority.append(dns.rrset.from_text("example.", ttl, "IN", "SOA", f"ns. h. 1 2 3 4 {minimum}"))
    return reply.to_wire()


QLEN = len(b"\x04host\x07example\x00")


def test_normalize_strips_opt_and_clamps_ttls() -> None:
    wire = upstream_reply("host.example.", [500, 100000])
    assert dns.message.from_wire(wire).edns == 0
    normalized = normalize_reply(wire, QLEN, CacheSpec(max_ttl=3600))
    assert normalized.answer.ar == 0 and normalized.lifetime == 500
    message = dns.message.from_wire(normalized.answer.message(b"\x04host\x07example\x00"))
    assert message.edns == -1
    assert sorted(rr.ttl for rr in message.answer) == [500]  # one RRset: dnspython keeps the lowest
    assert normalized.answer.body.count(b"\x00\x00\x0e\x10") == 1  # 100000 clamped to 3600 (0x0e10)


def test_normalize_negative_ttl() -> None:
    nx = normalize_reply(upstream_reply("host.example.", [], rcode=3, soa=(3600, 40)), QLEN, CacheSpec())
    assert nx.lifetime == 40
    capped = normalize_reply(
        upstream_reply("host.example.", [], rcode=3, soa=(3600, 4000)), QLEN, CacheSpec()
    )
    assert capped.lifetime == 900
    no_soa = normalize_reply(upstream_reply("host.example.", [], rcode=3), QLEN, CacheSpec())
    assert no_soa.lifetime == 0


NAME = b"\x04host\x07example\x00"


def ttl_of(answer: Answer | None) -> int:
    assert answer is not None
    return int(dns.message.from_wire(answer.message(NAME)).answer[0].ttl)


def test_cache_counts_down_expires_and_serves_stale() -> None:
    spec = CacheSpec(serve_stale=100)
    cache = AnswerCache(spec)
    key = lookup_key("host.example", 1)
    cache.store(key, normalize_reply(upstream_reply("host.example.", [60]), QLEN, spec), 0.0)
    assert ttl_of(cache.fresh(key, 10.7)) == 50
    assert ttl_of(cache.fresh(key, 59.9)) == 1
    assert cache.fresh(key, 60.0) is None
    assert ttl_of(cache.stale(key, 60.0)) == 30
    assert cache.stale(key, 161.0) is None and len(cache) == 0


def test_cache_evicts_least_recently_used() -> None:
    spec = CacheSpec(max_entries=2)
    cache = AnswerCache(spec)
    normalized = normalize_reply(upstream_reply("host.example.", [60]), QLEN, spec)
    cache.store(b"a", normalized, 0)
    cache.store(b"b", normalized, 0)
    assert cache.fresh(b"a", 1) is not None
    cache.store(b"c", normalized, 1)
    assert cache.fresh(b"b", 1) is None and cache.fresh(b"a", 1) is not None and len(cache) == 2


def test_rate_limiter_refills_per_network_and_question() -> None:
    limiter = RateLimiter(RateLimitSpec(qps=2, burst=3))
    assert [limiter.allow("10.0.0.1", b"q", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("10.0.0.200", b"q", 0.0)  # the same /24 shares the bucket
    assert limiter.allow("10.0.1.1", b"q", 0.0)  # another /24 does not
    assert limiter.allow("10.0.0.1", b"other question", 0.0)
    assert not limiter.allow("10.0.0.1", b"q", 0.4)
    assert limiter.allow("10.0.0.1", b"q", 1.0)


def test_rate_limiter_groups_ipv6_clients_by_56() -> None:
    limiter = RateLimiter(RateLimitSpec(qps=1, burst=1))
    assert limiter.allow("2001:db8:0:ab00::1", b"q", 0.0)
    assert not limiter.allow("2001:db8:0:abff::2", b"q", 0.0)
    assert limiter.allow("2001:db8:0:ac00::1", b"q", 0.0)


@pytest.mark.parametrize(("slip", "pattern"), [(0, "...."), (1, "TTTT"), (2, ".T.T"), (3, "..T.")])
def test_every_slip_th_over_limit_response_is_truncated(slip: int, pattern: str) -> None:
    limiter = RateLimiter(RateLimitSpec(qps=1, burst=1, slip=slip))
    assert limiter.allow("10.0.0.1", b"q", 0.0)
    seen = ""
    for _ in range(4):
        assert not limiter.allow("10.0.0.1", b"q", 0.0)
        seen += "T" if limiter.slip("10.0.0.1", b"q") else "."
    assert seen == pattern


@pytest.mark.parametrize(
    ("allow_text", "qps"),
    [
        (("127.0.0.0/8", "::1/128"), 0.0),
        (("127.0.0.1/32",), 0.0),
        (("127.0.0.0/8", "10.0.0.0/8"), DEFAULT_QPS),
        (("::/0",), DEFAULT_QPS),
    ],
)
def test_rate_limiting_is_on_by_default_when_allow_is_wider_than_loopback(
    allow_text: tuple[str, ...], qps: float
) -> None:
    allow = tuple(ipaddress.ip_network(n) for n in allow_text)
    assert effective_qps(RateLimitSpec(), allow) == qps
    assert (response_limiter(RateLimitSpec(), allow) is not None) == (qps > 0)
    assert response_limiter(RateLimitSpec(qps=0), allow) is None
    assert effective_qps(RateLimitSpec(qps=7), allow) == 7


def test_prometheus_collector_uses_the_given_registry() -> None:
    metrics = ResolverMetrics()
    metrics.count(1, 0)
    metrics.count(1, 0)
    metrics.count(28, 3)
    metrics.observe(0.0002)
    metrics.cache_size = lambda: 7
    registry = CollectorRegistry()
    PrometheusCollector(metrics, registry)
    text = generate_latest(registry).decode()
    assert 'dnsctl_resolver_queries_total{qtype="A",rcode="NOERROR"} 2.0' in text
    assert 'dnsctl_resolver_queries_total{qtype="AAAA",rcode="NXDOMAIN"} 1.0' in text
    assert "dnsctl_resolver_cache_entries 7.0" in text
    # It samples answers from memory, and its name and help say so.
    assert "dnsctl_resolver_latency_sampled_seconds_count 1.0" in text
    assert "# HELP dnsctl_resolver_latency_sampled_seconds Time to answer, sampled: " in text
    assert "one in 32 UDP answers from memory" in text
