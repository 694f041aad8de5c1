"""Parsing ARM paths of Private DNS resources. Azure matches path segments case-insensitively."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from dnsctl.emulator.recordsets import canonical_type
from dnsctl.emulator.store import ZoneId

ALL = "ALL"
_FIXED = {
    0: "subscriptions",
    2: "resourcegroups",
    4: "providers",
    5: "microsoft.network",
    6: "privatednszones",
}


@dataclass(frozen=True)
class ArmRoute:
    """A request path under `.../privateDnsZones/{zone}`, segments as the client sent them (unquoted).

    `record_type` is the canonical type, `ALL`, or None when `type_segment` names no known type;
    both are None for the zone itself. `name` is set only for a single record set.
    """

    subscription: str
    resource_group: str
    zone_name: str
    type_segment: str | None = None
    record_type: str | None = None
    name: str | None = None

    @property
    def zone_id(self) -> ZoneId:
        return ZoneId(self.subscription, self.resource_group, self.zone_name.lower())

    @property
    def zone_arm_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/privateDnsZones/{self.zone_name}"
        )

    @property
    def is_zone(self) -> bool:
        return self.type_segment is None

    @property
    def is_list(self) -> bool:
        return self.type_segment is not None and self.name is None


def parse_arm_path(path: str) -> ArmRoute | None:
    """The route for a Private DNS zone or record-set path, or None for any other path."""
    segments = [unquote(s) for s in path.strip("/").split("/")]
    if not 8 <= len(segments) <= 10 or any(not s for s in segments):
        return None
    if any(segments[i].lower() != word for i, word in _FIXED.items()):
        return None
    route = ArmRoute(segments[1], segments[3], segments[7])
    if len(segments) == 8:
        return route
    type_segment = segments[8]
    if len(segments) == 9:
        record_type = ALL if type_segment.upper() == ALL else canonical_type(type_segment)
        return ArmRoute(route.subscription, route.resource_group, route.zone_name, type_segment, record_type)
    return ArmRoute(
        route.subscription,
        route.resource_group,
        route.zone_name,
        type_segment,
        canonical_type(type_segment),
        segments[9],
    )
