"""Faults around the embedded resolver (`ResolverServer` in-process, real upstream processes, real
queries): the upstream killed and restarted, a query flood from one client, many clients and names."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import CacheSpec, HostPort, RateLimitSpec, ResolverSpec
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeringTable
from tests.resolver.conftest import UpstreamProcess
from tests.resolver.helpers import ask, make_query, rrset_texts
from tests.support.clock import ManualClock
from tests.support.waits import wait_exit

StartUpstream = Callable[..., UpstreamProcess]
FQDN = "myregistry.azurecr.io"
STEERED_ADDRESS = "10.1.0.5"
QUIET = 0.5  # seconds without a reply after which a flood's replies are all in


def steering() -> SteeringTable:
    table = SteeringTable()
    table.publish(
        SteeredAnswer(
            FQDN, 30, (DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", (STEERED_ADDRESS,)),)
        )
    )
    return table


@contextlib.asynccontextmanager
async def running(clock: ManualClock, **fields: Any) -> AsyncIterator[ResolverServer]:
    spec = ResolverSpec(listen=(HostPort("127.0.0.1", 0),), **fields)
    server = ResolverServer(spec, steering(), clock=clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def answer_of(reply: dns.message.Message) -> tuple[str, int]:
    """The last A record of a reply and its TTL."""
    rrset = reply.answer[-1]
    return rrset[0].to_text(), rrset.ttl


# --- the upstream dies and comes back -----------------------------------------------------------------


async def test_upstream_killed_serves_stale_then_fresh_once_it_is_back(upstream: StartUpstream) -> None:
    up = upstream("normal", ttl=60)
    clock = ManualClock()
    names = [f"host{i}.example" for i in range(12)]
    async with running(clock, upstreams=(up.address,), upstream_timeout=0.3) as server:
        port = server.bound[0][1]
        # Fetched twice, so that the cached answer (.2) differs from a new upstream's first one (.1).
        for fetch in (1, 2):
            for name in names:
                assert answer_of(await ask(port, name, "A")) == (f"192.0.2.{fetch}", 60)
            clock.advance(61)

        # SIGKILL: no goodbye, the port simply stops answering.
        up_port = up.port
        assert up.process is not None
        up.process.kill()
        wait_exit(up.process, 5)
        clock.advance(100)  # every cached answer has expired; serve-stale (1 h) still covers them

        replies = await asyncio.gather(
            *(ask(port, name, "A", tcp=tcp) for name in names for tcp in (False, True))
        )
        for reply in replies:
            assert reply.rcode() == dns.rcode.NOERROR
            assert answer_of(reply) == ("192.0.2.2", 30)  # the last good answer, with RFC 8767's TTL
        assert server.metrics.stale_served == 2 * len(names)
        assert server.metrics.upstream_failures.get(str(up.address), 0) >= 1
        never_seen = await ask(port, "unknown.example", "A")
        assert never_seen.rcode() == dns.rcode.SERVFAIL  # nothing stale to serve: an honest failure

        # Back on the same port: fresh answers (the new process counts from 1) with the real TTL.
        upstream("normal", ttl=60, port=up_port)
        for name in names:
            assert answer_of(await ask(port, name, "A")) == ("192.0.2.1", 60)
        assert (await ask(port, "unknown.example", "A")).rcode() == dns.rcode.NOERROR
        assert server.metrics.stale_served == 2 * len(names)
        assert server.metrics.internal_errors == 0


# --- a query flood from one client --------------------------------------------------------------------


async def flood(port: int, count: int, source: str) -> list[dns.message.Message]:
    """Send `count` queries from one socket as fast as possible, reading replies as they come."""
    loop = asyncio.get_running_loop()
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))

        arrived = asyncio.Event()

        async def read() -> None:
            while True:
                data, _ = await loop.sock_recvfrom(sock, 65535)
                replies.append(data)
                arrived.set()

        reader = asyncio.ensure_future(read())
        for i in range(count):
            query = make_query(FQDN, "A")
            query.id = i
            await loop.sock_sendto(sock, query.to_wire(), ("127.0.0.1", port))
            if i % 32 == 31:
                await asyncio.sleep(0)  # let the reader drain the socket
        # Replies still on their way: read until none has come for QUIET seconds (at most 30 s).
        deadline = loop.time() + 30
        while loop.time() < deadline:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), QUIET)
            except TimeoutError:
                break
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return [dns.message.from_wire(r) for r in replies]


async def polite_client(port: int, count: int, source: str) -> list[dns.message.Message]:
    return [await ask(port, FQDN, "A", source=source) for _ in range(count)]


async def test_flood_from_one_client_is_limited_and_another_client_is_unaffected() -> None:
    clock = ManualClock()  # frozen: the flooder gets its burst and no refill
    burst, flood_size = 20, 3000
    async with running(clock, rate_limit=RateLimitSpec(qps=10, burst=burst)) as server:
        port = server.bound[0][1]
        flooded, polite = await asyncio.gather(
            # The limit is per client network (/24): the polite client is in another one.
            flood(port, flood_size, "127.0.0.1"),
            polite_client(port, burst, "127.0.1.3"),
        )
        # The flooder: its burst answered, every other query TC (half of them) or nothing at all.
        full = [r for r in flooded if r.answer]
        truncated = [r for r in flooded if r.flags & dns.flags.TC]
        assert len(full) <= burst
        assert truncated and all(not r.answer for r in truncated)
        assert len(full) + len(truncated) <= burst + (flood_size - burst) // 2 + 1
        assert server.metrics.rate_limited == flood_size - burst
        # The other client, inside its own limit, got every answer.
        assert len(polite) == burst
        assert all(rrset_texts(r)[-1] == STEERED_ADDRESS for r in polite)
        # TCP needs a handshake, so even the flooder is answered there.
        assert rrset_texts(await ask(port, FQDN, "A", tcp=True))[-1] == STEERED_ADDRESS
        assert server.metrics.internal_errors == 0
        assert server.limiter is not None and len(server.limiter._buckets) == 2


# --- bounded memory: many clients, many names ----------------------------------------------------------


async def test_rate_limiter_table_stays_bounded_with_many_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 64
    # The real bound is 100,000 clients; a small one lets the test cross it many times over.
    monkeypatch.setattr("dnsctl.resolver.ratelimit._TRACK_LIMIT", limit)
    clock = ManualClock()
    async with running(clock, rate_limit=RateLimitSpec(qps=1, burst=5)) as server:
        port = server.bound[0][1]
        limiter = server.limiter
        assert limiter is not None
        sizes = []
        for i in range(5 * limit):
            source = f"127.{9 + i // 250}.{i % 250}.1"  # each in its own /24
            reply = await ask(port, FQDN, "A", source=source)
            assert rrset_texts(reply)[-1] == STEERED_ADDRESS, source  # a new client is within its limit
            sizes.append(len(limiter._buckets))
            if i % 50 == 0:
                clock.advance(10)  # buckets refill: the forgettable kind
        assert max(sizes) <= limit
        assert server.metrics.rate_limited == 0


async def test_cache_and_pending_work_stay_bounded_with_many_names(upstream: StartUpstream) -> None:
    up = upstream("normal", ttl=300)
    clock = ManualClock()
    max_entries = 50
    async with running(clock, upstreams=(up.address,), cache=CacheSpec(max_entries=max_entries)) as server:
        port = server.bound[0][1]
        names = [f"name{i}.example" for i in range(8 * max_entries)]
        for start in range(0, len(names), 50):
            replies = await asyncio.gather(*(ask(port, n, "A") for n in names[start : start + 50]))
            assert all(r.rcode() == dns.rcode.NOERROR and r.answer for r in replies)
            assert len(server.engine.cache) <= max_entries
        assert server.metrics.cache_size() == max_entries
        assert server.engine._inflight == {}  # every upstream exchange finished and was forgotten
        assert not server._tasks
        # The most recent names are the ones kept.
        hits = server.metrics.cache_hits
        await ask(port, names[-1], "A")
        assert server.metrics.cache_hits == hits + 1
