"""The emulator's in-memory state: zones and their record sets. Not thread-safe: the server holds a lock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from dnsctl.emulator.arm_errors import ArmError
from dnsctl.emulator.recordsets import RecordSet, new_etag, parse_properties, require_type, soa_record_set

DEFAULT_SUBSCRIPTION: Final = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP: Final = "rg-privatedns"
MAX_RECORD_SETS_PER_ZONE: Final = 25_000


@dataclass(frozen=True)
class ZoneId:
    """Where a zone lives. Azure compares all three case-insensitively; `key` is that comparison."""

    subscription: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ZoneId:
        """`SUB/RG/ZONE`, or a bare `ZONE` in the default subscription and resource group."""
        parts = text.strip("/").split("/")
        if len(parts) == 1 and parts[0]:
            return cls(DEFAULT_SUBSCRIPTION, DEFAULT_RESOURCE_GROUP, parts[0].lower())
        if len(parts) == 3 and all(parts):
            return cls(parts[0], parts[1], parts[2].lower())
        raise ValueError(f"expected SUBSCRIPTION/RESOURCE_GROUP/ZONE or ZONE, got {text!r}")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription.lower(), self.resource_group.lower(), self.name.lower())

    @property
    def arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/privateDnsZones/{self.name}"
        )

    def __str__(self) -> str:
        return f"{self.subscription}/{self.resource_group}/{self.name}"


def as_zone_id(zone: ZoneId | str) -> ZoneId:
    return zone if isinstance(zone, ZoneId) else ZoneId.parse(zone)


@dataclass
class Zone:
    id: ZoneId
    tags: dict[str, str] | None = None
    etag: str = field(default_factory=new_etag)
    record_sets: dict[tuple[str, str], RecordSet] = field(default_factory=dict)  # (name, type) -> set

    def __post_init__(self) -> None:
        soa = soa_record_set()
        self.record_sets.setdefault((soa.name, soa.record_type), soa)

    def find(self, record_type: str, name: str) -> RecordSet | None:
        return self.record_sets.get((name.lower(), record_type))

    def seed(self, record_type: str, name: str, properties: Mapping[str, Any] | None) -> RecordSet:
        """Put a record set in place without ARM rules (ttl defaults to 3600); ValueError if malformed."""
        rtype = require_type(record_type)
        try:
            update = parse_properties(
                rtype, {"properties": {"ttl": 3600, **(properties or {})}}, creating=True
            )
        except ArmError as error:
            raise ValueError(str(error.body)) from error
        rs = RecordSet(rtype, name.lower(), ttl=update.ttl or 3600)
        current = self.find(rtype, name)
        if rtype == "SOA" and current is not None:
            rs.records = current.records  # the apex SOA record stays unless the seed names its fields
        rs.apply(update)
        self.record_sets[(rs.name, rtype)] = rs
        return rs

    def types_at(self, name: str) -> set[str]:
        lowered = name.lower()
        return {rtype for (rname, rtype) in self.record_sets if rname == lowered}

    def sorted_sets(self, record_type: str | None = None) -> list[RecordSet]:
        chosen = [
            rs for rs in self.record_sets.values() if record_type is None or rs.record_type == record_type
        ]
        return sorted(chosen, key=lambda rs: (rs.name, rs.record_type))

    def render(self) -> dict[str, Any]:
        """The zone body Azure returns (PrivateZoneGet.json; limits as the live service reports them)."""
        body: dict[str, Any] = {
            "id": self.id.arm_id,
            "name": self.id.name,
            "type": "Microsoft.Network/privateDnsZones",
            "etag": self.etag,
            "location": "global",
        }
        if self.tags is not None:
            body["tags"] = dict(self.tags)
        body["properties"] = {
            "maxNumberOfRecordSets": MAX_RECORD_SETS_PER_ZONE,
            "maxNumberOfVirtualNetworkLinks": 1000,
            "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
            "numberOfRecordSets": len(self.record_sets),
            "numberOfVirtualNetworkLinks": 0,
            "numberOfVirtualNetworkLinksWithRegistration": 0,
            "provisioningState": "Succeeded",
        }
        return body


class Store:
    """Zones by their case-insensitive key."""

    def __init__(self, max_record_sets: int = MAX_RECORD_SETS_PER_ZONE) -> None:
        self.max_record_sets = max_record_sets
        self._zones: dict[tuple[str, str, str], Zone] = {}

    def add_zone(self, zone_id: ZoneId, tags: dict[str, str] | None = None) -> Zone:
        """Create the zone (with its apex SOA) unless it exists; return it."""
        existing = self._zones.get(zone_id.key)
        if existing is not None:
            return existing
        zone = Zone(zone_id, tags)
        self._zones[zone_id.key] = zone
        return zone

    def remove_zone(self, zone_id: ZoneId) -> bool:
        return self._zones.pop(zone_id.key, None) is not None

    def find_zone(self, zone_id: ZoneId) -> Zone | None:
        return self._zones.get(zone_id.key)

    def zones(self) -> list[Zone]:
        return sorted(self._zones.values(), key=lambda z: z.id.key)
