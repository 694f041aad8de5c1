"""Forwarding to real upstream processes: failover, TCP on truncation, cache, negative cache, serve-stale."""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.rdatatype

from dnsctl.core.model import CacheSpec
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import ask, make_query, rrset_texts
from tests.support.clock import ManualClock


async def test_forwarded_reply_flags(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    query = make_query("host.example", "A")
    query.flags |= dns.flags.CD
    reply = await ask(port, query)
    assert rrset_texts(reply) == ["192.0.2.1"]
    assert reply.flags & dns.flags.RA and reply.flags & dns.flags.RD and reply.flags & dns.flags.CD
    assert not reply.flags & dns.flags.AA
    no_rd = make_query("host.example", "A")
    no_rd.flags &= ~dns.flags.RD
    reply = await ask(port, no_rd)
    assert not reply.flags & dns.flags.RD and not reply.flags & dns.flags.CD and reply.flags & dns.flags.RA


async def test_failover_from_a_silent_upstream(resolver: StartResolver, upstream: StartUpstream) -> None:
    silent, good = upstream("silent"), upstream("normal")
    server = await resolver(upstreams=(silent.address, good.address), upstream_timeout=0.3)
    reply = await ask(server.bound[0][1], "host.example", "A")
    assert rrset_texts(reply) == ["192.0.2.1"]
    assert server.metrics.upstream_failures == {str(silent.address): 1}


async def test_failover_from_a_servfailing_upstream(resolver: StartResolver, upstream: StartUpstream) -> None:
    bad, good = upstream("servfail"), upstream("normal")
    port = (await resolver(upstreams=(bad.address, good.address))).bound[0][1]
    assert rrset_texts(await ask(port, "host.example", "A")) == ["192.0.2.1"]


async def test_servfail_when_every_upstream_fails(resolver: StartResolver, upstream: StartUpstream) -> None:
    silent, bad = upstream("silent"), upstream("servfail")
    port = (await resolver(upstreams=(silent.address, bad.address), upstream_timeout=0.3)).bound[0][1]
    reply = await ask(port, "host.example", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert str(reply.question[0].name) == "host.example."


async def test_truncated_upstream_reply_is_retried_over_tcp(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("truncate")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    reply = await ask(port, "host.example", "A")
    assert not reply.flags & dns.flags.TC
    assert rrset_texts(reply) == ["192.0.2.1"]


async def test_cached_answer_counts_down_and_is_refreshed_after_expiry(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal", ttl=100)
    clock = ManualClock()
    server = await resolver(upstreams=(up.address,), clock=clock)
    port = server.bound[0][1]
    first = await ask(port, "host.example", "A")
    assert rrset_texts(first) == ["192.0.2.1"] and first.answer[0].ttl == 100
    clock.advance(40.5)
    cached = await ask(port, "Host.Example", "A")
    assert rrset_texts(cached) == ["192.0.2.1"]  # not asked again: the upstream counter is unchanged
    assert cached.answer[0].ttl == 60
    assert str(cached.question[0].name) == "Host.Example."  # 0x20 case kept from cache
    clock.advance(60)
    fresh = await ask(port, "host.example", "A")
    assert rrset_texts(fresh) == ["192.0.2.2"] and fresh.answer[0].ttl == 100
    assert server.metrics.cache_hits == 1 and server.metrics.cache_misses == 2


async def test_negative_answers_are_cached_for_the_soa_minimum(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal", soa_minimum=20)
    clock = ManualClock()
    server = await resolver(upstreams=(up.address,), clock=clock)
    port = server.bound[0][1]
    reply = await ask(port, "nx.example", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority[0].ttl == 20  # min(SOA TTL 3600, minimum 20)
    clock.advance(10)
    again = await ask(port, "nx.example", "A")
    assert again.rcode() == dns.rcode.NXDOMAIN and again.authority[0].ttl == 10
    assert server.metrics.cache_hits == 1
    clock.advance(10)
    await ask(port, "nx.example", "A")
    assert server.metrics.cache_misses == 2
    nodata = await ask(port, "nodata.example", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority[0].ttl == 20


async def test_negative_ttl_is_capped_by_negative_max_ttl(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal", soa_minimum=3000)
    server = await resolver(
        upstreams=(up.address,), cache=CacheSpec(negative_max_ttl=15), clock=ManualClock()
    )
    reply = await ask(server.bound[0][1], "nx.example", "A")
    assert reply.authority[0].ttl == 15


async def test_serve_stale_while_upstream_is_down_then_fresh_again(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal", ttl=60)
    clock = ManualClock()
    server = await resolver(upstreams=(up.address,), clock=clock, upstream_timeout=0.3)
    port = server.bound[0][1]
    assert (await ask(port, "host.example", "A")).answer[0].ttl == 60
    up_port = up.port
    up.stop()
    clock.advance(120)  # expired, inside the serve-stale window (1 h by default)
    stale = await ask(port, "host.example", "A")
    assert rrset_texts(stale) == ["192.0.2.1"] and stale.answer[0].ttl == 30
    assert server.metrics.stale_served == 1
    upstream("normal", ttl=60, port=up_port)  # back on the same port
    fresh = await ask(port, "host.example", "A")
    assert fresh.answer[0].ttl == 60
    clock.advance(4000)
    up_again = await ask(port, "other.example", "A")
    assert up_again.rcode() == dns.rcode.NOERROR


async def test_stale_window_ends(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal", ttl=60)
    clock = ManualClock()
    server = await resolver(
        upstreams=(up.address,), clock=clock, upstream_timeout=0.3, cache=CacheSpec(serve_stale=100)
    )
    port = server.bound[0][1]
    await ask(port, "host.example", "A")
    up.stop()
    clock.advance(200)
    assert (await ask(port, "host.example", "A")).rcode() == dns.rcode.SERVFAIL


async def test_cache_is_bounded_lru(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal")
    server = await resolver(upstreams=(up.address,), cache=CacheSpec(max_entries=2))
    port = server.bound[0][1]
    await ask(port, "one.example", "A")
    await ask(port, "two.example", "A")
    await ask(port, "one.example", "A")  # one is now the most recently used
    await ask(port, "three.example", "A")  # evicts two
    assert len(server.engine.cache) == 2
    assert rrset_texts(await ask(port, "one.example", "A")) == ["192.0.2.1"]
    assert rrset_texts(await ask(port, "two.example", "A")) == ["192.0.2.2"]  # fetched again


async def test_upstream_answer_in_other_case_is_served(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    reply = await ask(port, "upper.example", "A")
    assert rrset_texts(reply) == ["192.0.2.1"]


async def test_big_answer_is_truncated_over_udp_and_complete_over_tcp(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    plain = await ask(port, "big.example", "TXT")
    assert plain.flags & dns.flags.TC and not plain.answer
    small_edns = await ask(port, "big.example", "TXT", use_edns=0, payload=1232)
    assert small_edns.flags & dns.flags.TC and small_edns.edns == 0
    # No UDP reply exceeds 1232 bytes, whatever size the client offers: one small query never reflects
    # kilobytes onto a spoofed source.
    large_edns = await ask(port, "big.example", "TXT", use_edns=0, payload=4096)
    assert large_edns.flags & dns.flags.TC and not large_edns.answer and large_edns.edns == 0
    assert len(large_edns.to_wire()) <= 1232
    full = await ask(port, "big.example", "TXT", tcp=True)
    assert not full.flags & dns.flags.TC and len(rrset_texts(full)) == 40
    assert full.answer[0].rdtype == dns.rdatatype.TXT


async def test_concurrent_queries_for_one_name_reach_upstream_once(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    import asyncio

    up = upstream("normal")
    server = await resolver(upstreams=(up.address,))
    port = server.bound[0][1]
    replies = await asyncio.gather(*(ask(port, "same.example", "A") for _ in range(20)))
    assert {tuple(rrset_texts(r)) for r in replies} == {("192.0.2.1",)}
