"""Each UDP socket has a reader thread: it answers what it has answered before (the same query bytes, any
ID) without the event loop, hands everything else over within a bound, and ends when the server stops."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rcode
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.resolver import SteeredAnswer, SteeringTable, udp_reader
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import all_counted, ask, make_query, rrset_texts
from tests.support.clock import ManualClock

# Every test here runs on the native reader loop and on the Python one.
pytestmark = pytest.mark.usefixtures("reader_loop")

FQDN = "myregistry.azurecr.io"
EAST = DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",))
WEST = DecisionTarget(None, "myregistry.westeurope.geo.azurecr.io", ("10.2.0.5",))


def steering(target: DecisionTarget = EAST) -> SteeringTable:
    table = SteeringTable()
    table.publish(SteeredAnswer(FQDN, 30, (target,)))
    return table


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dnsctl-udp"]


async def warm(port: int) -> None:
    """A client's first query is classified on the event loop, the next one leaves a replay behind."""
    for _ in range(2):
        assert rrset_texts(await ask(port, FQDN, "A"))


async def test_replayed_answers_go_out_while_the_event_loop_is_blocked(resolver: StartResolver) -> None:
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await warm(port)
    answered: list[tuple[float, list[str]]] = []

    def client() -> None:
        for _ in range(10):
            reply = dns.query.udp(make_query(FQDN, "A"), "127.0.0.1", port=port, timeout=2)
            answered.append((time.monotonic(), rrset_texts(reply)))

    thread = threading.Thread(target=client)
    blocked_from = time.monotonic()
    thread.start()
    thread.join(30)  # on purpose: the event loop does nothing until the client has had every answer
    blocked_until = time.monotonic()
    assert not thread.is_alive()
    assert len(answered) == 10
    assert all(texts == [f"{EAST.target}.", "10.1.0.5"] for _, texts in answered)
    assert all(blocked_from < at < blocked_until for at, _ in answered)  # none waited for the loop
    metrics = server.metrics
    await all_counted(metrics, 12)
    assert metrics.total_queries == 12 and metrics.by_qtype_rcode()[("A", "NOERROR")] == 12


async def test_a_new_decision_is_never_answered_from_a_replay_of_the_old(resolver: StartResolver) -> None:
    table = steering()
    server = await resolver(steering=table)
    port = server.bound[0][1]
    await warm(port)
    table.publish(SteeredAnswer(FQDN, 30, (WEST,)))
    for _ in range(3):
        assert rrset_texts(await ask(port, FQDN, "A")) == [f"{WEST.target}.", "10.2.0.5"]


# The same queries (n0 to n199, padded to one size) run into a bound by number or by bytes.
@pytest.mark.parametrize("bound", ["MAX_HANDED", "MAX_HANDED_BYTES"])
async def test_what_waits_for_the_event_loop_is_bounded(
    resolver: StartResolver, monkeypatch: pytest.MonkeyPatch, bound: str
) -> None:
    queries = [make_query(f"n{i:03}.unknown.example", "A").to_wire() for i in range(200)]
    monkeypatch.setattr(udp_reader, bound, 20 if bound == "MAX_HANDED" else 20 * len(queries[0]))
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    reader = server._udp[0].reader
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        # The loop is blocked: nothing handed over is taken, so the reader keeps at most 20 waiting.
        for query in queries:
            sock.sendto(query, ("127.0.0.1", port))
        deadline = time.monotonic() + 5
        while server.metrics.dropped < 180 and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 (on purpose: the event loop stays blocked)
        assert (reader.handed, reader.taken, server.metrics.dropped) == (20, 0, 180)
        assert reader.handed_bytes == 20 * len(queries[0])
    # The loop runs again and takes what was handed over (its callbacks are queued: turns, not time).
    for _ in range(1000):
        if (reader.taken, reader.taken_bytes) == (reader.handed, reader.handed_bytes):
            break
        await asyncio.sleep(0)
    assert (reader.taken, reader.taken_bytes) == (reader.handed, reader.handed_bytes)


async def test_stop_ends_the_reader_and_frees_the_port(resolver: StartResolver) -> None:
    before = len(readers())
    server = await resolver(steering=steering())
    port = server.bound[0][1]
    await warm(port)
    assert len(readers()) == before + 1
    await server.stop()
    assert len(readers()) == before
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))  # free again, at once


async def test_a_client_outside_allow_is_refused_whatever_bytes_it_sends(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), allow=("127.0.0.1/32",))
    port = server.bound[0][1]
    await warm(port)
    # The same query bytes (but the ID) from an address outside `allow`: refused, never replayed.
    for _ in range(3):
        reply = await ask(port, FQDN, "A", source="127.0.0.3")
        assert reply.rcode() == dns.rcode.REFUSED and not reply.answer


async def test_a_cached_answer_is_replayed_only_within_the_second_of_its_ttls(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal", ttl=100)
    clock = ManualClock()
    server = await resolver(upstreams=(up.address,), clock=clock)
    port = server.bound[0][1]
    ttls = []
    for step in (0, 0, 0, 0.5, 0.5, 0, 98.5, 0, 0.5):
        clock.advance(step)
        reply = await ask(port, "host.example", "A")
        ttls.append((rrset_texts(reply), reply.answer[0].ttl))
    first, fresh = ["192.0.2.1"], ["192.0.2.2"]
    assert ttls == [
        (first, 100),
        (first, 100),
        (first, 100),
        (first, 100),
        (first, 99),
        (first, 99),
        (first, 1),
        (first, 1),
        (fresh, 100),  # expired at 100 s, not one replay later
    ]
    assert server.metrics.cache_hits == 7 and server.metrics.total_queries == 9


@pytest.fixture
def switch_interval() -> Iterator[float]:
    """The interpreter's default switch interval for the test, and the one before it restored after."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        yield 0.005
    finally:
        sys.setswitchinterval(before)


async def test_readers_started_in_process_leave_the_switch_interval_alone(
    resolver: StartResolver, switch_interval: float
) -> None:
    """The switch interval is the whole process's: readers started in a process that is not the
    resolver's (tests, a caller embedding the server) must not change it for every other thread."""
    server = await resolver(steering=steering())
    reply = await ask(server.bound[0][1], FQDN, "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert sys.getswitchinterval() == switch_interval


def test_serve_shortens_the_switch_interval_and_never_lengthens_it(switch_interval: float) -> None:
    """A reader woken by a datagram needs the GIL: the default switch interval (5 ms) would let a busy
    event loop hold answers from memory that long. `dnsctl serve` lowers it for its process."""
    udp_reader.shorten_switch_interval()
    assert sys.getswitchinterval() <= udp_reader.SWITCH_INTERVAL < 0.001
    sys.setswitchinterval(0.0001)
    udp_reader.shorten_switch_interval()
    assert sys.getswitchinterval() == pytest.approx(0.0001)


def test_importing_the_commands_leaves_the_switch_interval_alone() -> None:
    """Only `serve` sets it: importing what `run`, `mirror` and the tests import does not."""
    modules = ["dnsctl.cli.main", "dnsctl.cli.daemons", "dnsctl.controller.serve", "dnsctl.controller.run"]
    modules += ["dnsctl.controller.mirror", "dnsctl.resolver", "dnsctl.resolver.udp_reader"]
    script = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
    script += "print(sys.getswitchinterval())"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert float(out.stdout) == 0.005, out.stderr
