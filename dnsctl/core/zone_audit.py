"""What a pull needs from the private zone, per replica, and what is missing (`dnsctl audit`).

`privatelink.azurecr.io` must hold, for every replica, `<registry>.<region>.geo` (its regional
endpoint, when that is the endpoint's target) and `<registry>.<region>.data` (its data endpoint); a
replica added later needs both added by hand when DNS is managed by hand. Pure: the zone's records
come in (read once per zone at the edge), the findings go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dnsctl.core.model import ProfileSpec
from dnsctl.core.plan import RecordValue
from dnsctl.core.publication import RecordType
from dnsctl.core.registry_spec import data_host

ACR_SUFFIX = ".azurecr.io"
ACR_ZONES = ("privatelink.azurecr.io", "azurecr.io")
# A zone's records: relative name (lower case) -> type -> value.
ZoneRecords = Mapping[str, Mapping[RecordType, RecordValue]]


@dataclass(frozen=True, slots=True)
class Needed:
    """One record a pull from one replica needs."""

    profile: str
    endpoint: str
    role: str  # "regional endpoint" | "data endpoint"
    host: str  # the name clients resolve
    zone: str
    name: str  # relative to the zone
    addresses: tuple[str, ...]  # what the probes connect to for it (none: not judged)


@dataclass(frozen=True, slots=True)
class Finding:
    needed: Needed
    problem: str | None  # None: in place

    def describe(self) -> str:
        n = self.needed
        where = f"{n.profile}: {n.endpoint}: {n.role} {n.host}"
        if self.problem is None:
            return f"{where}: {n.name} in {n.zone}"
        return f"{where}: {self.problem}"


def relative_name(host: str, zone: str) -> str | None:
    """`host`'s name in `zone`: for the ACR zones the name under azurecr.io (the public name is a CNAME
    to `<name>.privatelink.azurecr.io`), else the part before the zone; None when it is not in it."""
    host, zone = host.rstrip(".").lower(), zone.rstrip(".").lower()
    if zone in ACR_ZONES and host.endswith(ACR_SUFFIX):
        return host[: -len(ACR_SUFFIX)]
    if host.endswith(f".{zone}"):
        return host[: -len(zone) - 1]
    return None


def needed(profile: ProfileSpec, zone: str | None = None) -> list[Needed]:
    """The records each replica of the profile needs in `zone` (default: the zone it is published to)."""
    if zone is None:
        if profile.azure is None:
            return []
        zone = profile.azure.zone
    reg = profile.monitor.registry
    out: list[Needed] = []
    for ep in profile.endpoints:
        wanted: list[tuple[str, str | None, tuple[str, ...]]] = []
        if ep.target.rstrip(".").lower().endswith(".geo.azurecr.io"):
            wanted.append(("regional endpoint", ep.target, ep.addresses))
        if reg is not None:
            data = reg.data_endpoint(ep)
            wanted.append(("data endpoint", data.host, data.addresses))
        elif ep.target.rstrip(".").lower().endswith(ACR_SUFFIX):
            wanted.append(("data endpoint", data_host(ep), ()))
        for role, host, addresses in wanted:
            if host is None:
                continue
            name = relative_name(host, zone)
            if name is not None:
                out.append(Needed(profile.name, ep.name, role, host.rstrip("."), zone, name, addresses))
    return out


def audit(need: Needed, records: ZoneRecords) -> Finding:
    found = records.get(need.name.lower(), {})
    if not found:
        return Finding(need, f"missing: no record {need.name} in zone {need.zone}")
    a = found.get(RecordType.A)
    if a is not None and need.addresses:
        stray = [x for x in a.values if x not in need.addresses]
        if stray or not a.values:
            shown = ", ".join(stray) or "no address"
            return Finding(
                need,
                f"{need.name} in {need.zone} points at {shown}, which no probe reaches "
                f"(probed: {', '.join(need.addresses)})",
            )
    return Finding(need, None)
