"""A dnsctl configuration as an Azure Private Traffic Manager ARM template (`dnsctl export`).

One profile and one `Probe` health policy per dnsctl profile, and, when resolver views exist, one topology
map whose sites are the views (Site routing).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from dnsctl.config.schema import DnsctlSettings, MonitorModel, ProfileModel
from dnsctl.config.values import is_ip, parse_status_range
from dnsctl.interop.ptm_arm import (
    API_VERSION,
    CATCH_ALL,
    FQDN_TAG,
    MAP_NAME,
    MAP_TYPE,
    NAME_PATTERN,
    POLICY_TYPE,
    PROFILE_TYPE,
    SITE_TYPE,
    PtmInputError,
    Result,
)
from dnsctl.interop.ptm_sites import export_sites


def _ptm_name(name: str, notes: list[str], what: str) -> str:
    if NAME_PATTERN.match(name):
        return name
    cleaned = re.sub(r"[^a-zA-Z0-9-]", "-", name)[:24]
    cleaned = cleaned + "-" * (3 - len(cleaned)) if len(cleaned) < 3 else cleaned
    notes.append(f"{what} {name!r}: renamed {cleaned!r} (names are 3-24 letters, digits or '-')")
    return cleaned


def _policy_id(profile: str) -> str:
    return f"[resourceId('{POLICY_TYPE}', '{profile}', 'probe')]"


def _site_id(site: str) -> str:
    return f"[resourceId('{SITE_TYPE}', '{MAP_NAME}', '{site}')]"


def _probe_config(mon: MonitorModel, at: str, notes: list[str]) -> dict[str, Any]:
    default = MonitorModel()
    protocol = str(mon.protocol)
    if protocol == "registry":
        notes.append(f"{at}: monitor.protocol registry: exported as an HTTPS probe of the path")
        protocol = "https"
    cfg: dict[str, Any] = {
        "protocol": protocol.upper(),
        "port": mon.port or (80 if protocol == "http" else 443),
        "intervalInSeconds": int(mon.interval) if mon.interval == int(mon.interval) else mon.interval,
        "timeoutInSeconds": int(mon.timeout) if mon.timeout == int(mon.timeout) else mon.timeout,
        "toleratedNumberOfFailures": max(mon.fall - 1, 0),
    }
    if protocol != "tcp":
        cfg["path"] = mon.path
        if mon.headers:
            cfg["customHeaders"] = [{"name": k, "value": v} for k, v in mon.headers.items()]
        ranges = [parse_status_range(s) for s in mon.expected_status]
        cfg["expectedStatusCodeRanges"] = [{"min": r.low, "max": r.high} for r in ranges]
    for key in (
        "host",
        "sni",
        "verify_tls",
        "ca_file",
        "body_match",
        "rise",
        "flap_window",
        "flap_threshold",
    ):
        if getattr(mon, key) != getattr(default, key):
            notes.append(f"{at}: monitor.{key} has no Private Traffic Manager equivalent")
    return cfg


def export_profiles(settings: DnsctlSettings) -> Result:
    notes: list[str] = []
    resources: list[dict[str, Any]] = []
    views = settings.resolver.views
    site_names = {v.name: _ptm_name(v.name, notes, "resolver view") for v in views}
    if views or settings.sites:
        if CATCH_ALL in site_names.values():
            raise PtmInputError(
                f"a resolver view is named {CATCH_ALL!r}, the name export gives the catch-all site"
            )
        sites = export_sites(
            settings,
            {site_names[v.name]: list(v.clients) for v in views},
            notes,
            lambda n: _ptm_name(n, notes, "site"),
        )
        sites.append({"name": CATCH_ALL, "properties": {}})
        resources.append(
            {
                "type": MAP_TYPE,
                "apiVersion": API_VERSION,
                "name": MAP_NAME,
                "location": "global",
                "properties": {"sites": sites, "catchAllSiteName": CATCH_ALL},
            }
        )
    for prof in settings.profiles:
        resources.extend(_export_profile(prof, settings, site_names, notes))
    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources,
    }
    return Result(template, notes)


def _export_profile(
    prof: ProfileModel, settings: DnsctlSettings, site_names: dict[str, str], notes: list[str]
) -> list[dict[str, Any]]:
    at = f"profile {prof.name}"
    name = _ptm_name(prof.name, notes, "profile")
    if prof.routing == "performance":
        notes.append(f"{at}: routing performance has no equivalent: exported as Priority")
    if prof.when_all_down != "keep-last" and not (
        prof.when_all_down == "fallback" and prof.endpoints and prof.endpoints[0].target == prof.fallback
    ):
        notes.append(f"{at}: when_all_down {prof.when_all_down} has no equivalent")
    if prof.failback == "manual":
        notes.append(f"{at}: failback manual has no equivalent")
    for rec in prof.azure if isinstance(prof.azure, list) else [prof.azure] if prof.azure else []:
        notes.append(
            f"{at}: the Azure record {rec.record}.{rec.zone} links to the profile through "
            "its record set's trafficManagementProfile, outside this template"
        )
    # The view that prefers an endpoint first is that endpoint's site.
    site_of: dict[str, list[str]] = {}
    for v in settings.resolver.views:
        order = v.prefer.get(prof.name)
        if not order:
            continue
        site_of.setdefault(order[0], []).append(site_names[v.name])
        if len(order) > 1:
            notes.append(
                f"resolver view {v.name}: only its first endpoint for {prof.name} ({order[0]}) is exported "
                "(a site belongs to one endpoint)"
            )
    routed = bool(site_of)
    if prof.routing == "weighted":
        method = "Weighted"
        if routed:
            notes.append(f"{at}: weighted with resolver views: exported as Site routing without weights")
            method = "Site"
    else:
        method = "Site" if routed else "Priority"
    ranked = sorted(prof.endpoints, key=lambda e: e.priority)
    prios = [e.priority for e in ranked]
    renumber = len(set(prios)) != len(prios) or any(not 1 <= p <= 1000 for p in prios)
    if renumber:
        notes.append(f"{at}: priorities renumbered 1..{len(ranked)} (unique, 1-1000)")
    endpoints: list[dict[str, Any]] = []
    for k, ep in enumerate(ranked):
        e: dict[str, Any] = {
            "name": ep.name,
            "target": ep.target,
            "endpointStatus": "Disabled" if ep.status == "disabled" else "Enabled",
            "priority": k + 1 if renumber else ep.priority,
            "alwaysServe": "Enabled" if ep.override == "up" else "Disabled",
            "healthPolicyId": _policy_id(name),
        }
        if prof.routing == "weighted":
            if not 1 <= ep.weight <= 1000:
                notes.append(f"{at}: endpoint {ep.name}: weight {ep.weight} clamped to 1-1000")
            e["weight"] = min(max(ep.weight, 1), 1000)
        if ep.override == "down":
            notes.append(f"{at}: endpoint {ep.name}: override down exported as endpointStatus Disabled")
            e["endpointStatus"] = "Disabled"
        if ep.region:
            notes.append(f"{at}: endpoint {ep.name}: region has no equivalent")
        if isinstance(ep.addresses, dict):
            notes.append(
                f"{at}: endpoint {ep.name}: per-site addresses have no equivalent (one monitoringTarget "
                "per endpoint, probed from every site)"
            )
        elif _monitoring_target(ep.target, ep.addresses):
            e["monitoringTarget"] = ep.addresses[0]  # where it is probed; answers still name the target
        elif ep.addresses:
            notes.append(f"{at}: endpoint {ep.name}: addresses have no equivalent")
        if method == "Site" and ep.name in site_of:
            e["siteIds"] = [_site_id(s) for s in site_of[ep.name]]
        endpoints.append(e)
    mapped = method == "Site" or bool(settings.sites)  # the sites' probing gateways judge health
    props: dict[str, Any] = {
        "customTopologyMapMode": "Enabled" if mapped else "Disabled",
        "dnsConfig": {"ttl": prof.ttl},
        "profileStatus": "Enabled",
        "trafficRoutingMethod": method,
        "endpoints": endpoints,
    }
    if mapped:
        props["topologyMapId"] = f"[resourceId('{MAP_TYPE}', '{MAP_NAME}')]"
    profile = {
        "type": PROFILE_TYPE,
        "apiVersion": API_VERSION,
        "name": name,
        "location": "global",
        "tags": {FQDN_TAG: prof.fqdn},
        "properties": props,
        "dependsOn": [f"[resourceId('{MAP_TYPE}', '{MAP_NAME}')]"] if mapped else [],
    }
    policy = {
        "type": POLICY_TYPE,
        "apiVersion": API_VERSION,
        "name": f"{name}/probe",
        "kind": "Probe",
        "properties": {"probeConfig": _probe_config(prof.monitor, at, notes)},
        "dependsOn": [f"[resourceId('{PROFILE_TYPE}', '{name}')]"],
    }
    return [profile, policy]


def _monitoring_target(target: str, addresses: list[str]) -> bool:
    """One IPv4 address of a host name target: PTM's `monitoringTarget` (which may not be IPv6)."""
    return len(addresses) == 1 and not is_ip(target) and ipaddress.ip_address(addresses[0]).version == 4


def render_export(result: Result) -> str:
    return json.dumps(result.document, indent=2) + "\n"
