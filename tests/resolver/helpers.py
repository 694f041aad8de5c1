"""Client-side helpers for the resolver tests: real DNS queries over loopback."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable
from typing import Any

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.rdatatype

from dnsctl.config.values import zone_record
from dnsctl.core.zone_records import ZoneSpec

TIMEOUT = 3.0


def make_query(name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.QueryMessage:
    return dns.message.make_query(name, rdtype, **kwargs)


async def ask(
    port: int,
    name: str | dns.message.Message,
    rdtype: str = "A",
    *,
    host: str = "127.0.0.1",
    tcp: bool = False,
    source: str | None = None,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 - dnspython takes the timeout itself
    **kwargs: Any,
) -> dns.message.Message:
    query = name if isinstance(name, dns.message.Message) else make_query(name, rdtype, **kwargs)
    if tcp:
        return await dns.asyncquery.tcp(query, host, port=port, source=source, timeout=timeout)
    return await dns.asyncquery.udp(query, host, port=port, source=source, timeout=timeout)


async def raw_udp(
    port: int, payload: bytes, *, host: str = "127.0.0.1", source: str = "127.0.0.1", wait: float = 0.5
) -> bytes | None:
    """Send raw bytes; the reply, or None if nothing came back within `wait` seconds."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))
        await loop.sock_sendto(sock, payload, (host, port))
        try:
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), wait)
        except TimeoutError:
            return None
        return data


async def raw_udp_burst(port: int, payloads: list[bytes], *, quiet: float = 0.3) -> list[bytes]:
    """Send every payload from one socket, then collect replies until `quiet` seconds pass without one."""
    loop = asyncio.get_running_loop()
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        for payload in payloads:
            await loop.sock_sendto(sock, payload, ("127.0.0.1", port))
        while True:
            try:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), quiet)
            except TimeoutError:
                return replies
            replies.append(data)


def tcp_frame(message: bytes) -> bytes:
    return struct.pack(">H", len(message)) + message


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack(">H", await reader.readexactly(2))[0]
    return await reader.readexactly(size)


def rrset_texts(message: dns.message.Message) -> list[str]:
    return [rr.to_text() for rrset in message.answer for rr in rrset]


def has_flag(message: dns.message.Message, flag: int) -> bool:
    return bool(message.flags & flag)


def ecs_option(address: str, prefix: int) -> dns.edns.ECSOption:
    return dns.edns.ECSOption(address, prefix)


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


__all__ = ["dns"]


def lab_zone(origin: str, records: Iterable[tuple[Any, ...]]) -> ZoneSpec:
    """A lab zone with records as the configuration writes them (`("www", "CNAME", "lab.internal.")`,
    optionally with a TTL), parsed by the configuration layer as `dnsctl serve` gets them."""
    return ZoneSpec(origin, tuple(zone_record(origin, *record) for record in records))


async def all_counted(metrics: Any, expected: int) -> None:
    """Wait (bounded) until `metrics` (a ResolverMetrics) has counted `expected` replies: a UDP reader counts
    a reply just after sending it, so a client may hold the last one before it is counted."""
    for _ in range(1000):
        if metrics.total_queries >= expected:
            return
        await asyncio.sleep(0.01)
