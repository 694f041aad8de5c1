"""Private Traffic Manager's sites and probing gateways, and dnsctl's sites and vantages: a mapping.

A PTM site with probing gateways (`probingGatewayIds`: gateways that probe health on behalf of the
site's networks) is a dnsctl site: its vantage, `dnsctl run --site NAME`, probes on its behalf. Its
`subnets` are the site's `clients`; its `virtualNetworkIds` (the VNets forming it: the ones its zone is
linked to) are listed in a comment. A site without a probing gateway is what dnsctl calls a resolver
view (a site without a vantage of its own), as before. Export writes each dnsctl site as a site of the
topology map, associated with the probing gateway named after it (`Microsoft.Network/probingGateways`
is another resource provider's resource: the template refers to it, it does not create it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from dnsctl.config.schema import DnsctlSettings
from dnsctl.interop.ptm_arm import CATCH_ALL

GATEWAY_TYPE = "Microsoft.Network/probingGateways"
# Where the vantages share their verdicts after an import (several sites): to be set to the real one.
DEFAULT_EXCHANGE = {"kind": "directory", "path": "/var/lib/dnsctl/exchange"}


def gateway_id(site: str) -> str:
    """The probing gateway export associates with a dnsctl site: the one named after it."""
    return f"[resourceId('{GATEWAY_TYPE}', '{site}')]"


def site_name(name: str) -> str:
    """A PTM site name as a dnsctl site name (lower-case letters, digits and '-')."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def import_sites(
    sites: dict[str, dict[str, Any]],
    networks: Callable[[Any, str], list[str]],
    ref_name: Callable[[Any], str],
    comments: list[str],
    notes: list[str],
) -> list[dict[str, Any]]:
    """The dnsctl sites of the PTM sites that have probing gateways (in input order). A dnsctl site is
    published to its clients' networks (or its zone, its node agents): one made of VNets alone is listed."""
    out: list[dict[str, Any]] = []
    for s in sites.values():
        props = s.get("properties") or {}
        gateways = props.get("probingGatewayIds") or []
        if not gateways:
            continue  # no vantage of its own: a resolver view, if Site routing names it
        raw = str(s.get("name", "")).rsplit("/", 1)[-1]
        name = site_name(raw)
        if not props.get("subnets"):
            made_of = ", ".join(ref_name(v) for v in props.get("virtualNetworkIds") or []) or "none"
            notes.append(
                f"site {raw}: no subnets (virtual networks: {made_of}): a dnsctl site needs its clients' "
                f"networks or its own zone (azure: with site: {name}); not declared"
            )
            continue
        out.append({"name": name, "clients": networks(props["subnets"], f"site {raw}")})
        others = [ref_name(g) for g in gateways if ref_name(g).lower() != name]
        if others:
            comments.append(
                f"site {name}: probing gateway {', '.join(others)}: its vantage is "
                f"`dnsctl run --site {name}`, run where the gateway probes from"
            )
        vnets = [ref_name(v) for v in props.get("virtualNetworkIds") or []]
        if vnets:
            comments.append(
                f"site {name}: virtual networks {', '.join(vnets)} (link the site's zone to them)"
            )
    return out


def profile_gateways(
    profiles: list[str],
    associations: list[dict[str, Any]],
    ref_name: Callable[[Any], str],
    comments: list[str],
    notes: list[str],
) -> None:
    """A profile's own probing gateway (no topology map) is dnsctl's one vantage, `dnsctl run` run
    where the gateway probes from; several have no equivalent without sites."""
    by_profile: dict[str, list[str]] = {}
    for a in associations:
        parts = str(a.get("id") or a.get("name") or "").rstrip("/").split("/")
        parent = parts[-3] if len(parts) >= 3 else parts[0] if len(parts) == 2 else ""
        # A GET body names its profile in its id; a lone profile owns what names none.
        owner = next((q for q in profiles if q.lower() == parent.lower()), None)
        if owner is None and not parent and len(profiles) == 1:
            owner = profiles[0]
        gateway = ref_name((a.get("properties") or {}).get("probingGatewayId") or "")
        if owner is None:
            notes.append(f"probing gateway {gateway}: its profile {parent or '?'} is not in the input")
            continue
        by_profile.setdefault(owner, []).append(gateway)
    for profile, mine in by_profile.items():
        if len(mine) == 1:
            comments.append(
                f"profile {profile}: probing gateway {mine[0]}: dnsctl's vantage (`dnsctl run`, no "
                "sites) probes from where it runs: run it there"
            )
        else:
            notes.append(
                f"profile {profile}: probing gateways {', '.join(mine)}: one vantage without sites; "
                "declare a site per gateway's networks (its vantage: `dnsctl run --site NAME`)"
            )


def export_sites(
    settings: DnsctlSettings, views: dict[str, list[str]], notes: list[str], rename: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The topology map's sites for dnsctl's sites (each with its probing gateway) and resolver views
    (`views`: name -> clients; no gateway), the views' first: a name both use is one site."""
    out: dict[str, dict[str, Any]] = {}
    for name, clients in views.items():
        out[name] = {"name": name, "properties": {"subnets": [_range(c) for c in clients]}}
    for s in settings.sites:
        if s.name == CATCH_ALL:
            notes.append(f"site {s.name}: the name export gives the catch-all site: renamed {s.name}-site")
        name = rename(s.name if s.name != CATCH_ALL else f"{s.name}-site")  # 3-24 characters
        site = out.setdefault(name, {"name": name, "properties": {"subnets": []}})
        subnets = site["properties"]["subnets"]
        if name in views and sorted(views[name]) != sorted(s.clients):
            notes.append(f"site {s.name} and resolver view {name}: their clients are one site's subnets")
        for c in s.clients:
            if _range(c) not in subnets:
                subnets.append(_range(c))
        site["properties"]["probingGatewayIds"] = [gateway_id(name)]
        if s.region:
            notes.append(f"site {s.name}: region has no equivalent")
        if s.mirror:
            notes.append(f"site {s.name}: mirror (its node agents read its decision) has no equivalent")
    for site in out.values():
        if not site["properties"]["subnets"]:
            del site["properties"]["subnets"]
    if settings.sites and settings.quorum != "majority":
        notes.append(f"quorum {settings.quorum} has no equivalent (the sites' majority is dnsctl's default)")
    return list(out.values())


def _range(cidr: str) -> dict[str, Any]:
    net = ipaddress.ip_network(cidr, strict=False)
    return {"first": str(net.network_address), "scope": net.prefixlen}
