"""UDP and TCP on every listen address; TCP framing, pipelining, idle timeout and connection cap."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import pytest

from dnsctl.core.model import HostPort
from dnsctl.resolver import SteeredAnswer, SteeredTarget, SteeringTable
from tests.resolver.conftest import StartResolver
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
            "myregistry.azurecr.io", 30, (SteeredTarget("myregistry.eastus.geo.azurecr.io", ("10.1.0.5",)),)
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


async def test_tcp_connections_over_the_cap_are_closed(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), tcp_max_connections=2)
    port = server.bound[0][1]
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    for _ in range(50):  # let the server accept both (bounded)
        if server.tcp_connections == 2:
            break
        await asyncio.sleep(0.01)
    assert server.tcp_connections == 2
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(tcp_frame(make_query("myregistry.azurecr.io", "A").to_wire()))
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await asyncio.wait_for(read_frame(reader), 5)
    writer.close()
    # The held connections still work.
    r0, w0 = held[0]
    query = make_query("myregistry.azurecr.io", "A")
    w0.write(tcp_frame(query.to_wire()))
    assert dns.message.from_wire(await asyncio.wait_for(read_frame(r0), 5)).id == query.id
    for _, w in held:
        w.close()


async def test_stop_releases_the_ports(resolver: StartResolver) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await server.stop()
    again = await resolver(steering=steering(), listen=(HostPort("127.0.0.1", port),))
    reply = await ask(port, "myregistry.azurecr.io", "A")
    assert again.bound == [("127.0.0.1", port)]
    assert "10.1.0.5" in rrset_texts(reply)
