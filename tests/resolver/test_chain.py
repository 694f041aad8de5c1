"""Records copied out of messages with their names expanded, and when a CNAME chain is unfinished."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsctl.resolver.answer import Answer
from dnsctl.resolver.chain import Chain
from dnsctl.resolver.wire import (
    HEADER_LEN,
    NOERROR,
    NXDOMAIN,
    TYPE_A,
    TYPE_ANY,
    TYPE_CNAME,
    encode_name,
    read_records,
)


def rrset(text: str) -> dns.rrset.RRset:
    name, ttl, rdtype, rdata = text.split(" ", 3)
    return dns.rrset.from_text(name, int(ttl), "IN", rdtype, rdata)


def reply(qname: str, rdtype: str, answers: list[str], authority: list[str] = (), rcode: int = 0) -> bytes:  # type: ignore[assignment]
    message = dns.message.make_response(dns.message.make_query(qname, rdtype))
    message.set_rcode(dns.rcode.Rcode.make(rcode))
    message.answer = [rrset(text) for text in answers]
    message.authority = [rrset(text) for text in authority]
    return message.to_wire()  # dnspython compresses every name it can


def chain_of(wire: bytes, qname: str) -> Chain:
    name = encode_name(qname)
    return Chain.of(Answer.from_message(wire, len(name)), name)


def test_names_in_rdata_are_expanded_and_others_copied() -> None:
    wire = reply(
        "a.example",
        "MX",
        ["a.example. 60 CNAME b.example.", "b.example. 60 MX 10 mail.b.example."],
        ["example. 60 SOA ns.example. host.example. 1 2 3 4 5"],
    )
    records, end = read_records(wire, HEADER_LEN + len(encode_name("a.example")) + 4, 3)
    assert end == len(wire)
    assert [r.owner for r in records] == [
        encode_name("a.example"),
        encode_name("b.example"),
        encode_name("example"),
    ]
    assert records[0].rdata == encode_name("b.example")
    assert records[1].rdata == b"\x00\x0a" + encode_name("mail.b.example")
    soa = records[2].rdata
    assert (
        soa.startswith(encode_name("ns.example") + encode_name("host.example")) and len(soa) == 12 + 14 + 20
    )
    # Copied out, each record stands alone: a fresh message built from them parses back the same.
    rebuilt = Chain.of(Answer.from_message(wire, 11), encode_name("a.example")).answer(
        encode_name("a.example"), 15
    )
    text = dns.message.from_wire(rebuilt.message(encode_name("a.example")))
    assert [str(rrset) for rrset in text.answer] == [
        "a.example. 60 IN CNAME b.example.",
        "b.example. 60 IN MX 10 mail.b.example.",
    ]


def test_a_chain_is_unfinished_only_when_its_target_was_not_looked_up() -> None:
    name = encode_name("a.example")
    bare = chain_of(reply("a.example", "A", ["a.example. 60 CNAME b.example."]), "a.example")
    assert bare.unfinished(name, TYPE_A) == encode_name("b.example")
    assert bare.unfinished(name, TYPE_CNAME) is None and bare.unfinished(name, TYPE_ANY) is None
    done = chain_of(
        reply("a.example", "A", ["a.example. 60 CNAME b.example.", "b.example. 60 A 192.0.2.1"]), "a.example"
    )
    assert done.unfinished(name, TYPE_A) is None
    nodata = chain_of(
        reply(
            "a.example",
            "A",
            ["a.example. 60 CNAME b.example."],
            ["example. 60 SOA ns.example. h.example. 1 2 3 4 5"],
        ),
        "a.example",
    )
    assert nodata.unfinished(name, TYPE_A) is None
    nx = chain_of(reply("a.example", "A", ["a.example. 60 CNAME b.example."], rcode=NXDOMAIN), "a.example")
    assert nx.rcode == NXDOMAIN and nx.unfinished(name, TYPE_A) is None
    plain = chain_of(reply("a.example", "A", []), "a.example")
    assert plain.rcode == NOERROR and plain.unfinished(name, TYPE_A) is None
    loop = chain_of(
        reply("a.example", "A", ["a.example. 60 CNAME b.example.", "b.example. 60 CNAME a.example."]),
        "a.example",
    )
    assert loop.unfinished(name, TYPE_A) == name  # a name already visited: the caller gives up


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=5))
@settings(max_examples=400, deadline=None)
def test_garbage_records_raise_only_what_the_engine_catches(data: bytes, start: int, count: int) -> None:
    try:
        records, end = read_records(data, start, count)
    except (IndexError, ValueError):
        return
    assert len(records) == count and (end <= len(data) or not count)


@given(st.binary(min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_a_mangled_upstream_chain_raises_only_what_the_engine_catches(tail: bytes) -> None:
    wire = reply("a.example", "A", ["a.example. 60 CNAME b.example."])
    mangled = wire[:40] + tail
    name = encode_name("a.example")
    try:
        chain = Chain.of(Answer.from_message(mangled, len(name)), name)
    except (IndexError, ValueError):
        return
    chain.unfinished(name, TYPE_A)
