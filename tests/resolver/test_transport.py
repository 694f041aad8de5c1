"""UDP and TCP on every listen address; TCP framing, pipelining, idle timeout and connection cap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dns.message
import dns.rcode
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import HostPort
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeringTable
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import (
    ask,
    ipv6_loopback_available,
    make_query,
    read_frame,
    rrset_texts,
    tcp_frame,
)


def steering() -> SteeringTable:
    table = SteeringTable()
    table.publish(
        SteeredAnswer(
            "myregistry.azurecr.io",
            30,
            (DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",)),),
        )
    )
    return table


async def test_udp_and_tcp_answer_on_every_listen_address(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), listen=(HostPort("127.0.0.1", 0), HostPort("127.0.0.1", 0)))
    assert len(server.bound) == 2
    assert server.bound[0][1] != server.bound[1][1]
    for _, port in server.bound:
        for tcp in (False, True):
            reply = await ask(port, "myregistry.azurecr.io", "A", tcp=tcp)
            assert "10.1.0.5" in rrset_texts(reply)


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_listen_address_serves_udp_and_tcp(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), listen=(HostPort("::1", 0), HostPort("127.0.0.1", 0)))
    host, port = server.bound[0]
    assert host == "::1"
    for tcp in (False, True):
        reply = await ask(port, "myregistry.azurecr.io", "A", host="::1", tcp=tcp)
        assert "10.1.0.5" in rrset_texts(reply)


async def test_several_queries_on_one_tcp_connection(resolver: StartResolver) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    queries = [make_query("myregistry.azurecr.io", t) for t in ("A", "CNAME", "AAAA")]
    # Pipelined: all three written before any reply is read.
    writer.write(b"".join(tcp_frame(q.to_wire()) for q in queries))
    await writer.drain()
    replies = [dns.message.from_wire(await read_frame(reader)) for _ in queries]
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    for reply in replies:
        assert reply.rcode() == dns.rcode.NOERROR
    # And the connection is still open for another one.
    writer.write(tcp_frame(queries[0].to_wire()))
    await writer.drain()
    assert dns.message.from_wire(await read_frame(reader)).id == queries[0].id
    writer.close()
    await writer.wait_closed()


async def test_idle_tcp_connection_is_closed(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), tcp_idle_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound[0][1])
    # Nothing sent: the server closes the connection; the read ends with EOF (bounded by the wait).
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert server.tcp_connections == 0


async def served(check: Callable[[], bool], fallback_polls: int = 200) -> None:
    """Until `check()`: what it waits for is the server's work on this same event loop (accepting,
    reading a frame, seeing a close), so its turns come first (no time passes); only then, bounded,
    polls on the clock."""
    for turn in range(1000 + fallback_polls):
        if check():
            return
        await asyncio.sleep(0 if turn < 1000 else 0.01)


async def wait_for_connections(server: ResolverServer, n: int) -> None:
    await served(lambda: server.tcp_connections == n)
    assert server.tcp_connections == n


async def closed_without_reply(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionError:
        return True


async def test_when_every_slot_is_taken_the_longest_idle_connection_gives_way(
    resolver: StartResolver,
) -> None:
    server = await resolver(steering=steering(), tcp_max_connections=2)
    port = server.bound[0][1]
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    await wait_for_connections(server, 2)
    # The second connection completes a query: the first is now the one idle the longest.
    r1, w1 = held[1]
    w1.write(tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    await asyncio.wait_for(read_frame(r1), 5)
    assert rrset_texts(await ask(port, "myregistry.azurecr.io", "A", tcp=True))
    assert await closed_without_reply(held[0][0])
    assert server.metrics.tcp_evicted == 1
    query = make_query("myregistry.azurecr.io", "A")
    w1.write(tcp_frame(query.to_wire()))
    assert dns.message.from_wire(await asyncio.wait_for(read_frame(r1), 5)).id == query.id
    for _, w in held:
        w.close()


async def test_tcp_connections_over_the_cap_are_refused_while_all_are_busy(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    silent = upstream("silent")
    server = await resolver(
        steering=steering(), tcp_max_connections=2, upstreams=(silent.address,), upstream_timeout=3.0
    )
    port = server.bound[0][1]
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for _, w in held:  # a forwarded query in flight on each: neither is idle
        w.write(tcp_frame(make_query("slow.example", "A").to_wire()))
    await wait_for_connections(server, 2)
    await served(lambda: server.engine.metrics.cache_misses >= 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_without_reply(reader)
    writer.close()
    assert server.metrics.tcp_refused == {"server_full": 1}
    for _, w in held:
        w.close()


async def test_a_client_at_its_cap_gets_its_new_connection_answered(resolver: StartResolver) -> None:
    # A forwarding resolver (respdiff's 16 workers) reconnecting after an error: at the default cap of 16,
    # its own longest-idle connection gives way, not the new one.
    server = await resolver(steering=steering())
    assert server.spec.tcp_max_per_client == 16
    port = server.bound[0][1]
    held = []
    for n in range(16):
        held.append(await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0)))
        await wait_for_connections(server, n + 1)  # accepted in this order
    # A query on the first one: the second is now the one idle the longest.
    first_reader, first_writer = held[0]
    first_writer.write(tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    assert await asyncio.wait_for(read_frame(first_reader), 5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
    writer.write(tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    reply = dns.message.from_wire(await asyncio.wait_for(read_frame(reader), 5))
    assert "10.1.0.5" in rrset_texts(reply)
    assert await closed_without_reply(held[1][0])  # the longest-idle one was closed
    first_writer.write(tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    assert await asyncio.wait_for(read_frame(first_reader), 5)  # the others are kept
    assert server.tcp_connections == 16
    assert server.metrics.tcp_evicted == 1 and server.metrics.tcp_refused == {}
    writer.close()
    for _, w in held:
        w.close()


async def test_a_client_at_its_cap_with_a_query_on_every_connection_is_refused(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    silent = upstream("silent")
    server = await resolver(
        steering=steering(), tcp_max_per_client=3, upstreams=(silent.address,), upstream_timeout=3.0
    )
    port = server.bound[0][1]
    held = [await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0)) for _ in range(3)]
    for _, w in held:  # a forwarded query in flight on each: none is idle
        w.write(tcp_frame(make_query("slow.example", "A").to_wire()))
    await wait_for_connections(server, 3)
    await served(
        lambda: server.engine.metrics.cache_misses >= 1 and all(c.pending for c in server._tcp.values()), 500
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
    assert await closed_without_reply(reader)
    writer.close()
    assert server.metrics.tcp_refused == {"per_client_limit": 1}
    assert server.metrics.tcp_evicted == 0
    # Another address is not affected.
    assert rrset_texts(await ask(port, "myregistry.azurecr.io", "A", tcp=True, source="127.0.0.3"))
    for _, w in held:
        w.close()


@pytest.mark.parametrize(
    "frame",
    [b"\x00\x00", tcp_frame(b"\x12\x34\x01"), tcp_frame(b"\x12\x34\x81\x80" + bytes(8))],
    ids=["zero-length", "shorter than a header", "a response"],
)
async def test_an_empty_or_invalid_frame_closes_the_connection(resolver: StartResolver, frame: bytes) -> None:
    server = await resolver(steering=steering())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound[0][1])
    writer.write(frame + tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    assert await closed_without_reply(reader)  # the query behind it is never read
    writer.close()
    await wait_for_connections(server, 0)


async def test_only_a_valid_query_renews_the_idle_timer(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), tcp_idle_timeout=0.6)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound[0][1])
    loop = asyncio.get_running_loop()
    opened = loop.time()
    formerr = bytes.fromhex("abcd01000000000000000000")  # no question: answered FORMERR, renews nothing
    replies = 0
    try:
        while loop.time() - opened < 3:
            writer.write(tcp_frame(formerr))
            await asyncio.wait_for(read_frame(reader), 2)
            replies += 1
            await asyncio.sleep(0.1)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    lasted = loop.time() - opened
    assert replies >= 1 and lasted < 2, lasted
    writer.close()


async def test_stop_releases_the_ports(resolver: StartResolver) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await server.stop()
    again = await resolver(steering=steering(), listen=(HostPort("127.0.0.1", port),))
    reply = await ask(port, "myregistry.azurecr.io", "A")
    assert again.bound == [("127.0.0.1", port)]
    assert "10.1.0.5" in rrset_texts(reply)
