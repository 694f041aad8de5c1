"""Random and mangled packets never stop the server: after each, a real query is still answered."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator

import dns.message
import dns.query
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsctl.core.model import HostPort, ResolverSpec, ZoneRecordSpec, ZoneSpec
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeredTarget, SteeringTable

FQDN = "myregistry.azurecr.io"
VALID = dns.message.make_query(FQDN, "A", use_edns=0, want_dnssec=True).to_wire()


class ThreadedResolver:
    """The resolver on its own event loop in a thread, so synchronous hypothesis tests can hit it."""

    def __init__(self) -> None:
        steering = SteeringTable()
        steering.publish(SteeredAnswer(FQDN, 30, (SteeredTarget("t.example", ("10.1.0.5",)),)))
        spec = ResolverSpec(
            listen=(HostPort("127.0.0.1", 0),),
            zones=(ZoneSpec("lab.internal", (ZoneRecordSpec("@", "A", "10.0.0.1"),)),),
            upstream_timeout=0.2,
        )
        self.loop = asyncio.new_event_loop()
        self.server = ResolverServer(spec, steering)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedResolver:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.port = self.server.bound[0][1]
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded() -> Iterator[ThreadedResolver]:
    with ThreadedResolver() as server:
        yield server


def still_answers(port: int) -> None:
    reply = dns.query.udp(dns.message.from_wire(VALID), "127.0.0.1", port=port, timeout=3)
    assert [rr.to_text() for rrset in reply.answer for rr in rrset][-1] == "10.1.0.5"


def send(port: int, payload: bytes, tcp: bool) -> None:
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(struct.pack(">H", len(payload)) + payload)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, ("127.0.0.1", port))


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(payload=st.binary(max_size=600), tcp=st.booleans())
def test_random_bytes(threaded: ThreadedResolver, payload: bytes, tcp: bool) -> None:
    send(threaded.port, payload, tcp)
    still_answers(threaded.port)
    assert threaded.server.metrics.internal_errors == 0


@FUZZ
@given(
    cut=st.integers(min_value=0, max_value=len(VALID)),
    flips=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
    header_bits=st.integers(0, 0xFFFF),
)
def test_mangled_queries(
    threaded: ThreadedResolver, cut: int, flips: list[tuple[int, int]], header_bits: int
) -> None:
    packet = bytearray(VALID[:cut] if cut < len(VALID) else VALID)
    for index, value in flips:
        if index < len(packet):
            packet[index] = value
    if len(packet) >= 4:
        packet[2:4] = struct.pack(">H", header_bits & ~0x8000)  # keep QR clear so it reaches the parser
    send(threaded.port, bytes(packet), tcp=False)
    still_answers(threaded.port)
    assert threaded.server.metrics.internal_errors == 0
