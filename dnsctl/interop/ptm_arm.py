"""Azure Private Traffic Manager's ARM vocabulary (resource types, names) and reading its resources."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2026-10-01-preview"
PROFILE_TYPE = "Microsoft.Network/privateTrafficManagerProfiles"
POLICY_TYPE = "Microsoft.Network/privateTrafficManagerProfiles/healthPolicies"
MAP_TYPE = "Microsoft.Network/topologyMaps"
SITE_TYPE = "Microsoft.Network/topologyMaps/sites"
# A profile's association with a probing gateway (the "Basic experience", without a topology map).
ASSOCIATION_TYPE = "Microsoft.Network/privateTrafficManagerProfiles/probingGateways"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9-]{3,24}$")
FQDN_TAG = "dnsctl-fqdn"  # the record a profile steers: PTM links it from the record set, dnsctl names it
MAP_NAME = "dnsctl-views"
CATCH_ALL = "catch-all"
DEFAULT_ZONE = "ptm.internal"


class PtmInputError(ValueError):
    """The input is not a Private Traffic Manager resource set this command can read."""


@dataclass
class Result:
    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what has no equivalent (exit 3)
    comments: list[str] = field(default_factory=list)  # what is mapped but worth saying (exit 0)


@dataclass
class PtmResources:
    profiles: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    maps: list[dict[str, Any]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    associations: list[dict[str, Any]] = field(default_factory=list)


def _kind_of(res: dict[str, Any]) -> str | None:
    rtype = str(res.get("type", "")).lower()
    props = res.get("properties")
    if rtype == PROFILE_TYPE.lower():
        return "profile"
    if rtype == POLICY_TYPE.lower():
        return "policy"
    if rtype == MAP_TYPE.lower():
        return "map"
    if rtype == SITE_TYPE.lower():
        return "site"
    if rtype == ASSOCIATION_TYPE.lower():
        return "association"
    if not isinstance(props, dict):
        return None
    if "trafficRoutingMethod" in props or "endpoints" in props:
        return "profile"
    if "probeConfig" in props or res.get("kind") == "Probe":
        return "policy"
    if "sites" in props or "catchAllSiteName" in props:
        return "map"
    if {"probingGatewayIds", "virtualNetworkIds", "subnets"} & set(props):
        return "site"
    if "probingGatewayId" in props:
        return "association"
    return None


def collect_resources(docs: list[tuple[str, Any]]) -> PtmResources:
    out = PtmResources()

    def add(source: str, res: Any) -> None:
        if isinstance(res, list):
            for item in res:
                add(source, item)
            return
        if not isinstance(res, dict):
            raise PtmInputError(f"{source}: expected a JSON object or a list of objects")
        if isinstance(res.get("resources"), list):  # an ARM template
            add(source, res["resources"])
            return
        responses = res.get("responses")
        if isinstance(responses, dict) and isinstance(responses.get("200"), dict):  # a REST API example
            add(source, responses["200"].get("body"))
            return
        if isinstance(res.get("value"), list):  # a list response
            add(source, res["value"])
            return
        kind = _kind_of(res)
        if kind is None:
            raise PtmInputError(
                f"{source}: {str(res.get('name', 'an object'))!r} is not a Private Traffic Manager profile, "
                "health policy, topology map, site or probing gateway association"
            )
        getattr(
            out,
            {
                "profile": "profiles",
                "policy": "policies",
                "map": "maps",
                "site": "sites",
                "association": "associations",
            }[kind],
        ).append(res)

    for source, doc in docs:
        add(source, doc)
    if not out.profiles:
        raise PtmInputError("no Private Traffic Manager profile in the input")
    return out
