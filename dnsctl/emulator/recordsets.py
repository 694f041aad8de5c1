"""Record-set values: the record types, validation of request properties, and the JSON Azure returns.

ARM reads JSON property names case-insensitively (`TTL` and `ttl` both work), so lookups here do too;
responses always use the canonical camelCase names, in the order the live service sends them.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dnsctl.emulator.arm_errors import bad_request

APEX: Final = "@"
MAX_TTL: Final = 2_147_483_647
MAX_RECORDS_PER_SET: Final = 20

# type -> (property holding its records, record fields with their JSON types)
RECORD_SCHEMAS: Final[dict[str, tuple[str, tuple[tuple[str, type], ...]]]] = {
    "A": ("aRecords", (("ipv4Address", str),)),
    "AAAA": ("aaaaRecords", (("ipv6Address", str),)),
    "CNAME": ("cnameRecord", (("cname", str),)),
    "MX": ("mxRecords", (("preference", int), ("exchange", str))),
    "PTR": ("ptrRecords", (("ptrdname", str),)),
    "SOA": (
        "soaRecord",
        (
            ("host", str),
            ("email", str),
            ("serialNumber", int),
            ("refreshTime", int),
            ("retryTime", int),
            ("expireTime", int),
            ("minimumTtl", int),
        ),
    ),
    "SRV": ("srvRecords", (("priority", int), ("weight", int), ("port", int), ("target", str))),
    "TXT": ("txtRecords", (("value", list),)),
}
RECORD_TYPES: Final = tuple(RECORD_SCHEMAS)
SINGLE_RECORD_TYPES: Final = frozenset({"CNAME", "SOA"})
_RECORDS_KEYS: Final = {key.lower(): rtype for rtype, (key, _) in RECORD_SCHEMAS.items()}

# What every Azure Private DNS zone holds at its apex (RecordSetSOAGet.json).
DEFAULT_SOA: Final[dict[str, Any]] = {
    "host": "azureprivatedns.net",
    "email": "azureprivatedns-hostmaster.microsoft.com",
    "serialNumber": 1,
    "refreshTime": 3600,
    "retryTime": 300,
    "expireTime": 2419200,
    "minimumTtl": 300,
}
DEFAULT_SOA_TTL: Final = 3600

Records = list[dict[str, Any]] | dict[str, Any] | None


def new_etag() -> str:
    return str(uuid.uuid4())


def canonical_type(segment: str) -> str | None:
    """The record type a path segment names (case-insensitive), or None."""
    upper = segment.upper()
    return upper if upper in RECORD_SCHEMAS else None


def require_type(record_type: str) -> str:
    """The canonical record type, or ValueError (for the operator API, not for ARM requests)."""
    canonical = canonical_type(record_type)
    if canonical is None:
        raise ValueError(f"unknown record type {record_type!r}")
    return canonical


@dataclass
class RecordSet:
    """One stored record set. `name` is lower-case; `records` is a list, or a dict for CNAME/SOA."""

    record_type: str
    name: str
    ttl: int
    metadata: dict[str, str] | None = None
    records: Records = None
    etag: str = field(default_factory=new_etag)

    def apply(self, update: PropertyUpdate) -> None:
        if update.ttl is not None:
            self.ttl = update.ttl
        if update.has_metadata:
            self.metadata = update.metadata
        if update.has_records:
            if (
                self.record_type == "SOA"
                and isinstance(self.records, dict)
                and isinstance(update.records, dict)
            ):
                self.records = {**self.records, **update.records}
            else:
                self.records = update.records
        self.etag = new_etag()


@dataclass(frozen=True)
class PropertyUpdate:
    """The properties a request body sets; `has_*` distinguishes 'absent' from 'set to nothing'."""

    ttl: int | None = None
    has_metadata: bool = False
    metadata: dict[str, str] | None = None
    has_records: bool = False
    records: Records = None


def soa_record_set() -> RecordSet:
    return RecordSet("SOA", APEX, DEFAULT_SOA_TTL, None, dict(DEFAULT_SOA))


def _lookup(mapping: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    lowered = name.lower()
    for key, value in mapping.items():
        if key.lower() == lowered:
            return True, value
    return False, None


def validate_name(record_type: str, name: str) -> str:
    """The stored (lower-case) form of a relative record-set name, or a 400."""
    lowered = name.lower()
    if lowered != APEX and (not lowered or any(not label for label in lowered.split("."))):
        raise bad_request(f"The record set name '{name}' is invalid.")
    if record_type == "CNAME" and lowered == APEX:
        raise bad_request("A CNAME record set cannot be created at the zone apex '@'.")
    if record_type == "SOA" and lowered != APEX:
        raise bad_request("An SOA record set can exist only at the zone apex '@'.")
    return lowered


def parse_properties(record_type: str, body: Any, *, creating: bool) -> PropertyUpdate:
    """Validate a PUT/PATCH body (`{"properties": {...}}`) for `record_type`; raise a 400 if it is wrong."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    _, properties = _lookup(body, "properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise bad_request("The 'properties' of a record set must be a JSON object.")

    has_ttl, ttl = _lookup(properties, "ttl")
    if has_ttl and ttl is not None:
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TTL:
            raise bad_request(f"The TTL {ttl!r} is invalid: it must be an integer from 1 to {MAX_TTL}.")
    elif creating:
        raise bad_request("The TTL of the record set is required.")
    else:
        ttl = None

    has_metadata, metadata = _lookup(properties, "metadata")
    if has_metadata and metadata is not None:
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise bad_request("The metadata of a record set must map strings to strings.")
        metadata = dict(metadata)

    records_key = RECORD_SCHEMAS[record_type][0]
    for key, value in properties.items():
        other = _RECORDS_KEYS.get(key.lower())
        if other is not None and other != record_type and value not in (None, [], {}):
            raise bad_request(f"A record set of type '{record_type}' cannot hold '{key}'.")
    has_records, raw_records = _lookup(properties, records_key)
    records = _parse_records(record_type, raw_records) if has_records else None
    return PropertyUpdate(ttl, has_metadata, metadata, has_records, records)


def _parse_records(record_type: str, raw: Any) -> Records:
    if raw is None:
        return None
    if record_type in SINGLE_RECORD_TYPES:
        if isinstance(raw, list):
            if record_type == "CNAME" and len(raw) > 1:
                raise bad_request("A CNAME record set can hold only one record.")
            raise bad_request(f"The '{RECORD_SCHEMAS[record_type][0]}' must be a single JSON object.")
        return _parse_record(record_type, raw, partial=record_type == "SOA")
    if not isinstance(raw, list):
        raise bad_request(f"The '{RECORD_SCHEMAS[record_type][0]}' must be a JSON array.")
    if len(raw) > MAX_RECORDS_PER_SET:
        raise bad_request(
            f"A record set can hold at most {MAX_RECORDS_PER_SET} records; {len(raw)} were given."
        )
    return [_parse_record(record_type, item, partial=False) for item in raw]


def _parse_record(record_type: str, raw: Any, *, partial: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request(f"A {record_type} record must be a JSON object.")
    record: dict[str, Any] = {}
    for name, kind in RECORD_SCHEMAS[record_type][1]:
        present, value = _lookup(raw, name)
        if not present or value is None:
            if partial:
                continue
            raise bad_request(f"A {record_type} record needs '{name}'.")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad_request(f"The '{name}' of a {record_type} record has the wrong type.")
        record[name] = value
    _check_values(record_type, record)
    return record


def _check_values(record_type: str, record: dict[str, Any]) -> None:
    try:
        if "ipv4Address" in record:
            ipaddress.IPv4Address(record["ipv4Address"])
        if "ipv6Address" in record:
            ipaddress.IPv6Address(record["ipv6Address"])
    except ValueError as exc:
        raise bad_request(f"The address of a {record_type} record is invalid: {exc}.") from exc
    for name in ("preference", "priority", "weight", "port"):
        if name in record and not 0 <= record[name] <= 65535:
            raise bad_request(f"The '{name}' of a {record_type} record must be from 0 to 65535.")
    if "value" in record and not all(isinstance(v, str) for v in record["value"]):
        raise bad_request("The value of a TXT record must be a list of strings.")
    for name in ("cname", "exchange", "ptrdname", "target"):
        if name in record and not record[name]:
            raise bad_request(f"The '{name}' of a {record_type} record must not be empty.")


def fqdn(zone: str, name: str) -> str:
    return f"{zone}." if name == APEX else f"{name}.{zone}."


def record_set_json(zone_arm_id: str, zone: str, record_set: RecordSet) -> dict[str, Any]:
    """The JSON body Azure returns for a record set (key order as the live service sends it)."""
    properties: dict[str, Any] = {}
    if record_set.metadata is not None:
        properties["metadata"] = dict(record_set.metadata)
    properties["fqdn"] = fqdn(zone, record_set.name)
    properties["ttl"] = record_set.ttl
    records_key = RECORD_SCHEMAS[record_set.record_type][0]
    if isinstance(record_set.records, dict):
        properties[records_key] = dict(record_set.records)
    elif isinstance(record_set.records, list):
        properties[records_key] = [dict(r) for r in record_set.records]
    elif record_set.record_type not in SINGLE_RECORD_TYPES:
        # live sessions show an empty array for a list-typed set created without records
        properties[records_key] = []
    properties["isAutoRegistered"] = False
    return {
        "id": f"{zone_arm_id}/{record_set.record_type}/{record_set.name}",
        "name": record_set.name,
        "type": f"Microsoft.Network/privateDnsZones/{record_set.record_type}",
        "etag": record_set.etag,
        "properties": properties,
    }
