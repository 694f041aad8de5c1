"""Rendering records into Answers with dnslib: done when answers change, never per steered query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dnslib import DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from dnsctl.resolver.answer import Answer
from dnsctl.resolver.wire import AA, CLASS_IN, HEADER_LEN, skip_name


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
    additional: Iterable[Any] = (),
) -> Answer:
    """Render a reply for the lower-cased `qname` into an Answer."""
    record = DNSRecord(DNSHeader(id=0, bitmap=0, qr=1, rcode=rcode), q=DNSQuestion(qname, qtype, CLASS_IN))
    record.rr = list(answers)
    record.auth = list(authority)
    record.ar = list(additional)
    message: bytes = record.pack()
    qname_len = skip_name(message, HEADER_LEN) - HEADER_LEN
    flags = (AA if authoritative else 0) | rcode
    return Answer.from_message(message, qname_len, flags=flags)
