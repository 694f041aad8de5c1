"""The fast path's answers equal the ones dnslib renders: lab zones rendered at load time and cached
forwarded answers served as stored wire (ID, name case, TTLs and EDNS bits patched) compare equal, as
messages, to the whole reply rendered by dnslib for that very query."""

from __future__ import annotations

import ipaddress
from struct import pack

import dns.message
from dnslib import EDNS0, QTYPE, RR, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import CacheSpec, HostPort, ResolverSpec
from dnsctl.core.zone_records import ZoneSpec
from dnsctl.resolver import ResolverMetrics, SteeredAnswer, SteeringTable
from dnsctl.resolver.engine import Resolver
from dnsctl.resolver.forwarded import variant_key
from dnsctl.resolver.normalize import normalize_reply
from dnsctl.resolver.wire import encode_name, lookup_key
from tests.resolver.helpers import lab_zone
from tests.support.clock import ManualClock

HOST = "127.0.0.1"
LABEL = st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True)
TTL = st.integers(min_value=0, max_value=86_400)
QTYPES = ["A", "AAAA", "TXT", "MX", "SRV", "NS", "SOA", "ANY", "CNAME"]


@st.composite
def zones(draw: st.DrawFn) -> ZoneSpec:
    origin = ".".join(draw(st.lists(LABEL, min_size=1, max_size=3))) + ".lab"
    owners = draw(st.lists(st.sampled_from(["@", "www", "api", "db.int", "x.y.z"]), min_size=1, max_size=4))
    records = []
    for owner in owners:
        kind = draw(st.sampled_from(["A", "AAAA", "TXT", "MX", "SRV"]))
        if kind == "A":
            value = str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
        elif kind == "AAAA":
            value = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
        elif kind == "TXT":
            value = draw(
                st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300)
            )
        elif kind == "MX":
            value = f"{draw(st.integers(0, 65535))} {draw(LABEL)}.{origin}."
        else:
            value = f"{draw(st.integers(0, 9))} {draw(st.integers(0, 9))} {draw(st.integers(1, 65535))} srv"
        for _ in range(draw(st.integers(1, 3))):
            records.append((owner, kind, value, draw(TTL)))
    return lab_zone(origin, records)


@st.composite
def shapes(draw: st.DrawFn) -> dict[str, object]:
    """How the client asks: ID, RD/CD bits, EDNS or not (any buffer size), DO."""
    edns = draw(st.booleans())
    return {
        "id": draw(st.integers(0, 65535)),
        "rd": draw(st.booleans()),
        "cd": draw(st.booleans()),
        "edns": edns,
        "size": draw(st.integers(0, 65535)) if edns else 0,
        "do": draw(st.booleans()) if edns else False,
    }


def query_wire(name: str, qtype: str, shape: dict[str, object]) -> bytes:
    q = DNSRecord.question(name, qtype)
    q.header.id = int(shape["id"])  # type: ignore[call-overload]
    q.header.rd = int(bool(shape["rd"]))
    q.header.cd = int(bool(shape["cd"]))
    if shape["edns"]:
        q.add_ar(EDNS0(udp_len=int(shape["size"]), flags="do" if shape["do"] else ""))  # type: ignore[call-overload]
    wire = bytes(q.pack())
    return wire


def dnslib_reply(query: bytes, message: bytes, *, aa: bool) -> bytes:
    """The whole reply to `query` rendered by dnslib from `message`: the client's ID, name and RD/CD,
    our OPT (1232, DO echoed); TC and the question alone when it exceeds the client's buffer."""
    q = DNSRecord.parse(query)
    r = DNSRecord.parse(message)
    r.header.id = q.header.id
    r.header.qr, r.header.ra, r.header.aa, r.header.ad, r.header.tc = 1, 1, int(aa), 0, 0
    r.header.rd, r.header.cd = q.header.rd, q.header.cd
    r.questions = [q.q]
    r.ar = [rr for rr in r.ar if rr.rtype != QTYPE.OPT]
    opts = [rr for rr in q.ar if rr.rtype == QTYPE.OPT]
    limit = 512
    if opts:
        limit = min(max(opts[0].rclass, 512), 4096)
        r.add_ar(EDNS0(udp_len=1232, flags="do" if opts[0].ttl & 0x8000 else ""))
    wire = bytes(r.pack())
    if len(wire) > limit:
        r.rr, r.auth = [], []
        r.ar = r.ar[-1:] if opts else []
        r.header.tc = 1
        wire = bytes(r.pack())
    return wire


def same_message(fast: bytes, reference: bytes) -> None:
    ours = dns.message.from_wire(fast)
    theirs = dns.message.from_wire(reference)
    # Equal as messages: ID, flags, rcode, every RRset (names compared regardless of case: ours point at
    # the question, so their owners take the client's case), and the same TTLs, EDNS and DO bit.
    assert ours == theirs
    assert (ours.flags, ours.rcode()) == (theirs.flags, theirs.rcode())
    for section in ("answer", "authority", "additional"):
        assert [(r.name, r.rdtype, r.ttl) for r in getattr(ours, section)] == [
            (r.name, r.rdtype, r.ttl) for r in getattr(theirs, section)
        ]
    assert (ours.edns, ours.ednsflags, ours.payload) == (theirs.edns, theirs.ednsflags, theirs.payload)
    assert ours.question[0].name.labels == theirs.question[0].name.labels  # the client's 0x20 case


def replayed(engine: Resolver, wire: bytes, host: str = HOST) -> bytes | None:
    """What a UDP reader thread would send for these bytes without the event loop (None: hand over)."""
    replay = engine.replay(wire, host, engine.clock.monotonic())
    return None if replay is None else wire[:2] + replay.tail


def engine_for(*, zones: tuple[ZoneSpec, ...] = (), clock: ManualClock | None = None) -> Resolver:
    spec = ResolverSpec(
        listen=(HostPort(HOST, 0),),
        upstreams=(HostPort(HOST, 9),),
        zones=zones,
        cache=CacheSpec(max_ttl=86_400),
    )
    engine = Resolver(
        spec, SteeringTable(), ResolverMetrics(), clock=clock if clock is not None else ManualClock()
    )
    # A client's first datagram is classified the long way; the fast path serves those that follow.
    assert engine.policy.classify(HOST) == (True, None)
    return engine


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone=zones(), data=st.data(), shape=shapes())
def test_lab_zone_answers_equal_dnslib_rendering(
    zone: ZoneSpec, data: st.DataObject, shape: dict[str, object]
) -> None:
    engine = engine_for(zones=(zone,))
    name = data.draw(st.sampled_from(sorted({r.name for r in zone.records} | {zone.name, f"ns.{zone.name}"})))
    qtype = data.draw(st.sampled_from(QTYPES))
    key = lookup_key(name, getattr(QTYPE, qtype))
    assert key in engine.zones.rendered  # an existing name: served from what was rendered at load
    wire = query_wire(random_case_of(data, name), qtype, shape)
    fast = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    assert isinstance(fast, bytes)
    assert replayed(engine, wire[:2][::-1] + wire[2:]) == wire[:2][::-1] + fast[2:]  # another ID: replayed
    labels = tuple(label.encode() for label in name.split("."))
    slow = engine.zones.resolve(labels, getattr(QTYPE, qtype))  # rendered again by dnslib, now
    assert slow is not None
    same_message(fast, dnslib_reply(wire, slow.message(encode_name(name)), aa=True))


def random_case_of(data: st.DataObject, name: str) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=True))


@st.composite
def upstream_replies(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A name, a type and an upstream reply for it (positive, or NXDOMAIN with an SOA), packed by dnslib."""
    name = ".".join(draw(st.lists(LABEL, min_size=1, max_size=4))) + ".example"
    qtype = draw(st.sampled_from(["A", "AAAA", "TXT"]))
    reply = _reply_to(name, qtype)
    if draw(st.booleans()):
        count = draw(st.integers(1, 6))
        lines = []
        for i in range(count):
            if qtype == "A":
                value = str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
            elif qtype == "AAAA":
                value = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
            else:
                value = f'"{i}-' + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=80)) + '"'
            lines.append(f"{name}. {draw(st.integers(1, 86_400))} IN {qtype} {value}")
        reply.add_answer(*DNSRecord.parse(_zone_message(name, qtype, lines)).rr)
    else:
        reply.header.rcode = 3
        ttl = draw(st.integers(1, 900))
        soa = f"example. {ttl} IN SOA ns.example. host.example. 1 3600 600 86400 {ttl}"
        reply.add_auth(*DNSRecord.parse(_zone_message(name, qtype, [soa])).rr)
    return name, qtype, bytes(reply.pack())


def _reply_to(name: str, qtype: str) -> DNSRecord:
    """An empty reply, with a fixed ID (DNSRecord.question draws one with `random`)."""
    return DNSRecord(DNSHeader(id=1, qr=1, ra=1), q=DNSQuestion(name, getattr(QTYPE, qtype)))


def _zone_message(name: str, qtype: str, lines: list[str]) -> bytes:
    """Records written as zone file lines, packed by dnslib into a message."""
    record = _reply_to(name, qtype)
    for line in lines:
        record.add_answer(*RR.fromZone(line))
    packed = bytes(record.pack())
    return packed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=upstream_replies(), data=st.data(), shape=shapes(), age=st.integers(0, 1000))
def test_cached_answers_equal_dnslib_rendering(
    reply: tuple[str, str, bytes], data: st.DataObject, shape: dict[str, object], age: int
) -> None:
    name, qtype, upstream = reply
    clock = ManualClock()
    engine = engine_for(clock=clock)
    key = lookup_key(name, getattr(QTYPE, qtype))
    normalized = normalize_reply(upstream, len(key) - 4, engine.spec.cache)
    engine.cache.store(variant_key(key, bool(shape["do"]), bool(shape["cd"])), normalized, clock.monotonic())
    clock.advance(age)
    wire = query_wire(random_case_of(data, name), qtype, shape)
    fast = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    if age >= normalized.lifetime:
        assert not isinstance(fast, bytes)  # expired: not served from memory
        return
    assert isinstance(fast, bytes)
    assert replayed(engine, wire) == fast  # again, within the same second: replayed
    # dnslib's rendering of the upstream reply with every TTL lowered by the time spent in cache.
    expected = DNSRecord.parse(upstream)
    for rr in expected.rr + expected.auth:
        rr.ttl = max(rr.ttl - age, 0)
    same_message(fast, dnslib_reply(wire, expected.pack(), aa=False))


def test_a_cache_hit_rewrites_ttls_from_offsets_kept_at_insert() -> None:
    clock = ManualClock()
    engine = engine_for(clock=clock)
    reply = _reply_to("host.example", "A")
    reply.add_answer(
        *DNSRecord.parse(_zone_message("host.example", "A", ["host.example. 100 IN A 192.0.2.1"])).rr
    )
    key = lookup_key("host.example", 1)
    engine.cache.store(key, normalize_reply(reply.pack(), len(key) - 4, engine.spec.cache), clock.monotonic())
    entry = engine.cache.entries[key]
    assert len(entry.ttls) == 2  # one offset, packed
    wire = query_wire(
        "HOST.example", "A", {"id": 7, "rd": True, "cd": False, "edns": False, "size": 0, "do": False}
    )
    clock.advance(42)
    fast = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    assert isinstance(fast, bytes)
    assert fast[:2] == pack(">H", 7)
    assert dns.message.from_wire(fast).answer[0].ttl == 58
    clock.advance(0.5)
    assert replayed(engine, wire) == fast  # the same second: the same reply
    assert engine.policy.classify("192.0.2.99")[0] is False
    assert replayed(engine, wire, "192.0.2.99") is None  # a client outside `allow` is never replayed to
    clock.advance(0.5)
    assert replayed(engine, wire) is None  # the next second: TTLs to lower
    later = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    assert isinstance(later, bytes)
    assert dns.message.from_wire(later).answer[0].ttl == 57
    assert replayed(engine, wire) == later
    clock.advance(57)
    assert replayed(engine, wire) is None
    assert not isinstance(
        engine.quick_udp(wire, HOST, engine.clock.monotonic()), bytes
    )  # expired: not from memory


def test_a_replayed_steered_reply_follows_the_next_decision() -> None:
    engine = engine_for()
    engine.steering.publish(
        SteeredAnswer("app.example", 30, (DecisionTarget(None, "east.example", ("10.0.0.1",)),))
    )
    wire = query_wire(
        "App.example", "A", {"id": 9, "rd": True, "cd": False, "edns": True, "size": 1232, "do": False}
    )
    first = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    assert replayed(engine, wire) == first
    engine.steering.publish(
        SteeredAnswer("app.example", 30, (DecisionTarget(None, "west.example", ("10.0.0.2",)),))
    )
    assert replayed(engine, wire) is None  # made for the previous decision
    after = engine.quick_udp(wire, HOST, engine.clock.monotonic())
    assert isinstance(after, bytes)
    assert [rr.to_text() for rrset in dns.message.from_wire(after).answer for rr in rrset] == [
        "west.example.",
        "10.0.0.2",
    ]
