"""UDP queries to an upstream share one connected socket: replies matched by ID and question, a new
socket (a new source port) after SOCKET_USES queries."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, cast

import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest

from dnsctl.core.model import HostPort
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import forwarder
from tests.resolver.conftest import StartResolver
from tests.resolver.helpers import ask, rrset_texts


class Upstream(asyncio.DatagramProtocol):
    """Answers NAME A with an address numbered by the query's order; holds replies until `batch` queries
    came, then sends them in reverse order (a reply never comes in the order its query went)."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.transport: asyncio.DatagramTransport | None = None
        self.held: list[tuple[bytes, Any]] = []
        self.ports: list[int] = []
        self.answers: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.transport is not None
        query = dns.message.from_wire(data)
        name = query.question[0].name
        address = f"192.0.2.{len(self.answers) % 250 + 1}"
        self.answers[str(name).rstrip(".")] = address
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
        self.ports.append(addr[1])
        self.held.append((reply.to_wire(), addr))
        if len(self.held) >= self.batch:
            for wire, to in reversed(self.held):
                self.transport.sendto(wire, to)
            self.held.clear()


async def start(batch: int) -> tuple[Upstream, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Upstream(batch), local_addr=("127.0.0.1", 0)
    )
    return protocol, transport


async def test_concurrent_misses_share_one_socket_and_each_gets_its_own_reply(
    resolver: StartResolver,
) -> None:
    upstream, transport = await start(batch=20)
    try:
        port = transport.get_extra_info("sockname")[1]
        server = await resolver(upstreams=(HostPort("127.0.0.1", port),), upstream_timeout=5.0)
        names = [f"host{i}.example" for i in range(20)]
        replies = await asyncio.gather(*(ask(server.bound[0][1], name, "A", timeout=10) for name in names))
        for name, reply in zip(names, replies, strict=True):
            assert reply.rcode() == dns.rcode.NOERROR, name
            assert rrset_texts(reply) == [upstream.answers[name]], name
        assert len(upstream.ports) == len(names) and len(set(upstream.ports)) == 1
        assert server.engine.forwarder.retransmits == 0
    finally:
        transport.close()


async def test_a_new_source_port_after_socket_uses_queries(
    resolver: StartResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forwarder, "SOCKET_USES", 4)
    upstream, transport = await start(batch=1)
    try:
        port = transport.get_extra_info("sockname")[1]
        server = await resolver(upstreams=(HostPort("127.0.0.1", port),), upstream_timeout=5.0)
        for i in range(12):
            reply = await ask(server.bound[0][1], f"seq{i}.example", "A", timeout=10)
            assert rrset_texts(reply) == [upstream.answers[f"seq{i}.example"]]
        # Four queries per socket, each socket on its own port.
        assert [len(set(upstream.ports[i : i + 4])) for i in range(0, 12, 4)] == [1, 1, 1]
        assert len(set(upstream.ports)) == 3
    finally:
        transport.close()


async def test_a_refused_upstream_fails_over_at_once_not_after_the_timeout(resolver: StartResolver) -> None:
    # A UDP port nobody listens on: the kernel answers ICMP port unreachable (refused).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    upstream, transport = await start(batch=1)
    try:
        port = transport.get_extra_info("sockname")[1]
        server = await resolver(
            upstreams=(HostPort("127.0.0.1", dead), HostPort("127.0.0.1", port)), upstream_timeout=10.0
        )
        started = time.monotonic()
        reply = await ask(server.bound[0][1], "refused.example", "A", timeout=20)
        took = time.monotonic() - started
        assert reply.rcode() == dns.rcode.NOERROR
        assert rrset_texts(reply) == [upstream.answers["refused.example"]]
        assert server.metrics.upstream_failures == {f"127.0.0.1:{dead}": 1}
        # A functional bound: the refusal ended the wait, not UDP's share of the timeout (5 s) run out.
        assert took < 4, took
        assert server.engine.forwarder.tcp_fallbacks == 0
    finally:
        transport.close()


async def test_a_flood_of_misses_to_a_silent_upstream_opens_few_tcp_connections() -> None:
    """UDP unanswered and a TCP port that accepts and never answers: of 40 misses at once, at most
    TCP_FALLBACKS_IN_FLIGHT are asked over TCP at the same time; every one fails within the timeout."""
    loop = asyncio.get_running_loop()
    open_now = 0
    most = 0
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        held.append(writer)
        try:
            await reader.read()  # until the client gives up
        finally:
            open_now -= 1

    tcp = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", port))
    fwd = forwarder.Forwarder([HostPort("127.0.0.1", port)], timeout=0.6, clock=SystemClock())
    try:
        names = [dns.name.from_text(f"n{i}.example.") for i in range(40)]
        questions = [n.to_wire().lower() + b"\x00\x01\x00\x01" for n in names]  # type: ignore[union-attr]
        results = await asyncio.wait_for(
            asyncio.gather(*(fwd.resolve(q) for q in questions), return_exceptions=True), 10
        )
        assert all(isinstance(r, Exception) for r in results)
        assert 1 <= most <= forwarder.TCP_FALLBACKS_IN_FLIGHT, most
        assert fwd.tcp_fallbacks <= forwarder.TCP_FALLBACKS_IN_FLIGHT
    finally:
        fwd.close()
        silent.close()
        for w in held:
            w.close()
        tcp.close()
