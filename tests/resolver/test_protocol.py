"""Protocol correctness: EDNS, malformed queries, opcodes, ANY, the allow-list and the rate limit."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import RateLimitSpec, ResolverSpec
from dnsctl.resolver import SteeredAnswer, SteeringTable
from dnsctl.resolver.acl import ClientPolicy
from tests.resolver.conftest import StartResolver
from tests.resolver.helpers import ask, lab_zone, make_query, raw_udp, raw_udp_burst, rrset_texts
from tests.support.clock import ManualClock

FQDN = "myregistry.azurecr.io"
ZONE = lab_zone("lab.internal", (("@", "A", "10.0.0.1"),))


def steering() -> SteeringTable:
    table = SteeringTable()
    table.publish(
        SteeredAnswer(FQDN, 30, (DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",)),))
    )
    return table


@pytest.fixture
async def port(resolver: StartResolver) -> int:
    return (await resolver(steering=steering(), zones=(ZONE,))).bound[0][1]


def header(
    ident: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0
) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


QUESTION = b"\x0amyregistry\x07azurecr\x02io\x00" + struct.pack(">HH", 1, 1)
OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)


def rcode_of(reply: bytes) -> int:
    return reply[3] & 0xF


@pytest.mark.parametrize("tcp", [False, True])
async def test_opt_in_query_gets_opt_in_reply_and_none_gets_none(port: int, tcp: bool) -> None:
    for name in (FQDN, "lab.internal"):
        with_edns = await ask(port, name, "A", use_edns=0, tcp=tcp)
        assert with_edns.edns == 0 and with_edns.payload >= 512
        without = await ask(port, name, "A", use_edns=False, tcp=tcp)
        assert without.edns == -1


async def test_do_bit_is_copied(port: int) -> None:
    reply = await ask(port, FQDN, "A", want_dnssec=True)
    assert reply.ednsflags & dns.flags.DO
    reply = await ask(port, FQDN, "A", use_edns=0)
    assert not reply.ednsflags & dns.flags.DO


async def test_edns_version_other_than_zero_gets_badvers(port: int) -> None:
    reply = await ask(port, FQDN, "A", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS
    assert reply.edns == 0 and not reply.answer


async def test_qdcount_other_than_one_is_formerr(port: int) -> None:
    for packet in (header(qd=0), header(qd=2) + QUESTION + QUESTION):
        reply = await raw_udp(port, packet)
        assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR
        assert reply[:2] == b"\x12\x34" and reply[2] & 0x80


async def test_two_opt_records_are_formerr(port: int) -> None:
    reply = await raw_udp(port, header(ar=2) + QUESTION + OPT + OPT)
    assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


async def test_opt_owned_by_another_name_or_as_qtype_is_formerr(port: int) -> None:
    bad_owner = b"\x01x\x00" + OPT[1:]
    opt_qtype = b"\x01x\x00" + struct.pack(">HH", 41, 1)
    for packet in (header(ar=1) + QUESTION + bad_owner, header() + opt_qtype):
        reply = await raw_udp(port, packet)
        assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


async def test_truncated_or_compressed_question_is_formerr(port: int) -> None:
    for packet in (header() + QUESTION[:7], header() + QUESTION[:-2], header() + b"\xc0\x0c\x00\x01\x00\x01"):
        reply = await raw_udp(port, packet)
        assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


async def test_short_garbage_and_responses_are_never_answered(port: int) -> None:
    assert await raw_udp(port, b"\x00\x01\x02") is None
    response_bit = header(flags=0x8100) + QUESTION
    assert await raw_udp(port, response_bit) is None
    assert rrset_texts(await ask(port, FQDN, "A"))  # still serving


@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS, 3, 15])
async def test_unknown_opcodes_get_notimp(port: int, opcode: int) -> None:
    reply = await raw_udp(port, header(flags=(opcode << 11)) + QUESTION)
    assert reply is not None
    assert rcode_of(reply) == dns.rcode.NOTIMP
    assert (reply[2] >> 3) & 0xF == opcode
    # RD copied (RFC 1035 4.1.1); RA and CD mean something for QUERY only, so they stay clear.
    with_cd = await raw_udp(port, header(flags=(opcode << 11) | 0x0110) + QUESTION)
    assert with_cd is not None
    flags = int.from_bytes(with_cd[2:4], "big")
    assert flags & dns.flags.RD and not flags & dns.flags.RA and not flags & dns.flags.CD
    assert with_cd[4:12] == bytes(8)


async def test_any_for_a_forwarded_name_is_not_answered_without_upstream(resolver: StartResolver) -> None:
    server = await resolver()  # no upstream at all: nothing may be made up about the name
    reply = await ask(server.bound[0][1], "example.com", "ANY")
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer


async def test_zone_transfer_and_other_classes_are_refused(port: int) -> None:
    assert (await ask(port, "lab.internal", "AXFR")).rcode() == dns.rcode.REFUSED
    chaos = make_query("version.bind", "TXT", rdclass="CH")
    assert (await ask(port, chaos)).rcode() == dns.rcode.REFUSED


async def test_client_outside_the_allow_list_is_refused(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), allow=("127.0.0.1/32",))
    port = server.bound[0][1]
    assert rrset_texts(await ask(port, FQDN, "A", source="127.0.0.1"))
    refused = await ask(port, FQDN, "A", source="127.0.0.2")
    assert refused.rcode() == dns.rcode.REFUSED and not refused.answer
    # Over TCP the connection is closed at accept, before any query is read.
    with pytest.raises((EOFError, ConnectionError)):
        await ask(port, FQDN, "A", source="127.0.0.2", tcp=True)
    assert server.metrics.tcp_refused == {"not_allowed": 1}
    # Garbage from outside the allow-list gets nothing at all.
    assert await raw_udp(port, header(qd=0), source="127.0.0.2") is None
    assert server.metrics.refused == 1


def test_default_allow_list_is_loopback_only() -> None:
    policy = ClientPolicy(ResolverSpec().allow, ())
    assert policy.classify("127.0.0.1")[0] and policy.classify("127.8.9.10")[0]
    assert policy.classify("::1")[0] and policy.classify("::ffff:127.0.0.1")[0]
    for outsider in ("10.0.0.1", "192.168.1.1", "8.8.8.8", "fd00::1", "not-an-address"):
        assert not policy.classify(outsider)[0], outsider


async def test_rate_limit_limits_the_flooder_only(resolver: StartResolver) -> None:
    clock = ManualClock()  # frozen: no tokens come back until the test moves time
    server = await resolver(steering=steering(), rate_limit=RateLimitSpec(qps=1, burst=5), clock=clock)
    port = server.bound[0][1]
    queries = [make_query(FQDN, "A", use_edns=0, payload=4096) for _ in range(20)]
    wires = [q.to_wire() for q in queries]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(port, wires)]
    full = [r for r in replies if r.answer]
    truncated = [r for r in replies if r.flags & dns.flags.TC]
    # 5 in the bucket; of the 15 over the limit every 2nd (slip 2) is truncated, the rest dropped.
    assert (len(full), len(truncated), len(replies)) == (5, 7, 12)
    for reply in truncated:
        assert not reply.answer and len(reply.to_wire()) <= min(len(w) for w in wires)
    assert server.metrics.rate_limited == 15
    # The same question from the flooder's /24 shares its limit; another question does not.
    assert not rrset_texts(
        await ask(port, FQDN, "A", source="127.0.0.3", use_edns=0, payload=4096, timeout=0.5)
    )
    assert await ask(port, "other.example", "A", source="127.0.0.3", timeout=1)
    # Another client network is unaffected.
    assert rrset_texts(await ask(port, FQDN, "A", source="127.0.1.3"))
    # TCP is not rate limited (a handshake proves the source).
    assert rrset_texts(await ask(port, FQDN, "A", tcp=True))
    clock.advance(2)
    assert rrset_texts(await ask(port, FQDN, "A"))


@pytest.mark.parametrize(
    ("allow", "limited"), [(("127.0.0.0/8",), False), (("127.0.0.0/8", "10.0.0.0/8"), True)]
)
async def test_rate_limiting_is_on_by_default_when_allow_is_wider_than_loopback(
    resolver: StartResolver, allow: tuple[str, ...], limited: bool
) -> None:
    server = await resolver(steering=steering(), allow=allow, clock=ManualClock())
    wires = [make_query(FQDN, "A").to_wire() for _ in range(150)]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(server.bound[0][1], wires)]
    answered = [r for r in replies if r.answer]
    if limited:  # a bucket of 100 (burst), then every 2nd of the 50 over the limit truncated
        assert (len(answered), len(replies)) == (100, 125)
        assert server.metrics.rate_limited == 50
    else:
        assert len(answered) == 150 and server.metrics.rate_limited == 0


async def test_rate_limit_zero_is_off(resolver: StartResolver) -> None:
    server = await resolver(
        steering=steering(), rate_limit=RateLimitSpec(qps=0, burst=1), clock=ManualClock()
    )
    wires = [make_query(FQDN, "A").to_wire() for _ in range(30)]
    replies = await raw_udp_burst(server.bound[0][1], wires)
    assert len(replies) == 30 and all(dns.message.from_wire(r).answer for r in replies)


async def test_metrics_count_queries_by_type_and_rcode(resolver: StartResolver) -> None:
    server = await resolver(steering=steering(), zones=(ZONE,))
    port = server.bound[0][1]
    await ask(port, FQDN, "A")
    await ask(port, FQDN, "AAAA")
    await ask(port, "missing.lab.internal", "A")
    counts = server.metrics.by_qtype_rcode()
    assert counts[("A", "NOERROR")] == 1
    assert counts[("AAAA", "NOERROR")] == 1
    assert counts[("A", "NXDOMAIN")] == 1
    await ask(port, "elsewhere.example", "A")  # no upstream: SERVFAIL, after the forwarding path
    assert server.metrics.by_qtype_rcode()[("A", "SERVFAIL")] == 1
    assert sum(server.metrics.latency_counts) >= 1  # upstream-bound queries are always timed
