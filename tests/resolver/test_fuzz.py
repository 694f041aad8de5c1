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

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import HostPort, RateLimitSpec, ResolverSpec
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeringTable
from tests.resolver.helpers import lab_zone

FQDN = "myregistry.azurecr.io"
VALID = dns.message.make_query(FQDN, "A", use_edns=0, want_dnssec=True).to_wire()


class ThreadedResolver:
    """The resolver on its own event loop in a thread, so synchronous hypothesis tests can hit it."""

    def __init__(self) -> None:
        steering = SteeringTable()
        steering.publish(SteeredAnswer(FQDN, 30, (DecisionTarget(None, "t.example", ("10.1.0.5",)),)))
        spec = ResolverSpec(
            listen=(HostPort("127.0.0.1", 0),),
            zones=(lab_zone("lab.internal", (("@", "A", "10.0.0.1"),)),),
            upstream_timeout=0.2,
            # Rate limiting runs on every UDP query (set too high to ever refuse one).
            rate_limit=RateLimitSpec(qps=1e9, burst=10**9),
        )
        self.loop = asyncio.new_event_loop()
        self.server = ResolverServer(spec, steering, clock=SystemClock())
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


# Structured messages: every header field, names with odd labels and pointers, any qtype and class, an
# OPT with arbitrary options (ECS of any family, prefix and length), and extra records.
label = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.binary(min_size=1, max_size=63),
    st.sampled_from([b"myregistry", b"azurecr", b"io", b"lab", b"internal", b"www", b"MyReGiStRy"]),
)
well_formed_names = st.lists(label, max_size=6).map(
    lambda labels: b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"
)
names = st.one_of(
    well_formed_names,
    well_formed_names,
    st.just(b"\x0amyregistry\x07azurecr\x02io\x00"),
    st.binary(max_size=40),  # anything at all where a name should be
    st.integers(0, 0x3FFF).map(lambda offset: struct.pack(">H", 0xC000 | offset)),  # a bare pointer
)
options = st.lists(
    st.one_of(
        st.tuples(st.just(8), st.binary(max_size=24)),  # ECS with any content
        st.builds(
            lambda family, source, scope, address: (
                8,
                struct.pack(">HBB", family, source, scope) + address,
            ),
            st.integers(0, 3),
            st.integers(0, 255),
            st.integers(0, 255),
            st.binary(max_size=17),
        ),
        st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=16)),
    ),
    max_size=3,
)


@st.composite
def dns_messages(draw: st.DrawFn) -> bytes:
    # Mostly a plain query (QR and opcode clear) so that the deeper paths are reached; sometimes anything.
    bits = draw(st.integers(0, 0xFFFF))
    flags = bits if draw(st.integers(0, 4)) == 0 else bits & ~0xF800
    question = draw(names) + struct.pack(
        ">HH", draw(st.integers(0, 0xFFFF)), draw(st.sampled_from([1, 3, 255, 0, 0xFFFF]))
    )
    extras = b""
    arcount = 0
    if draw(st.booleans()):
        opts = b"".join(struct.pack(">HH", code, len(data)) + data for code, data in draw(options))
        owner = draw(st.sampled_from([b"\x00"] * 4 + [b"\x01a\x00"]))
        ttl = struct.pack(
            ">BBH", draw(st.integers(0, 255)), draw(st.integers(0, 2)), draw(st.integers(0, 0xFFFF))
        )
        extras += owner + struct.pack(">HH", 41, draw(st.integers(0, 0xFFFF))) + ttl
        extras += (
            struct.pack(">H", draw(st.sampled_from([len(opts)] * 4 + [len(opts) + 1, max(len(opts) - 1, 0)])))
            + opts
        )
        arcount += 1
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        rdata = draw(st.binary(max_size=20))
        extras += draw(names) + struct.pack(">HHIH", draw(st.integers(0, 0xFFFF)), 1, 60, len(rdata)) + rdata
        arcount += 1
    if draw(st.integers(0, 3)):
        counts = (1, 0, 0, arcount)
    else:
        counts = draw(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 2), st.integers(0, 4)))
    ident = draw(st.integers(0, 0xFFFF))
    return struct.pack(">HHHHHH", ident, flags, *counts) + question + extras


def check_reply(query: bytes, reply: bytes) -> None:
    """Whatever was asked, a reply is a response to it: same ID, QR set, at most 1232 bytes over UDP,
    and parseable when it carries a question."""
    assert len(reply) >= 12 and reply[:2] == query[:2] and reply[2] & 0x80, (query, reply)
    if struct.unpack(">H", reply[4:6])[0]:
        dns.message.from_wire(reply, question_only=True)


def exchange_udp(port: int, payload: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def exchange_tcp(port: int, frames: list[bytes]) -> list[bytes]:
    """Send every message on one connection; the replies read until it closes or goes quiet."""
    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"".join(struct.pack(">H", len(f)) + f for f in frames))
        conn.settimeout(0.3)
        buffer = b""
        try:
            while True:
                chunk = conn.recv(65535)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack(">H", buffer[:2])[0]:
                    size = struct.unpack(">H", buffer[:2])[0]
                    replies.append(buffer[2 : 2 + size])
                    buffer = buffer[2 + size :]
                if len(replies) == len(frames):
                    break
        except (TimeoutError, ConnectionError):
            pass
    return replies


@FUZZ
@given(message=dns_messages())
def test_structured_messages_over_udp(threaded: ThreadedResolver, message: bytes) -> None:
    reply = exchange_udp(threaded.port, message)
    if reply is not None:
        check_reply(message, reply)
        assert len(reply) <= 1232
    assert threaded.server.metrics.internal_errors == 0


def closes_the_connection(frame: bytes) -> bool:
    """Frames that end a TCP connection: no DNS header, or a response rather than a query."""
    return len(frame) < 12 or bool(frame[2] & 0x80)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(dns_messages(), min_size=1, max_size=4), empty_at=st.none() | st.integers(0, 4))
def test_structured_messages_over_tcp(
    threaded: ThreadedResolver, messages: list[bytes], empty_at: int | None
) -> None:
    frames = [*messages, VALID]
    if empty_at is not None:
        frames.insert(empty_at, b"")
    closer = next((i for i, f in enumerate(frames) if closes_the_connection(f)), len(frames))
    replies = exchange_tcp(threaded.port, frames)
    # One reply per frame before the first that closes the connection; none after it.
    assert sorted(r[:2] for r in replies) == sorted(f[:2] for f in frames[:closer])
    for reply in replies:
        assert reply[2] & 0x80
    assert threaded.server.metrics.internal_errors == 0
    still_answers(threaded.port)
