"""Response rate limiting applies to every UDP response on its way out, grouped as BIND's RRL groups."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import socket
import threading
import time
from collections.abc import Callable

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from dnsctl.core.model import RateLimitSpec
from dnsctl.resolver import ResolverServer
from dnsctl.resolver.ratelimit import ERRORS, RateLimiter, bucket_of
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import lab_zone, make_query, raw_udp_burst
from tests.support.clock import ManualClock

FQDN = "myregistry.azurecr.io"


async def test_refused_responses_are_limited_too(resolver: StartResolver) -> None:
    """A flood spoofed from outside `allow` reflects no more REFUSED replies than the limit."""
    # The burst is sent from 127.0.0.1, outside this allow-list.
    server = await resolver(
        allow=("127.0.0.2/32",), rate_limit=RateLimitSpec(qps=1, burst=3, slip=0), clock=ManualClock()
    )
    wires = [make_query("a.example", "A").to_wire() for _ in range(10)]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(server.bound[0][1], wires)]
    assert [r.rcode() for r in replies] == [dns.rcode.REFUSED] * 3  # slip 0: the rest dropped
    assert server.metrics.rate_limited == 7 and server.metrics.refused == 10


@pytest.mark.usefixtures("reader_loop")  # the limiter path of both reader loops
async def test_answers_from_memory_are_limited_on_the_fast_path(resolver: StartResolver) -> None:
    from tests.resolver.test_transport import steering

    server = await resolver(
        steering=steering(), rate_limit=RateLimitSpec(qps=1, burst=4, slip=1), clock=ManualClock()
    )
    wires = [make_query("myregistry.azurecr.io", "A").to_wire() for _ in range(10)]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(server.bound[0][1], wires)]
    answered = [r for r in replies if r.answer]
    truncated = [r for r in replies if r.flags & dns.flags.TC and not r.answer]
    assert (len(answered), len(truncated)) == (4, 6)  # slip 1: every reply over the limit truncated
    assert all(r.rcode() == dns.rcode.NOERROR for r in replies)


# --- spoofed floods that vary the question: responses are grouped as BIND's RRL groups them ----------

LAB = lab_zone(
    "lab.example",
    (
        ("www", "A", "10.0.0.7"),
        ("www", "AAAA", "2001:db8::7"),
        ("www", "TXT", "a lab host with a few records of a few types, to answer with"),
        ("www", "MX", "10 mail.lab.example."),
    ),
)
BURST = 10
FLOOD = 1000


def _query(name: str, rdtype: int | str, *, rdclass: str = "IN", opcode: int = 0, edns: int = -1) -> bytes:
    q = dns.message.make_query(name, dns.rdatatype.RdataType.make(rdtype), rdclass, use_edns=edns)
    q.set_opcode(dns.opcode.Opcode.make(opcode))
    return q.to_wire()


def _types_of_one_name(rng: random.Random) -> list[bytes]:
    """Every type from 1 to 300 in turn on a name that has four of them (and 41, OPT, is FORMERR)."""
    return [_query("www.lab.example", 1 + i % 300) for i in range(FLOOD)]


def _names_under_a_lab_zone(rng: random.Random) -> list[bytes]:
    """NXDOMAIN: a fresh random name each time."""
    return [_query(f"{rng.getrandbits(48):x}.lab.example", "TXT", edns=0) for _ in range(FLOOD)]


def _types_a_lab_name_lacks(rng: random.Random) -> list[bytes]:
    """NODATA: random unassigned types of a lab name."""
    return [_query("www.lab.example", rng.randrange(1000, 65000)) for _ in range(FLOOD)]


def _types_a_steered_name_lacks(rng: random.Random) -> list[bytes]:
    """The steered name's CNAME and its synthesized zone's SOA, for random types."""
    return [_query(FQDN, rng.randrange(1000, 65000), edns=0) for _ in range(FLOOD)]


def _errors(rng: random.Random) -> list[bytes]:
    """SERVFAIL (forwarded, no upstream), REFUSED (class CH, AXFR), NOTIMP (NOTIFY), BADVERS, FORMERR."""
    kinds = [
        lambda: _query(f"{rng.getrandbits(48):x}.elsewhere.example", "A"),
        lambda: _query(f"{rng.getrandbits(48):x}.lab.example", "TXT", rdclass="CH"),
        lambda: _query(f"{rng.getrandbits(48):x}.lab.example", "AXFR"),
        lambda: _query(f"{rng.getrandbits(48):x}.lab.example", "A", opcode=dns.opcode.NOTIFY),
        lambda: _query(f"{rng.getrandbits(48):x}.lab.example", "A", edns=1),
        lambda: _query(f"{rng.getrandbits(48):x}.lab.example", "OPT"),
    ]
    return [kinds[i % len(kinds)]() for i in range(FLOOD)]


def _decided(limiter: RateLimiter, burst: int) -> int:
    """Responses the limiter has let through or held back so far (the clock is frozen: no refill)."""
    return round(sum(burst - tokens + over for tokens, _, over in list(limiter._buckets.values())))


def _told_of_decisions(limiter: RateLimiter) -> threading.Condition:
    """A condition notified after each decision of the running server's limiter (its `allow`, wrapped on
    this instance: the decision itself is unchanged), so the flood waits on decisions, not on a timer."""
    changed = threading.Condition()
    allow = limiter.allow

    def allow_and_tell(client: str, group: bytes, now: float) -> bool:
        try:
            return allow(client, group, now)
        finally:
            with changed:
                changed.notify_all()

    limiter.allow = allow_and_tell  # type: ignore[method-assign]
    return changed


async def _until(
    changed: threading.Condition, check: Callable[[], bool], what: str, limit: float = 60.0
) -> None:
    """Until `check` holds, re-checked each time `changed` is notified (in a thread: the server answers on
    this event loop)."""

    def wait() -> bool:
        with changed:
            return changed.wait_for(check, limit)

    assert await asyncio.to_thread(wait), f"timed out waiting for {what}"


async def spoofed_flood(server: ResolverServer, wires: list[bytes], burst: int) -> list[bytes]:
    """Send `wires` from one socket as a spoofed flood arrives (every one to the victim's address) and
    read every reply that comes back. Nothing is missed: the sender stays at most
    200 queries ahead of the limiter's decisions, a thread reads the replies as they come, and the count
    of replies expected (the limiter's own tally: those let through, and every `slip`-th one over) is
    awaited before the bytes are added up. Every wait is woken by a decision or a reply."""
    limiter = server.limiter
    assert limiter is not None
    port = server.bound[0][1]
    received: list[bytes] = []
    stop = threading.Event()
    changed = _told_of_decisions(limiter)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

        def receive() -> None:
            while not stop.is_set():
                try:
                    reply = sock.recv(65535)
                except TimeoutError:
                    continue
                with changed:
                    received.append(reply)
                    changed.notify_all()

        def within_reach(sent: int) -> bool:
            return sent - _decided(limiter, burst) < 200

        def send() -> None:
            deadline = time.monotonic() + 60
            for sent, wire in enumerate(wires):
                with changed:
                    changed.wait_for(
                        functools.partial(within_reach, sent), max(deadline - time.monotonic(), 0.0)
                    )
                sock.sendto(wire, ("127.0.0.1", port))

        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        try:
            await asyncio.to_thread(send)
            await _until(
                changed, lambda: _decided(limiter, burst) == len(wires), "every query to be answered"
            )
            over = [int(b[2]) for b in list(limiter._buckets.values())]
            expected = len(wires) - sum(over) + sum(n // limiter.slip_every for n in over)
            await _until(changed, lambda: len(received) >= expected, f"{expected} replies")
        finally:
            stop.set()
            reader.join(5)
    return received


def assert_limited(wires: list[bytes], replies: list[bytes], groups: int) -> None:
    """No more bytes out than in, and whole replies (not truncated) for `groups` buckets at most."""
    bytes_in, bytes_out = sum(len(w) for w in wires), sum(len(r) for r in replies)
    assert bytes_out <= bytes_in, f"amplification {bytes_out / bytes_in:.2f}x"
    whole = [r for r in replies if not dns.message.from_wire(r, ignore_trailing=True).flags & dns.flags.TC]
    assert len(whole) <= groups * BURST, f"{len(whole)} whole replies"


@pytest.mark.parametrize(
    ("variation", "groups"),
    [
        # A, AAAA, TXT, MX and ANY answered; NODATA for the other types; errors (AXFR, IXFR, OPT).
        (_types_of_one_name, 7),
        (_names_under_a_lab_zone, 1),
        (_types_a_lab_name_lacks, 1),
        (_types_a_steered_name_lacks, 1),
        (_errors, 1),
    ],
)
async def test_a_flood_that_varies_the_question_reflects_no_more_bytes_than_it_sends(
    resolver: StartResolver, variation: Callable[[random.Random], list[bytes]], groups: int
) -> None:
    from tests.resolver.test_transport import steering

    server = await resolver(
        steering=steering(),
        zones=(LAB,),
        allow=("127.0.0.0/8", "10.0.0.0/8"),  # the victim is inside `allow`
        rate_limit=RateLimitSpec(qps=10, burst=BURST),  # slip 2, the default
        clock=ManualClock(),  # frozen: a flood of any length is over within one second
    )
    wires = variation(random.Random(18))
    assert_limited(wires, await spoofed_flood(server, wires, BURST), groups)


async def test_a_flood_of_forwarded_nxdomain_names_is_limited_per_zone(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")  # "nx…" names: NXDOMAIN with the SOA of "test."
    server = await resolver(
        upstreams=(up.address,),
        allow=("127.0.0.0/8", "10.0.0.0/8"),
        rate_limit=RateLimitSpec(qps=10, burst=BURST),
        clock=ManualClock(),
    )
    rng = random.Random(5)
    wires = [_query(f"nx{rng.getrandbits(48):x}.flood.example", "A", edns=0) for _ in range(400)]
    assert_limited(wires, await spoofed_flood(server, wires, BURST), 1)


def _reply(
    name: str,
    rdtype: str,
    rcode: int = dns.rcode.NOERROR,
    answer: str | None = None,
    soa: str | None = None,
) -> bytes:
    r = dns.message.make_response(dns.message.make_query(name, rdtype))
    r.set_rcode(dns.rcode.Rcode.make(rcode))
    if answer is not None:
        r.answer.append(dns.rrset.from_text(name + ".", 60, "IN", *answer.split(" ", 1)))
    if soa is not None:
        r.authority.append(dns.rrset.from_text(soa + ".", 60, "IN", "SOA", f"ns.{soa}. h.{soa}. 1 2 3 4 5"))
    return r.to_wire()


def test_responses_are_grouped_like_binds_rrl() -> None:
    # A positive answer: per name (any letter case) and type.
    a = bucket_of(_reply("www.Lab.example", "A", answer="A 10.0.0.7"))
    assert a == bucket_of(_reply("WWW.lab.example", "A", answer="A 10.0.0.7"))
    assert a != bucket_of(_reply("www.lab.example", "AAAA", answer="AAAA ::1"))
    assert a != bucket_of(_reply("ftp.lab.example", "A", answer="A 10.0.0.7"))
    # NODATA: per name, whatever the type (a CNAME without the type asked for is NODATA too).
    nodata = bucket_of(_reply("www.lab.example", "TXT", soa="lab.example"))
    assert nodata == bucket_of(_reply("www.lab.example", "TYPE4000", soa="lab.example"))
    assert nodata == bucket_of(_reply("www.lab.example", "MX", answer="CNAME other.example."))
    assert nodata != bucket_of(_reply("ftp.lab.example", "TXT", soa="lab.example"))
    assert nodata not in (a, bucket_of(_reply("www.lab.example", "TXT", answer='TXT "x"')))
    # NXDOMAIN: per zone, the SOA's owner; without an SOA, the parent name.
    nx = bucket_of(_reply("a.b.lab.example", "A", dns.rcode.NXDOMAIN, soa="lab.example"))
    assert nx == bucket_of(_reply("zzz.lab.example", "MX", dns.rcode.NXDOMAIN, soa="Lab.Example"))
    assert nx != bucket_of(_reply("zzz.other.example", "MX", dns.rcode.NXDOMAIN, soa="other.example"))
    bare = bucket_of(_reply("x.parent.example", "A", dns.rcode.NXDOMAIN))
    assert bare == bucket_of(_reply("y.parent.example", "AAAA", dns.rcode.NXDOMAIN))
    assert bare != bucket_of(_reply("x.y.parent.example", "AAAA", dns.rcode.NXDOMAIN))
    # Errors of any kind, and replies without a question or that cannot be read: per client network.
    for rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP):
        assert bucket_of(_reply(f"n{rcode}.example", "A", rcode)) == ERRORS
    badvers = dns.message.make_response(dns.message.make_query("v.example", "A", use_edns=0))
    badvers.set_rcode(dns.rcode.BADVERS)
    assert bucket_of(badvers.to_wire()) == ERRORS
    assert bucket_of(bytes.fromhex("abcd81010000000000000000")) == ERRORS  # FORMERR without a question
    assert bucket_of(bytes.fromhex("abcd8180000100000000000040")) == ERRORS  # a label over 63
