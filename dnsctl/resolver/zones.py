"""Small authoritative lab zones: A, AAAA, CNAME, TXT, MX, SRV with a generated SOA.

Answers for every existing name are rendered at start; only NXDOMAIN for names that do not exist is
rendered per query.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence
from typing import Any

from dnslib import AAAA, CNAME, MX, RR, SOA, SRV, TXT, A, DNSLabel

from dnsctl.core.model import ZoneRecordSpec, ZoneSpec
from dnsctl.errors import ConfigError
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.render import build, hinfo_rr
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
_TYPES = {
    "A": TYPE_A,
    "AAAA": TYPE_AAAA,
    "CNAME": TYPE_CNAME,
    "TXT": TYPE_TXT,
    "MX": TYPE_MX,
    "SRV": TYPE_SRV,
}


def _labels(name: str) -> Labels:
    return tuple(label.encode("ascii") for label in name.rstrip(".").lower().split(".") if label)


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin
    if name.endswith("."):
        return name[:-1]
    return f"{name}.{origin}"


def _rdata(record: ZoneRecordSpec, origin: str) -> Any:
    value = record.value.strip()
    kind = record.type.upper()
    if kind == "A":
        return A(str(ipaddress.IPv4Address(value)))
    if kind == "AAAA":
        return AAAA(str(ipaddress.IPv6Address(value)))
    if kind == "CNAME":
        target = _absolute(value, origin)
        encode_name(target)
        return CNAME(DNSLabel(target.lower()))
    if kind == "TXT":
        raw = value.encode()
        return TXT([raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])
    if kind == "MX":
        preference, exchange = value.split()
        return MX(DNSLabel(_absolute(exchange, origin).lower()), int(preference))
    if kind == "SRV":
        priority, weight, port, target = value.split()
        return SRV(int(priority), int(weight), int(port), DNSLabel(_absolute(target, origin).lower()))
    raise ValueError(f"unsupported type {record.type!r}")


class Zone:
    """One zone's records by owner name, with its SOA."""

    def __init__(self, spec: ZoneSpec) -> None:
        self.origin = spec.name.rstrip(".").lower()
        encode_name(self.origin)
        self.labels = _labels(self.origin)
        self.nodes: dict[Labels, dict[int, list[Any]]] = {}
        problems: list[str] = []
        for i, record in enumerate(spec.records):
            try:
                owner = _labels(_absolute(record.name, self.origin))
                encode_name(_absolute(record.name, self.origin))
                if owner[len(owner) - len(self.labels) :] != self.labels:
                    raise ValueError(f"{record.name!r} is outside the zone")
                rtype = _TYPES.get(record.type.upper())
                if rtype is None:
                    raise ValueError(f"unsupported type {record.type!r}")
                rr = RR(DNSLabel(list(owner)), rtype, ttl=record.ttl, rdata=_rdata(record, self.origin))
            except (ValueError, UnicodeError) as exc:
                problems.append(f"resolver.zones[{spec.name}].records[{i}]: {exc}")
                continue
            self.nodes.setdefault(owner, {}).setdefault(rtype, []).append(rr)
        for owner, rrsets in self.nodes.items():
            if TYPE_CNAME in rrsets and (len(rrsets) > 1 or len(rrsets[TYPE_CNAME]) > 1):
                problems.append(
                    f"resolver.zones[{spec.name}]: {b'.'.join(owner).decode()} has a CNAME and other data"
                )
        if problems:
            raise ConfigError(problems)
        # Empty non-terminals exist (NODATA, not NXDOMAIN) when a name below them does.
        self.existing: set[Labels] = {self.labels}
        for owner in self.nodes:
            for cut in range(len(owner) - len(self.labels) + 1):
                self.existing.add(owner[cut:])
        serial = zlib.crc32(repr(sorted((r.name, r.type, r.value, r.ttl) for r in spec.records)).encode())
        apex = DNSLabel(list(self.labels))
        self.soa = RR(
            apex,
            TYPE_SOA,
            ttl=SOA_TTL,
            rdata=SOA(
                DNSLabel(f"ns.{self.origin}"),
                DNSLabel(f"hostmaster.{self.origin}"),
                (serial, 3600, 600, 604800, SOA_MINIMUM),
            ),
        )
        self.negative_soa = RR(apex, TYPE_SOA, ttl=min(SOA_TTL, SOA_MINIMUM), rdata=self.soa.rdata)

    def contains(self, labels: Labels) -> bool:
        return labels[len(labels) - len(self.labels) :] == self.labels

    def _rrset(self, owner: Labels, qtype: int) -> list[Any]:
        if qtype == TYPE_SOA and owner == self.labels:
            return [self.soa]
        return self.nodes.get(owner, {}).get(qtype, [])

    def resolve(self, labels: Labels, qtype: int) -> Answer:
        """The authoritative answer for a name inside this zone."""
        qname = DNSLabel(list(labels))
        if labels not in self.existing:
            return build(qname, qtype, rcode=NXDOMAIN, authority=[self.negative_soa])
        if qtype == TYPE_ANY:
            return build(qname, qtype, answers=[hinfo_rr(qname, SOA_TTL)])
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
                return build(qname, qtype, answers=answers)  # the client follows it elsewhere
            if owner not in self.existing:
                return build(qname, qtype, rcode=NXDOMAIN, answers=answers, authority=[self.negative_soa])
        if answers and answers[-1].rtype == qtype:
            return build(qname, qtype, answers=answers)
        return build(qname, qtype, rcode=NOERROR, answers=answers, authority=[self.negative_soa])


class LabZones:
    """All lab zones; `rendered` holds the answer of every existing name for the common query types."""

    _PRERENDERED = (TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_TXT, TYPE_MX, TYPE_SRV, TYPE_SOA, TYPE_NS, TYPE_ANY)

    def __init__(self, specs: Sequence[ZoneSpec]) -> None:
        # Longest origin first, so a delegated-looking child zone wins over its parent.
        self.zones = sorted((Zone(spec) for spec in specs), key=lambda z: -len(z.labels))
        self.rendered: dict[bytes, Answer] = {}
        for zone in reversed(self.zones):
            for labels in zone.existing:
                name = b".".join(labels).decode("ascii")
                for qtype in self._PRERENDERED:
                    answer = self.resolve(labels, qtype)
                    if answer is not None:
                        self.rendered[lookup_key(name, qtype)] = answer

    def resolve(self, labels: Labels, qtype: int) -> Answer | None:
        """The answer for `labels` if a lab zone holds it, else None (not ours: forward it)."""
        for zone in self.zones:
            if zone.contains(labels):
                return zone.resolve(labels, qtype)
        return None
