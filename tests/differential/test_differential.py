"""dnsctl next to unbound, both forwarding to the same NSD: a few hundred queries compared field by field.

unbound runs as a non-validating forwarder (`module-config: "iterator"`), which is what dnsctl is: both
pass DNSSEC records through to a client that asks with DO, and neither sets AD. Every query goes to both
with the same ID, flags and EDNS; the replies must agree on the rcode, the header flags, the EDNS DO
bit, the answer section (RRsets with their RRSIGs, TTLs within a second or two of each other) and, for
negative answers, the authority section (SOA, NSEC/NSEC3 and their RRSIGs).

Intended differences (each is checked for what must still agree, and INTENDED cases must still differ):
- The additional section is not compared: NSD's glue is passed through by dnsctl as it came.
- ANY (RFC 8482 lets a server choose): unbound assembles whatever its cache holds for the name (RRSIGs
  included even without DO) and answers NODATA for its local zones; dnsctl forwards ANY and passes the
  upstream's choice (NSD: one RRset), and answers every record of a local node. Compared: rcode, flags,
  EDNS, and the CNAME of a CNAME owner.
- A truncated UDP reply (TC) is compared on rcode and TC only: dnsctl sends the question alone, unbound
  whatever RRsets fit; both tell the client to retry over TCP, where the full answers are compared.
- NOTIMP (an opcode other than QUERY): unbound returns the query with QR set, question included; dnsctl
  sends the header alone, RD copied, RA and CD clear. The rcode and those flags are compared.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from tests.differential.conftest import Servers

TIMEOUT = 3.0
TTL_SLACK = 2

SIGNED = [
    "signed.example",
    "www.signed.example",
    "alias.signed.example",
    "chain.signed.example",
    "far.signed.example",
    "nothere.signed.example",
    "x.wild.signed.example",
    "a.b.ent.signed.example",
    "b.ent.signed.example",
    "svc.signed.example",
    "zero.signed.example",
    "mail.signed.example",
    "WwW.SiGnEd.ExAmPlE",
]
NSEC3 = [
    "nsec3.example",
    "www.nsec3.example",
    "nothing.nsec3.example",
    "a.wild.nsec3.example",
    "y.ent.nsec3.example",
    "back.nsec3.example",
]
LAB = [
    "lab.example",
    "www.lab.example",
    "c1.lab.example",
    "c3.lab.example",
    "out.lab.example",
    "out3.lab.example",
    "dangling.lab.example",
    "foo.wild.lab.example",
    "y.ent.lab.example",
    "zero.lab.example",
    "svc.lab.example",
    "alias.lab.example",
    "svcb.lab.example",
    "_dns.lab.example",
    "caa.lab.example",
    "mid.lab.example",
    "nothere.lab.example",
    "deep.nothere.lab.example",
]
SPECIAL = ["localhost", "db.localhost", "invalid", "x.invalid"]
NAMES = SIGNED + NSEC3 + LAB + SPECIAL
COMMON_TYPES = ["A", "AAAA", "TXT", "HTTPS", "MX", "ANY"]
MORE_TYPES = ["SOA", "NS", "DNSKEY", "DS", "NSEC", "CNAME", "SVCB", "CAA", "RRSIG", "TYPE99", "NSEC3PARAM"]
MORE_NAMES = [
    "signed.example",
    "nsec3.example",
    "lab.example",
    "www.signed.example",
    "alias.lab.example",
    "svc.lab.example",
    "_dns.lab.example",
    "caa.lab.example",
    "localhost",
]


@dataclass(frozen=True)
class Variant:
    tcp: bool = False
    edns: bool = True
    payload: int = 1232
    do: bool = False
    cd: bool = False

    def query(self, name: str, rdtype: str, ident: int) -> dns.message.Message:
        query = dns.message.make_query(
            name, rdtype, use_edns=0 if self.edns else False, payload=self.payload, want_dnssec=self.do
        )
        query.id = ident
        if self.cd:
            query.flags |= dns.flags.CD
        return query


VARIANTS = [
    Variant(edns=False),
    Variant(),
    Variant(payload=4096, do=True),
    Variant(do=True, cd=True),
    Variant(tcp=True, do=True),
    Variant(payload=512),
    Variant(tcp=True, edns=False),
]
BIG = [("big.lab.example", "TXT"), ("mid.lab.example", "TXT"), ("big.lab.example", "ANY")]
# Denial of existence and wildcard proofs, with DO: NSEC and NSEC3 records and their RRSIGs must match.
PROOFS = [
    "nothere.signed.example",
    "b.ent.signed.example",
    "x.wild.signed.example",
    "zero.signed.example",
    "nothing.nsec3.example",
    "y.ent.nsec3.example",
    "a.wild.nsec3.example",
    "www.nsec3.example",
]
DNSSEC_VARIANTS = [Variant(do=True), Variant(payload=4096, do=True, cd=True), Variant(tcp=True, do=True)]


def corpus() -> list[tuple[str, str, Variant]]:
    """Every name with the common types, the apexes and odd names with more types, variants in turn;
    the big answers with every variant; the DNSSEC proofs with DO."""
    turn = itertools.cycle(VARIANTS)
    cases = [(name, rdtype, next(turn)) for name in NAMES for rdtype in COMMON_TYPES]
    cases += [(name, rdtype, next(turn)) for name in MORE_NAMES for rdtype in MORE_TYPES]
    cases += [(name, rdtype, variant) for name, rdtype in BIG for variant in VARIANTS]
    cases += [(name, rdtype, v) for name in PROOFS for rdtype in ("A", "MX") for v in DNSSEC_VARIANTS]
    return cases


def ask(port: int, query: dns.message.Message, tcp: bool) -> dns.message.Message:
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=TIMEOUT)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=TIMEOUT, ignore_trailing=True)


FLAGS = {
    "AA": dns.flags.AA,
    "TC": dns.flags.TC,
    "RD": dns.flags.RD,
    "RA": dns.flags.RA,
    "AD": dns.flags.AD,
    "CD": dns.flags.CD,
}


def section(rrsets: list[dns.rrset.RRset]) -> dict[tuple[str, str, str], tuple[frozenset[str], int]]:
    """RRsets by (owner, type, covered type) -> (rdata texts, TTL): order and owner case do not matter."""
    out: dict[tuple[str, str, str], tuple[frozenset[str], int]] = {}
    for rrset in rrsets:
        covers = dns.rdatatype.to_text(rrset.covers) if rrset.covers else ""
        key = (rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype), covers)
        out[key] = (frozenset(rr.to_text().lower() for rr in rrset), rrset.ttl)
    return out


# (name, type) -> why dnsctl's answer differs from unbound's.
INTENDED = {
    ("localhost", "DS"): "unbound asks the parent side for DS, so it forwards the query and SERVFAILs on "
    "the refusal; dnsctl answers NODATA from its localhost zone, which never leaves the host",
}


def cname_at(message: dns.message.Message) -> set[str]:
    owner = message.question[0].name
    return {
        rr.to_text().lower()
        for rrset in message.answer
        if rrset.name == owner
        for rr in rrset
        if rrset.rdtype == dns.rdatatype.CNAME
    }


def differences(
    ours: dns.message.Message, theirs: dns.message.Message, ttl_slack: int = TTL_SLACK
) -> list[str]:
    found: list[str] = []
    if ours.rcode() != theirs.rcode():
        found.append(f"rcode {dns.rcode.to_text(ours.rcode())} != {dns.rcode.to_text(theirs.rcode())}")
    for flag, bit in FLAGS.items():
        if bool(ours.flags & bit) != bool(theirs.flags & bit):
            found.append(f"{flag} {bool(ours.flags & bit)} != {bool(theirs.flags & bit)}")
    if (ours.edns, bool(ours.ednsflags & dns.flags.DO)) != (
        theirs.edns,
        bool(theirs.ednsflags & dns.flags.DO),
    ):
        found.append(f"EDNS/DO {ours.edns}/{ours.ednsflags} != {theirs.edns}/{theirs.ednsflags}")
    if ours.flags & dns.flags.TC and theirs.flags & dns.flags.TC:
        return found  # intended: what else a truncated reply holds differs
    if ours.question[0].rdtype == dns.rdatatype.ANY:
        if cname_at(ours) != cname_at(theirs):
            found.append(f"ANY CNAME {cname_at(ours)} != {cname_at(theirs)}")
        return found  # intended: which RRsets an ANY answer holds
    sections = [("answer", ours.answer, theirs.answer)]
    if not ours.answer or not theirs.answer or ours.rcode() != dns.rcode.NOERROR:
        sections.append(("authority", ours.authority, theirs.authority))
    for label, mine, other in sections:
        a, b = section(mine), section(other)
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                found.append(f"{label} {' '.join(key)}: {'only dnsctl' if key in a else 'only unbound'}")
            elif a[key][0] != b[key][0]:
                found.append(f"{label} {' '.join(key)}: {sorted(a[key][0])} != {sorted(b[key][0])}")
            elif abs(a[key][1] - b[key][1]) > ttl_slack:
                found.append(f"{label} {' '.join(key)}: TTL {a[key][1]} != {b[key][1]}")
    return found


def test_dnsctl_answers_like_unbound(servers: Servers) -> None:
    cases = corpus()
    assert len(cases) >= 300
    report: list[str] = []
    still_intended: set[tuple[str, str]] = set()
    started = time.monotonic()
    for ident, (name, rdtype, variant) in enumerate(cases, start=1):
        query = variant.query(name, rdtype, ident)
        theirs = ask(servers.unbound, query, variant.tcp)
        ours = ask(servers.dnsctl, query, variant.tcp)
        # Each cache counts a TTL down from when it fetched the record, and the two fetch at different
        # queries (unbound once for every variant, and it answers from NSEC records cached for other
        # names): they may differ by as much as the corpus has run, seconds on a loaded machine.
        found = differences(ours, theirs, TTL_SLACK + math.ceil(time.monotonic() - started))
        if (name, rdtype) in INTENDED:
            if found:
                still_intended.add((name, rdtype))
            continue
        report += [f"{name} {rdtype} {variant}: {difference}" for difference in found]
    assert report == [], "\n".join(report)
    assert still_intended == set(INTENDED), "an intended difference is gone: take it off the list"


def test_big_answers_are_complete_over_tcp(servers: Servers) -> None:
    for name, rdtype in BIG:
        for edns in (False, True):
            variant = Variant(tcp=True, edns=edns, do=edns)
            ours = ask(servers.dnsctl, variant.query(name, rdtype, 1), True)
            assert not ours.flags & dns.flags.TC and ours.answer
            assert differences(ours, ask(servers.unbound, variant.query(name, rdtype, 1), True)) == []


def test_notimp_agrees_on_rcode_and_flags(servers: Servers) -> None:
    for opcode in (dns.opcode.STATUS, 3, 6, 15):
        query: Any = dns.message.make_query("www.lab.example", "A")
        query.set_opcode(opcode)
        ours = ask(servers.dnsctl, query, False)
        theirs = ask(servers.unbound, query, False)
        assert ours.rcode() == theirs.rcode() == dns.rcode.NOTIMP
        assert ours.opcode() == theirs.opcode() == opcode
        for bit in (dns.flags.QR, dns.flags.RD, dns.flags.RA, dns.flags.CD, dns.flags.AA):
            assert bool(ours.flags & bit) == bool(theirs.flags & bit), dns.flags.to_text(bit)
