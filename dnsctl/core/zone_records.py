"""Lab zone records, parsed: absolute owner names, a type from a closed set, typed data.

The configuration builds them (`dnsctl.config.values.zone_record`); the resolver renders them as they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum


class ZoneRecordType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"
    TXT = "TXT"
    MX = "MX"
    SRV = "SRV"


@dataclass(frozen=True, slots=True)
class MxData:
    preference: int
    exchange: str  # absolute, lower-case, without the trailing dot


@dataclass(frozen=True, slots=True)
class SrvData:
    priority: int
    weight: int
    port: int
    target: str  # absolute, lower-case, without the trailing dot


# A: IPv4Address, AAAA: IPv6Address, CNAME: the absolute target, TXT: the text, MX and SRV: their fields.
ZoneData = ipaddress.IPv4Address | ipaddress.IPv6Address | str | MxData | SrvData


@dataclass(frozen=True, slots=True)
class ZoneRecordSpec:
    """One lab zone record, parsed: `name` is the absolute owner (lower-case, without the trailing dot)."""

    name: str
    type: ZoneRecordType
    value: ZoneData
    ttl: int = 300


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    name: str
    records: tuple[ZoneRecordSpec, ...] = ()
