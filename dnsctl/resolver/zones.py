"""Small authoritative lab zones: A, AAAA, CNAME, TXT, MX, SRV with a generated SOA and apex NS.

Answers for every existing name are rendered at start; only NXDOMAIN for names that do not exist is
rendered per query. Each zone's apex has an NS record naming `ns.<zone>`, which is also the SOA's MNAME
and exists: with the zone's own `ns` records when it has some, else with the resolver's listen addresses
(a wildcard listen address stands for loopback). A CNAME that leaves the zone is not rendered: the engine
finishes it through the resolver.

The special-use names of RFC 6761 are zones of their own, answered as unbound answers them by default:
`localhost.` and every name below it resolve to 127.0.0.1 and ::1, `invalid.` holds no names.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence
from typing import Any

from dnslib import AAAA, CNAME, MX, NS, RR, SOA, SRV, TXT, A, DNSLabel

from dnsctl.core.zone_records import MxData, SrvData, ZoneRecordSpec, ZoneRecordType, ZoneSpec
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.chain import Chain
from dnsctl.resolver.render import build
from dnsctl.resolver.wire import (
    NOERROR,
    NXDOMAIN,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_CNAME,
    TYPE_MX,
    TYPE_NS,
    TYPE_SOA,
    TYPE_SRV,
    TYPE_TXT,
    encode_name,
    lookup_key,
)

Labels = tuple[bytes, ...]

SOA_TTL = 300
# RFC 2308: the SOA minimum is the negative-caching TTL; lab names come and go, keep it short.
SOA_MINIMUM = 60
MAX_CNAME_CHAIN = 8
NAMESERVER_LABEL = b"ns"
# unbound's data for the RFC 6761 zones it answers itself.
SPECIAL_TTL = 10800
SPECIAL_SOA = ("localhost.", "nobody.invalid.", (1, 3600, 1200, 604800, 10800))
_TYPES = {
    ZoneRecordType.A: TYPE_A,
    ZoneRecordType.AAAA: TYPE_AAAA,
    ZoneRecordType.CNAME: TYPE_CNAME,
    ZoneRecordType.TXT: TYPE_TXT,
    ZoneRecordType.MX: TYPE_MX,
    ZoneRecordType.SRV: TYPE_SRV,
}


def _labels(name: str) -> Labels:
    return tuple(label.encode("ascii") for label in name.rstrip(".").lower().split(".") if label)


def _rdata(record: ZoneRecordSpec) -> Any:
    """dnslib's rdata of a parsed record (the configuration checked it: names are absolute and valid)."""
    data = record.value
    if isinstance(data, MxData):
        return MX(DNSLabel(data.exchange), data.preference)
    if isinstance(data, SrvData):
        return SRV(data.priority, data.weight, data.port, DNSLabel(data.target))
    if record.type is ZoneRecordType.A:
        return A(str(data))
    if record.type is ZoneRecordType.AAAA:
        return AAAA(str(data))
    if record.type is ZoneRecordType.CNAME:
        return CNAME(DNSLabel(str(data)))
    raw = str(data).encode()
    return TXT([raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])


def _loopback_for(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return str(ip)


class LabZone:
    """One zone's records by owner name, with its SOA and apex NS.

    `redirect` (RFC 6761 `localhost.`) answers every name below the apex with the apex's records.
    """

    def __init__(
        self,
        spec: ZoneSpec,
        *,
        nameserver_addresses: Sequence[str] = ("127.0.0.1",),
        negative_ttl: int = SOA_MINIMUM,
        special: bool = False,
        redirect: bool = False,
    ) -> None:
        self.origin = spec.name.rstrip(".").lower()
        encode_name(self.origin)
        self.labels = _labels(self.origin)
        self.redirect = redirect
        self.nodes: dict[Labels, dict[int, list[Any]]] = {}
        for record in spec.records:
            owner = _labels(record.name)
            rtype = _TYPES[record.type]
            rr = RR(DNSLabel(list(owner)), rtype, ttl=record.ttl, rdata=_rdata(record))
            self.nodes.setdefault(owner, {}).setdefault(rtype, []).append(rr)
        apex = DNSLabel(list(self.labels))
        if special:
            mname = DNSLabel(SPECIAL_SOA[0])
            rname = DNSLabel(SPECIAL_SOA[1])
            times = SPECIAL_SOA[2]
            soa_ttl = SPECIAL_TTL
            self.glue: list[Any] = []
        else:
            serial = zlib.crc32(
                repr(sorted((r.name, str(r.type), str(r.value), r.ttl) for r in spec.records)).encode()
            )
            ns_labels = (NAMESERVER_LABEL, *self.labels)
            mname = DNSLabel(list(ns_labels))
            rname = DNSLabel(f"hostmaster.{self.origin}")
            times = (serial, 3600, 600, 604800, negative_ttl)
            soa_ttl = SOA_TTL
            if ns_labels not in self.nodes:
                for address in dict.fromkeys(_loopback_for(a) for a in nameserver_addresses):
                    ip = ipaddress.ip_address(address)
                    rtype, rdata = (TYPE_A, A(address)) if ip.version == 4 else (TYPE_AAAA, AAAA(address))
                    glue = RR(mname, rtype, ttl=SOA_TTL, rdata=rdata)
                    self.nodes.setdefault(ns_labels, {}).setdefault(rtype, []).append(glue)
            self.glue = [rr for rrs in self.nodes.get(ns_labels, {}).values() for rr in rrs]
        self.nodes.setdefault(self.labels, {})[TYPE_NS] = [RR(apex, TYPE_NS, ttl=soa_ttl, rdata=NS(mname))]
        # Empty non-terminals exist (NODATA, not NXDOMAIN) when a name below them does.
        self.existing: set[Labels] = {self.labels}
        for owner in self.nodes:
            for cut in range(len(owner) - len(self.labels) + 1):
                self.existing.add(owner[cut:])
        self.soa = RR(apex, TYPE_SOA, ttl=soa_ttl, rdata=SOA(mname, rname, times))
        self.nodes[self.labels][TYPE_SOA] = [self.soa]
        self.negative_soa = RR(apex, TYPE_SOA, ttl=min(soa_ttl, times[4]), rdata=self.soa.rdata)

    def contains(self, labels: Labels) -> bool:
        return labels[len(labels) - len(self.labels) :] == self.labels

    def _rrset(self, owner: Labels, qtype: int) -> list[Any]:
        return self.nodes.get(owner, {}).get(qtype, [])

    def resolve(self, labels: Labels, qtype: int) -> Answer:
        """The authoritative answer for a name inside this zone (a CNAME leaving it, unfinished)."""
        qname = DNSLabel(list(labels))
        if self.redirect and labels != self.labels:
            apex_rrset = self._rrset(self.labels, qtype)
            rrset = [RR(qname, rr.rtype, ttl=rr.ttl, rdata=rr.rdata) for rr in apex_rrset]
            if rrset:
                return build(qname, qtype, answers=rrset)
            return build(qname, qtype, authority=[self.negative_soa])
        if labels not in self.existing:
            return build(qname, qtype, rcode=NXDOMAIN, authority=[self.negative_soa])
        if qtype == TYPE_ANY:
            # A lab node holds a few records: all of them (a CNAME owner's CNAME, RFC 8482 4.2).
            everything = [rr for rrset in self.nodes.get(labels, {}).values() for rr in rrset]
            if everything:
                return build(qname, qtype, answers=everything)
            return build(qname, qtype, authority=[self.negative_soa])
        answers: list[Any] = []
        owner = labels
        for _ in range(MAX_CNAME_CHAIN):
            rrset = self._rrset(owner, qtype)
            if rrset:
                answers += rrset
                break
            cname = self._rrset(owner, TYPE_CNAME) if qtype != TYPE_CNAME else []
            if not cname:
                break
            answers += cname
            owner = _labels(str(cname[0].rdata.label))
            if not self.contains(owner):
                return build(qname, qtype, answers=answers)  # unfinished: the engine follows it
            if owner not in self.existing:
                return build(qname, qtype, rcode=NXDOMAIN, answers=answers, authority=[self.negative_soa])
        if answers and answers[-1].rtype == qtype:
            additional = self.glue if qtype == TYPE_NS and labels == self.labels else []
            return build(qname, qtype, answers=answers, additional=additional)
        return build(qname, qtype, rcode=NOERROR, answers=answers, authority=[self.negative_soa])


def special_zones() -> list[LabZone]:
    """RFC 6761 6.3 and 6.4: `localhost.` (loopback addresses) and `invalid.` (no names)."""
    localhost = ZoneSpec(
        "localhost",
        (
            ZoneRecordSpec("localhost", ZoneRecordType.A, ipaddress.IPv4Address("127.0.0.1"), SPECIAL_TTL),
            ZoneRecordSpec("localhost", ZoneRecordType.AAAA, ipaddress.IPv6Address("::1"), SPECIAL_TTL),
        ),
    )
    return [
        LabZone(localhost, special=True, redirect=True),
        LabZone(ZoneSpec("invalid"), special=True),
    ]


class LabZones:
    """All lab zones; `rendered` holds the answer of every existing name for the common query types."""

    _PRERENDERED = (TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_TXT, TYPE_MX, TYPE_SRV, TYPE_SOA, TYPE_NS, TYPE_ANY)

    def __init__(
        self,
        specs: Sequence[ZoneSpec],
        *,
        nameserver_addresses: Sequence[str] = ("127.0.0.1",),
        negative_ttl: int = SOA_MINIMUM,
    ) -> None:
        configured = [
            LabZone(spec, nameserver_addresses=nameserver_addresses, negative_ttl=negative_ttl)
            for spec in specs
        ]
        origins = {zone.labels for zone in configured}
        # A configured zone of the same name replaces a special one.
        specials = [zone for zone in special_zones() if zone.labels not in origins]
        # Longest origin first, so a delegated-looking child zone wins over its parent.
        self.zones = sorted(configured + specials, key=lambda z: -len(z.labels))
        self.rendered: dict[bytes, Answer] = {}
        for zone in reversed(self.zones):
            for labels in zone.existing:
                name = b".".join(labels).decode("ascii")
                for qtype in self._PRERENDERED:
                    answer = self.resolve(labels, qtype)
                    key = lookup_key(name, qtype)
                    if answer is not None and Chain.of(answer, key[:-4]).unfinished(key[:-4], qtype) is None:
                        self.rendered[key] = answer

    def resolve(self, labels: Labels, qtype: int) -> Answer | None:
        """The answer for `labels` if a lab zone holds it, else None (not ours: forward it)."""
        for zone in self.zones:
            if zone.contains(labels):
                return zone.resolve(labels, qtype)
        return None
