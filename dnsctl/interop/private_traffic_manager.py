"""Azure Private Traffic Manager (api-version 2026-10-01-preview) profiles to and from dnsctl configurations.

Import reads ARM resources (a profile, its health policies, a topology map with its sites: GET bodies, an
ARM template's `resources`, or a list of either) and builds a dnsctl configuration. A site with probing
gateways is a dnsctl site (its vantage probes on its behalf, `ptm_sites`); Site routing (`siteIds`) and
an endpoint's `subnets` become resolver views (client networks) preferring the endpoint that serves
them; the fallback endpoint (no subnets, no sites) comes first in the default order, for the clients
outside every view. An IP `monitoringTarget` is the endpoint's address (probed there). What has no
equivalent is returned as notes, never dropped silently.

Export turns a dnsctl configuration into an ARM template with the same shapes: one profile and one
`Probe` health policy per dnsctl profile, and, when sites or resolver views exist, one topology map
whose sites are the dnsctl sites (each with its probing gateway) and the views (Site routing).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Any

import yaml

from dnsctl.config.schema import MonitorModel, ProfileModel
from dnsctl.config.values import format_duration, is_ip
from dnsctl.interop.ptm_arm import (
    API_VERSION,
    DEFAULT_ZONE,
    FQDN_TAG,
    PtmInputError,
    Result,
    collect_resources,
)
from dnsctl.interop.ptm_export import export_profiles, render_export
from dnsctl.interop.ptm_sites import DEFAULT_EXCHANGE, import_sites, profile_gateways

__all__ = [
    "DEFAULT_ZONE",
    "PtmInputError",
    "export_profiles",
    "import_profiles",
    "render_export",
    "render_import",
]


_QUOTED = re.compile(r"'([^']*)'")


def _ref_name(ref: Any) -> str:
    """The last name of an ARM id, or of a template `[resourceId(..., 'parent', 'name')]` expression."""
    text = str(ref).strip()
    if text.startswith("["):
        quoted = _QUOTED.findall(text)
        return quoted[-1] if quoted else text
    return text.rstrip("/").rsplit("/", 1)[-1]


def _ref_keys(ref: Any) -> list[str]:
    """Keys to find a child resource by: its id, "parent/name", then its name alone."""
    text = str(ref).strip()
    parts = _QUOTED.findall(text) if text.startswith("[") else text.rstrip("/").split("/")
    keys = [text.lower()]
    if len(parts) >= 3 and not text.startswith("["):
        keys.append(f"{parts[-3]}/{parts[-1]}".lower())
    elif len(parts) >= 2:
        keys.append(f"{parts[-2]}/{parts[-1]}".lower())
    if parts:
        keys.append(parts[-1].lower())
    return keys


def _short(name: Any) -> str:
    return str(name).rsplit("/", 1)[-1]  # template child names are "parent/child"


def _networks(ranges: Any, where: str) -> list[str]:
    nets: list[str] = []
    if not isinstance(ranges, list):
        raise PtmInputError(f"{where}: subnets must be a list")
    for r in ranges:
        if not isinstance(r, dict) or "first" not in r:
            raise PtmInputError(f"{where}: an address range needs 'first'")
        try:
            first = ipaddress.ip_address(str(r["first"]))
            if "scope" in r:
                nets.append(str(ipaddress.ip_network(f"{first}/{int(r['scope'])}", strict=False)))
            elif "last" in r:
                last = ipaddress.ip_address(str(r["last"]))
                nets.extend(str(n) for n in ipaddress.summarize_address_range(first, last))
            else:
                nets.append(str(ipaddress.ip_network(first)))
        except (ValueError, TypeError) as e:
            raise PtmInputError(f"{where}: {r!r} is not an address range: {e}") from None
    return nets


def _duration(seconds: Any) -> str:
    return format_duration(float(seconds))


def _monitor(policy: dict[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    props = policy.get("properties") or {}
    cfg = props.get("probeConfig") or {}
    if not isinstance(cfg, dict):
        raise PtmInputError(f"{where}: probeConfig must be an object")
    if policy.get("kind", "Probe") != "Probe":
        notes.append(f"{where}: health policy kind {policy.get('kind')!r} is not Probe: not mapped")
        return {}
    out: dict[str, Any] = {}
    protocol = cfg.get("protocol")
    if protocol is not None:
        if str(protocol).upper() not in ("HTTP", "HTTPS", "TCP"):
            raise PtmInputError(f"{where}: protocol {protocol!r} is not HTTP, HTTPS or TCP")
        out["protocol"] = str(protocol).lower()
    for key, name in (("port", "port"), ("path", "path")):
        if key in cfg:
            out[name] = cfg[key]
    headers = cfg.get("customHeaders")
    if headers:
        out["headers"] = {str(h["name"]): str(h["value"]) for h in headers}
    ranges = cfg.get("expectedStatusCodeRanges")
    if ranges:
        out["expected_status"] = [
            int(r["min"]) if r["min"] == r["max"] else f"{int(r['min'])}-{int(r['max'])}" for r in ranges
        ]
    if "intervalInSeconds" in cfg:
        out["interval"] = _duration(cfg["intervalInSeconds"])
    if "timeoutInSeconds" in cfg:
        out["timeout"] = _duration(cfg["timeoutInSeconds"])
    if "toleratedNumberOfFailures" in cfg:
        # Tolerating N failures marks the endpoint down at the N+1th.
        out["fall"] = int(cfg["toleratedNumberOfFailures"]) + 1
    try:
        model = MonitorModel.model_validate(out)
    except ValueError as e:
        raise PtmInputError(f"{where}: {e}") from None
    default = MonitorModel()
    if out.get("port") == {"https": 443, "http": 80}.get(model.protocol):
        del out["port"]  # the protocol's own port, as dnsctl's default
    return {k: v for k, v in out.items() if getattr(model, k) != getattr(default, k)}  # defaults left out


def import_profiles(docs: list[tuple[str, Any]], *, zone: str = DEFAULT_ZONE) -> Result:
    """`docs`: (source name, parsed JSON) pairs. Raises PtmInputError on input it cannot read."""
    try:
        return _import(docs, zone)
    except PtmInputError:
        raise
    except KeyError as e:
        raise PtmInputError(f"a required field is missing: {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise PtmInputError(f"a field has the wrong shape: {e}") from None


def _import(docs: list[tuple[str, Any]], zone: str) -> Result:
    res = collect_resources(docs)
    notes: list[str] = []
    policies: dict[str, dict[str, Any]] = {}
    for pol in res.policies:
        keys = [str(pol.get("name", "")).lower()]
        if pol.get("id"):
            keys = _ref_keys(pol["id"])
        keys.append(_short(pol.get("name", "")).lower())
        for key in keys:
            policies.setdefault(key, pol)
    sites: dict[str, dict[str, Any]] = {}
    catch_all: set[str] = set()
    for tmap in res.maps:
        props = tmap.get("properties") or {}
        for s in props.get("sites") or []:
            sites[str(s.get("name", "")).lower()] = s
        if props.get("catchAllSiteName"):
            catch_all.add(str(props["catchAllSiteName"]).lower())
    for s in res.sites:
        sites[_short(s.get("name", "")).lower()] = s

    profiles: list[dict[str, Any]] = []
    views: dict[str, dict[str, Any]] = {}  # view name -> view
    for p in res.profiles:
        profiles.append(_import_profile(p, policies, sites, catch_all, views, zone, notes))
    comments: list[str] = []
    names = [_short(p.get("name") or "") for p in res.profiles]
    profile_gateways(names, res.associations, _ref_name, comments, notes)
    config: dict[str, Any] = {}
    dnsctl_sites = import_sites(sites, _networks, _ref_name, comments, notes)
    if dnsctl_sites:  # the sites with probing gateways: each one's vantage is `run --site`
        config["sites"] = dnsctl_sites
    if len(dnsctl_sites) > 1:
        config["exchange"] = dict(DEFAULT_EXCHANGE)
        comments.append(
            "exchange: where the vantages share their verdicts; in Azure {kind: azure-blob, url: ...}"
        )
    config["profiles"] = profiles
    if views:
        config["resolver"] = {"views": list(views.values())}
    return Result(config, notes, comments)


def _import_profile(
    p: dict[str, Any],
    policies: dict[str, dict[str, Any]],
    sites: dict[str, dict[str, Any]],
    catch_all: set[str],
    views: dict[str, dict[str, Any]],
    zone: str,
    notes: list[str],
) -> dict[str, Any]:
    azure_name = _short(p.get("name") or "")
    if not azure_name:
        raise PtmInputError("a profile has no name")
    at = f"profile {azure_name}"
    # ARM names are case-insensitive; dnsctl's are lower-case.
    name = re.sub(r"[^a-z0-9-]", "-", azure_name.lower())
    props = p.get("properties")
    if not isinstance(props, dict):
        raise PtmInputError(f"{at}: no properties")
    method = props.get("trafficRoutingMethod", "Priority")
    if method not in ("Priority", "Weighted", "Subnet", "VNet", "Site"):
        raise PtmInputError(
            f"{at}: trafficRoutingMethod {method!r} is not Priority, Weighted, Subnet, VNet or Site"
        )
    raw = props.get("endpoints")
    if not isinstance(raw, list) or not raw:
        raise PtmInputError(f"{at}: no endpoints")
    tags = p.get("tags") or {}
    out: dict[str, Any] = {"name": name, "fqdn": tags.get(FQDN_TAG) or f"{name}.{zone}"}
    out["routing"] = "weighted" if method == "Weighted" else "priority"
    dns = props.get("dnsConfig") or {}
    if "ttl" in dns:
        ttl = int(dns["ttl"])
        if ttl < 1:
            notes.append(f"{at}: dnsConfig.ttl {ttl} is below dnsctl's minimum: TTL 1 used")
            ttl = 1
        if ttl != ProfileModel.model_fields["ttl"].default:
            out["ttl"] = ttl
    if dns.get("recordType") == "AAAA":
        notes.append(f"{at}: dnsConfig.recordType AAAA: dnsctl answers with the type the targets have")
    if props.get("profileStatus") == "Disabled":
        notes.append(f"{at}: profileStatus Disabled has no equivalent (a dnsctl profile always answers)")
    if props.get("customTopologyMapMode") == "Disabled" and p.get("probingGateways"):
        notes.append(f"{at}: probing gateways: dnsctl probes from where it runs")

    endpoints: list[dict[str, Any]] = []
    used_policies: list[str] = []
    fallback: str | None = None
    matched: list[tuple[str, list[str], list[str]]] = []  # (endpoint, client networks, site names)
    seen: set[str] = set()
    for i, e in enumerate(raw):
        if not isinstance(e, dict):
            raise PtmInputError(f"{at}: endpoints[{i}] is not an object")
        eprops: dict[str, Any] = e["properties"] if isinstance(e.get("properties"), dict) else e
        ename = _short(e.get("name") or "")
        target = eprops.get("target")
        if not ename or not target:
            raise PtmInputError(f"{at}: endpoints[{i}] needs a name and a target")
        if ename in seen:
            raise PtmInputError(f"{at}: endpoint {ename!r} appears twice")
        seen.add(ename)
        eat = f"{at}: endpoint {ename}"
        ep: dict[str, Any] = {"name": ename, "target": str(target)}
        prio = eprops.get("priority")
        ep["priority"] = int(prio) if prio is not None else i + 1
        if method == "Weighted":
            ep["weight"] = int(eprops.get("weight", 1))
        if eprops.get("endpointStatus") == "Disabled":
            ep["status"] = "disabled"
        if eprops.get("alwaysServe") == "Enabled":
            ep["override"] = "up"
        mon = eprops.get("monitoringTarget")
        if mon and mon != target and is_ip(str(mon)) and not is_ip(str(target)):
            ep["addresses"] = [str(mon)]  # probed at that address, the target's name as SNI and Host
        elif mon and mon != target:
            notes.append(f"{eat}: monitoringTarget {mon} (dnsctl probes the target itself)")
        if eprops.get("healthPolicyId"):
            used_policies.append(str(eprops["healthPolicyId"]))
        subnets = _networks(eprops["subnets"], eat) if eprops.get("subnets") else []
        vnets = eprops.get("virtualNetworkIds") or []
        site_ids = eprops.get("siteIds") or []
        if method == "Subnet" and subnets:
            matched.append((ename, subnets, []))
        elif method == "Site" and site_ids:
            matched.append((ename, [], [_ref_name(s) for s in site_ids]))
        elif method == "VNet" and vnets:
            notes.append(
                f"{eat}: virtualNetworkIds {', '.join(_ref_name(v) for v in vnets)}: "
                "dnsctl tells clients apart by address; add a resolver view with their address spaces"
            )
        elif method in ("Subnet", "Site", "VNet"):
            if fallback is not None:
                notes.append(f"{eat}: a second fallback endpoint ({fallback} is the first)")
            else:
                fallback = ename
        if method not in ("Subnet",) and subnets:
            notes.append(f"{eat}: subnets are used only by Subnet routing")
        endpoints.append(ep)

    if fallback is not None:  # the clients outside every view get the fallback endpoint first
        first = next(ep for ep in endpoints if ep["name"] == fallback)
        endpoints.remove(first)
        endpoints.insert(0, first)
        for k, ep in enumerate(endpoints):
            ep["priority"] = k + 1
        if not is_ip(first["target"]):
            out["when_all_down"] = "fallback"
            out["fallback"] = first["target"]
    out["endpoints"] = endpoints

    for ename, nets, site_names in matched:
        for sname in site_names or [ename]:
            clients = nets
            if site_names:
                site = sites.get(sname.lower())
                if site is None:
                    notes.append(f"{at}: endpoint {ename}: site {sname} is not in the topology map given")
                    continue
                sprops = site.get("properties") or {}
                clients = _networks(sprops["subnets"], f"site {sname}") if sprops.get("subnets") else []
                if sprops.get("virtualNetworkIds") and not sprops.get("probingGatewayIds"):
                    notes.append(
                        f"site {sname}: virtualNetworkIds: dnsctl tells clients apart by address; "
                        "add their address spaces to the view's clients"
                    )
                if sname.lower() in catch_all and not clients:
                    continue  # the catch-all site: clients outside every other site, dnsctl's default
                if not clients:
                    notes.append(f"site {sname}: no subnets, so no resolver view")
                    continue
            view = views.setdefault(sname, {"name": sname, "clients": [], "prefer": {}})
            for net in clients:
                if net not in view["clients"]:
                    view["clients"].append(net)
            view["prefer"][name] = [ename]

    if used_policies:
        counts = Counter(used_policies)
        chosen = counts.most_common(1)[0][0]
        policy = next((policies[k] for k in _ref_keys(chosen) if k in policies), None)
        if policy is None:
            notes.append(f"{at}: health policy {_ref_name(chosen)} was not given: default monitor used")
        else:
            monitor = _monitor(policy, f"health policy {_ref_name(chosen)}", notes)
            if monitor:
                out["monitor"] = monitor
        for other in counts:
            if other != chosen:
                notes.append(
                    f"{at}: health policy {_ref_name(other)}: a dnsctl profile has one monitor "
                    f"({_ref_name(chosen)} used for every endpoint)"
                )
    return out


def render_import(result: Result) -> str:
    head = [
        f"# dnsctl configuration imported from Azure Private Traffic Manager (api-version {API_VERSION}).",
        "# Sites with probing gateways are sites; Site routing and subnet affinity are resolver views;",
        "# the fallback endpoint is first in the default order.",
    ]
    if result.comments:
        head.append("# Mapped (each site's vantage is `dnsctl run --site NAME`):")
        head.extend(f"#   - {c}" for c in result.comments)
    if result.notes:
        head.append("# Not mapped (no dnsctl equivalent):")
        head.extend(f"#   - {n}" for n in result.notes)
    body = yaml.safe_dump(result.document, sort_keys=False, default_flow_style=False)
    return "\n".join(head) + "\n" + body
