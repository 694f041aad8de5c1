"""The UDP reader's two loops, the native one (resolver/_replay.c) and the Python one: the same answers,
the same counts, and neither is stopped or corrupted by what a client sends."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import sys
import threading
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import pytest

from dnsctl.core.model import HostPort, RateLimitSpec
from dnsctl.resolver import ResolverServer, udp_reader
from dnsctl.resolver.acl import ALLOWED
from dnsctl.resolver.metrics import MEMORY_ANSWER_SAMPLE
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import all_counted, ask, ipv6_loopback_available, make_query, rrset_texts
from tests.resolver.test_udp_reader import EAST, FQDN, steering, warm
from tests.support.clock import ManualClock

HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")),
]
# The largest UDP payload a loopback socket can send.
LARGEST = {"127.0.0.1": 65507, "::1": 65527}


def blocked_loop_exchange(host: str, port: int, queries: list[bytes]) -> list[bytes]:
    """Send each query and wait for its reply from a thread, while the caller (the event loop's thread)
    waits for it: every reply comes from the reader thread, none from the event loop."""
    replies: list[bytes] = []

    def client() -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            for query in queries:
                sock.sendto(query, (host, port))
                replies.append(sock.recv(65535))

    thread = threading.Thread(target=client)
    thread.start()
    thread.join(60)  # on purpose, on the event loop's thread
    assert not thread.is_alive()
    return replies


def reader_of(server: ResolverServer) -> udp_reader.UdpReader:
    return server._udp[0].reader


async def test_the_reader_runs_the_loop_asked_for_and_says_which(
    resolver: StartResolver, reader_loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dnsctl.resolver")
    server = await resolver(steering=steering())
    assert server.udp_reader == reader_of(server).kind == reader_loop
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("UDP reader loop: ")]
    assert len(said) == 1 and said[0].startswith(f"UDP reader loop: {reader_loop} (")


@pytest.mark.parametrize("host", HOSTS)
async def test_replays_carry_each_clients_id(resolver: StartResolver, reader_loop: str, host: str) -> None:
    server = await resolver(steering=steering(), listen=(HostPort(host, 0),))
    port = server.bound[0][1]
    for _ in range(2):  # the first classifies the client, the second leaves a replay behind
        assert rrset_texts(await ask(port, FQDN, "A", host=host)) == [f"{EAST.target}.", "10.1.0.5"]
    wire = make_query(FQDN, "A").to_wire()
    ids = [0, 1, 0xFFFF, 0x8000, *random.Random(7).sample(range(0x10000), 40)]
    queries = [i.to_bytes(2, "big") + wire[2:] for i in ids]
    replies = blocked_loop_exchange(host, port, queries)
    assert [r[:2] for r in replies] == [q[:2] for q in queries]
    assert len({r[2:] for r in replies}) == 1  # the very reply, but the ID
    assert rrset_texts(dns.message.from_wire(replies[-1])) == [f"{EAST.target}.", "10.1.0.5"]
    await all_counted(server.metrics, 2 + len(ids))
    assert server.metrics.by_qtype_rcode()[("A", "NOERROR")] == 2 + len(ids)


async def counted_traffic(server: ResolverServer, clock: ManualClock) -> dict[str, object]:
    """The same traffic for each loop: steered and cached forwarded names, replayed and not, from two
    clients, across a cached answer's second; what the server counted once every reply is in."""
    port = server.bound[0][1]
    for second in range(3):
        for name, rdtype in [(FQDN, "A"), (FQDN, "AAAA"), ("host.example", "A"), ("echo.example", "TXT")]:
            for source in ("127.0.0.1", "127.0.0.2"):
                for _ in range(13):
                    reply = await ask(port, name, rdtype, source=source)
                    assert reply.rcode() == dns.rcode.NOERROR
        clock.advance(1 if second == 0 else 0.25)
    await all_counted(server.metrics, 3 * 4 * 2 * 13)
    metrics = server.metrics
    return {
        "queries": metrics.by_qtype_rcode(),
        "cache_hits": metrics.cache_hits,
        "timed": sum(metrics.latency_counts),
        "dropped": metrics.dropped,
        "total": metrics.total_queries,
    }


async def test_both_loops_count_the_same_traffic_the_same(
    resolver: StartResolver, upstream: StartUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = upstream("normal", ttl=100)
    counted = {}
    for kind in ("native", "python"):
        if kind == "python":
            monkeypatch.setenv(udp_reader.PURE_PYTHON_ENV, "1")
        else:
            monkeypatch.delenv(udp_reader.PURE_PYTHON_ENV, raising=False)
        clock = ManualClock()
        server = await resolver(steering=steering(), upstreams=(up.address,), clock=clock)
        assert server.udp_reader == kind
        counted[kind] = await counted_traffic(server, clock)
        await server.stop()
    assert counted["native"] == counted["python"]
    assert counted["native"]["total"] == 312 and counted["native"]["dropped"] == 0
    hits = counted["native"]["cache_hits"]
    assert isinstance(hits, int) and hits > 0


def hostile_datagrams(host: str, wire: bytes) -> list[bytes]:
    rng = random.Random(24)
    sizes = [0, 1, 2, 11, 12, 13, 512, 4096, LARGEST[host]]
    datagrams = [bytes(rng.randrange(256) for _ in range(size)) for size in sizes]
    datagrams += [wire[:cut] for cut in range(len(wire))]  # every prefix of a replayed query
    datagrams += [wire + b"\x00" * extra for extra in (1, 2, 100)]  # and longer ones
    for _ in range(300):  # the replayed query with a few bytes changed (the ID among them or not)
        mutated = bytearray(wire)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        datagrams.append(bytes(mutated))
    datagrams += [bytes(rng.randrange(256) for _ in range(rng.randrange(600))) for _ in range(300)]
    return datagrams


@pytest.mark.parametrize("host", HOSTS)
async def test_hostile_datagrams_leave_the_reader_answering(
    resolver: StartResolver, reader_loop: str, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await resolver(steering=steering(), listen=(HostPort(host, 0),))
    port = server.bound[0][1]
    reader = reader_of(server)
    wire = make_query(FQDN, "A").to_wire()
    for _ in range(2):
        assert rrset_texts(await ask(port, dns.message.from_wire(wire), host=host))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for datagram in hostile_datagrams(host, wire):
            sock.sendto(datagram, (host, port))
            await asyncio.sleep(0)  # let the event loop take what is handed over
    # Still answering from the reader thread, and still from the event loop.
    replies = blocked_loop_exchange(host, port, [b"\x12\x34" + wire[2:]] * 5)
    assert [r[:2] for r in replies] == [b"\x12\x34"] * 5
    assert rrset_texts(dns.message.from_wire(replies[0])) == [f"{EAST.target}.", "10.1.0.5"]
    assert (await ask(port, "www.unknown.invalid", "A", host=host, timeout=10)).rcode() in (
        dns.rcode.SERVFAIL,
        dns.rcode.REFUSED,
        dns.rcode.NXDOMAIN,
    )
    assert reader.thread.is_alive()
    assert not [r for r in caplog.records if "UDP reader: unexpected error" in r.getMessage()]


async def test_stop_ends_the_reader_at_once_during_a_flood(
    resolver: StartResolver, reader_loop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await warm(port)
    reader = reader_of(server)
    poked: list[bool] = []
    monkeypatch.setattr(reader, "_poke", lambda: poked.append(True))
    flooding = threading.Event()
    done = threading.Event()

    def flood() -> None:
        wire = make_query(FQDN, "A").to_wire()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(200_000):  # bounded; ended by `done` long before
                if done.is_set():
                    return
                sock.sendto(wire, ("127.0.0.1", port))
                flooding.set()

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        assert flooding.wait(30)
        await server.stop()
    finally:
        done.set()
        thread.join(30)
    assert not reader.thread.is_alive()
    assert poked == []  # shutdown() woke it: no datagram to itself was needed


async def test_refcounts_are_stable_after_many_replays(resolver: StartResolver, reader_loop: str) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await warm(port)
    wire = make_query(FQDN, "A").to_wire()
    engine = server.engine
    replay = engine.replays[wire[2:]]
    watched: dict[str, Callable[[], object]] = {
        "replay": lambda: replay,
        "tail": lambda: replay.tail,
        "counted": lambda: replay.counted,
        "until": lambda: replay.until,
        "replays": lambda: engine.replays,
        "rendered": lambda: engine.steering.rendered,
        "allowed": lambda: ALLOWED,
        "memo": lambda: engine.policy.memo,
    }

    def refcounts() -> dict[str, int]:
        return {name: sys.getrefcount(get()) for name, get in watched.items()}

    batch = [bytes([i >> 8 & 0xFF, i & 0xFF]) + wire[2:] for i in range(200)]
    assert len(blocked_loop_batch(port, batch)) == len(batch)  # the reader's counts hold `counted` now
    before = refcounts()
    for _ in range(50):  # 10,000 replays, in batches of 200 sent before the replies are read
        replies = blocked_loop_batch(port, batch)
        assert len(replies) == len(batch)
    assert engine.replays[wire[2:]] is replay  # the same replay answered them all
    metrics = server.metrics
    await all_counted(metrics, 2 + 10_200)
    assert metrics.by_qtype_rcode() == {("A", "NOERROR"): 2 + 10_200}
    assert refcounts() == before


def blocked_loop_batch(port: int, batch: list[bytes]) -> list[bytes]:
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.settimeout(10)
        for query in batch:
            sock.sendto(query, ("127.0.0.1", port))
        for _ in batch:
            replies.append(sock.recv(65535))
    return replies


async def test_the_native_loop_answers_replays_itself(
    resolver: StartResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replays never reach Python code on the native loop: only the timed one in MEMORY_ANSWER_SAMPLE,
    and what has no replay, does."""
    monkeypatch.delenv(udp_reader.PURE_PYTHON_ENV, raising=False)
    server = await resolver(steering=steering())
    assert server.udp_reader == "native"
    port = server.bound[0][1]
    await warm(port)
    reader = reader_of(server)
    handed: list[bytes] = []
    python_datagram = reader.datagram

    def datagram(data: bytes, addr: object, timed: bool) -> bool:
        handed.append(data)
        return python_datagram(data, addr, timed)

    monkeypatch.setattr(reader, "datagram", datagram)
    wire = make_query(FQDN, "A").to_wire()
    replies = blocked_loop_batch(port, [i.to_bytes(2, "big") + wire[2:] for i in range(320)])
    assert len(replies) == 320
    assert len(handed) <= 320 // MEMORY_ANSWER_SAMPLE + 1


async def test_replays_are_rate_limited_on_both_loops(resolver: StartResolver, reader_loop: str) -> None:
    server = await resolver(
        steering=steering(), rate_limit=RateLimitSpec(qps=1, burst=4, slip=1), clock=ManualClock()
    )
    port = server.bound[0][1]
    await warm(port)  # two of the four, and a replay for the reader
    wire = make_query(FQDN, "A").to_wire()
    replies = [dns.message.from_wire(r) for r in blocked_loop_batch(port, [wire] * 10)]
    answered = [r for r in replies if r.answer]
    truncated = [r for r in replies if r.flags & dns.flags.TC and not r.answer]
    assert (len(answered), len(truncated)) == (2, 8)  # slip 1: every reply over the limit truncated
    assert server.metrics.rate_limited == 8
