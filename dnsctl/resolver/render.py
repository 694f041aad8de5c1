"""Rendering records into Answers with dnslib: done when answers change, never per steered query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dnslib import RD, RR, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from dnsctl.resolver.answer import Answer
from dnsctl.resolver.wire import AA, CLASS_IN, HEADER_LEN, TYPE_HINFO, skip_name

# RFC 8482 4.2: a synthesized HINFO tells the client its ANY query gets a minimal answer.
RFC8482_HINFO = RD(b"\x07RFC8482\x00")


def labels_of(wire_name: bytes) -> list[bytes]:
    """The labels of an uncompressed wire name."""
    labels: list[bytes] = []
    pos = 0
    while wire_name[pos]:
        length = wire_name[pos]
        labels.append(wire_name[pos + 1 : pos + 1 + length])
        pos += length + 1
    return labels


def build(
    qname: DNSLabel,
    qtype: int,
    *,
    rcode: int = 0,
    authoritative: bool = True,
    answers: Iterable[Any] = (),
    authority: Iterable[Any] = (),
) -> Answer:
    """Render a reply for the lower-cased `qname` into an Answer."""
    record = DNSRecord(DNSHeader(id=0, bitmap=0, qr=1, rcode=rcode), q=DNSQuestion(qname, qtype, CLASS_IN))
    record.rr = list(answers)
    record.auth = list(authority)
    message: bytes = record.pack()
    qname_len = skip_name(message, HEADER_LEN) - HEADER_LEN
    flags = (AA if authoritative else 0) | rcode
    return Answer.from_message(message, qname_len, flags=flags)


def hinfo_rr(name: DNSLabel, ttl: int) -> Any:
    return RR(name, TYPE_HINFO, ttl=ttl, rdata=RFC8482_HINFO)


def parse_records(answer: Answer, qname_wire: bytes) -> list[Any]:
    """The answer-section records of a rendered Answer (for composing a steered chase)."""
    rr: list[Any] = DNSRecord.parse(answer.message(qname_wire)).rr
    return rr
