"""A Traffic Manager profile (ARM JSON, api-version 2022-04-01) as a dnsctl configuration.

`import_profile` is pure: the parsed JSON in, the YAML text and what could not be mapped out. The
configuration it writes serves the profile from the embedded resolver (`dnsctl serve`); every field
that has no dnsctl equivalent is listed in `Imported.unmapped` and as a comment in the YAML, never
dropped silently.

The mapping, field by field:

- `trafficRoutingMethod`: Priority -> `routing: priority`; Weighted -> `routing: weighted`;
  Performance -> `routing: performance` (`endpointLocation` as the endpoint's `region`); MultiValue ->
  one endpoint holding every address (the resolver answers with all Online addresses; with all of them
  down, all of them: `when_all_down: serve-all`); Subnet -> one resolver view per endpoint with subnets;
  Geographic -> not mapped (priority order, `geoMapping` listed).
- `monitorConfig`: protocol, port, path, `intervalInSeconds` -> `interval`, `timeoutInSeconds` ->
  `timeout`, `toleratedNumberOfFailures` N -> `fall: N+1` (Traffic Manager marks an endpoint Degraded
  once consecutive failures exceed N), `rise: 1` (one success brings it back), `customHeaders` ->
  `headers` (`Host` -> `host`), `expectedStatusCodeRanges` -> `expected_status` (default 200 alone).
- `dnsConfig.ttl` -> `ttl`; endpoints' `endpointStatus: Disabled` -> `status: disabled`,
  `alwaysServe: Enabled` -> `override: up`.
- All endpoints Degraded: Traffic Manager answers as if they were all Online; dnsctl's
  `when_all_down` does the same (`serve-first` for priority and performance, `serve-all` otherwise).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from dnsctl.errors import InputError
from dnsctl.interop.tm_importer import (
    TmEndpoint,
    TmImporter,
    comment_text,
    region_name,
    slug,
    yaml_scalar,
)

METHODS = ("Priority", "Weighted", "Performance", "MultiValue", "Subnet", "Geographic")
RESOLVER_LISTEN = "127.0.0.1:5353"
LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass
class Imported:
    """The configuration text, what could not be mapped (one line each), and the notes written with it."""

    yaml: str
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_profile(text: str, source: str) -> dict[str, Any]:
    """The parsed profile; InputError when the text is not JSON or not a Traffic Manager profile."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InputError(f"{source}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{source}: not a Traffic Manager profile (a JSON object is expected)")
    kind = doc.get("type")
    if kind is not None and str(kind).lower() != "microsoft.network/trafficmanagerprofiles":
        raise InputError(
            f"{source}: type {json.dumps(kind)} is not a Traffic Manager profile "
            "(Microsoft.Network/trafficManagerProfiles)"
        )
    props = doc.get("properties")
    if not isinstance(props, dict) or "trafficRoutingMethod" not in props:
        raise InputError(
            f"{source}: not a Traffic Manager profile (no properties.trafficRoutingMethod; "
            "expected the output of `az network traffic-manager profile show -o json`)"
        )
    method = props["trafficRoutingMethod"]
    if method not in METHODS:
        raise InputError(
            f"{source}: properties.trafficRoutingMethod {json.dumps(method)} "
            f"is not one of {', '.join(METHODS)}"
        )
    for key in ("dnsConfig", "monitorConfig"):
        if props.get(key) is not None and not isinstance(props[key], dict):
            raise InputError(f"{source}: properties.{key} is not an object")
    endpoints = props.get("endpoints") or []
    if not isinstance(endpoints, list) or not all(
        isinstance(e, dict) and isinstance(e.get("properties", {}), dict) for e in endpoints
    ):
        raise InputError(f"{source}: properties.endpoints is not a list of endpoint objects")
    return doc


def import_profile(doc: dict[str, Any], *, fqdn: str | None = None, source: str = "") -> Imported:
    """`doc` (checked by `load_profile`) as a dnsctl configuration for `dnsctl serve`."""
    im = TmImporter(doc, fqdn)
    method = im.method
    name = slug(str(doc.get("name") or "profile"))
    steered = im.fqdn()
    ttl = im.ttl()
    im.profile_fields()
    eps = im.endpoints()
    if not eps:
        raise InputError(f"{source or 'the profile'}: no endpoint with a target to import")

    body: list[str] = []
    views: list[tuple[str, list[str], str]] = []
    routing = {"Priority": "priority", "Weighted": "weighted", "Performance": "performance"}.get(
        method, "priority"
    )
    when_all_down = "serve-all" if method in ("Weighted", "MultiValue") else "serve-first"
    body.append(f"  - name: {name}")
    body.append(f"    fqdn: {yaml_scalar(steered)}")
    body.append(f"    ttl: {ttl}")
    body.append(f"    routing: {routing}")
    if method == "Performance":
        body.append("    # Traffic Manager picks the region closest to the querier; dnsctl picks the lowest")
        body.append("    # latency it measures from where it runs, for all its clients.")
    if method == "Geographic":
        body.append(
            "    # Geographic routing is NOT mapped: endpoints are served by priority (see the list above)."
        )
    body.append("    failback: auto")
    body.append("    failback_hold: 0s  # Traffic Manager returns to a recovered endpoint at once")
    body.append(
        f"    when_all_down: {when_all_down}  # all Degraded: Traffic Manager answers as if all were Online"
    )
    headers = im.monitor(body)
    im.check_headers(eps, headers)
    body.append("    endpoints:")
    if method == "MultiValue":
        body.extend(_multivalue(im, eps, steered))
    else:
        if method == "Subnet":
            views = _subnet_views(im, eps, name)
        _assign_priorities(im, eps, method)
        for ep in eps:
            body.extend(_endpoint_lines(im, ep, steered))

    head = [
        comment_text(
            f"# dnsctl configuration imported from Traffic Manager profile {doc.get('name', '')!r}"
            + (f" ({source})" if source else "")
        ),
        f"# routing method {method}; served by the embedded resolver: dnsctl serve -c THIS_FILE",
    ]
    if im.unmapped:
        head.append("#")
        head.append("# NOT MAPPED (no dnsctl equivalent; review before use):")
        head.extend(f"#   - {comment_text(u)}" for u in im.unmapped)
    if im.notes:
        head.append("#")
        head.append("# Notes:")
        head.extend(f"#   - {comment_text(n)}" for n in im.notes)
    allow = [*LOOPBACK, *(net for _, nets, _ in views for net in nets)]
    resolver = [
        "resolver:",
        f"  listen: [{yaml_scalar(RESOLVER_LISTEN)}]",
        "  upstreams: []  # add your resolvers: names dnsctl does not steer go there",
        f"  allow: {yaml_scalar(list(dict.fromkeys(allow)))}",
    ]
    if views:
        resolver.append("  views:  # Traffic Manager's Subnet routing")
        for view, nets, ep_name in views:
            resolver.append(f"    - name: {view}")
            resolver.append(f"      clients: {yaml_scalar(nets)}")
            resolver.append(f"      prefer: {{{name}: [{ep_name}]}}")
    text = "\n".join([*head, "", "profiles:", *body, "", *resolver]) + "\n"
    return Imported(text, im.unmapped, im.notes)


def _assign_priorities(im: TmImporter, eps: list[TmEndpoint], method: str) -> None:
    if method in ("Priority", "Geographic"):
        values = [ep.priority for ep in eps]
        if len(set(values)) == len(values):
            return
        if method == "Priority":
            im.miss(
                "endpoints[].priority",
                f"{values} are not unique; dnsctl needs one order: "
                "the endpoints' order in the profile is used",
            )
    elif method == "Subnet":
        # The catch-all endpoint (no subnets) answers every client outside the views: it goes first.
        eps.sort(key=lambda ep: 0 if not ep.props.get("subnets") else 1)
    for i, ep in enumerate(eps, start=1):
        ep.priority = i


def _endpoint_lines(im: TmImporter, ep: TmEndpoint, steered: str) -> list[str]:
    fields: dict[str, Any] = {"name": ep.name}
    if ep.address is not None:
        fields["target"] = f"{ep.name}.{steered}"
        fields["addresses"] = [ep.address]
        ep.comments.append(f"target {ep.address} is an address: answered as {ep.name}.{steered}")
    else:
        fields["target"] = ep.target
    fields["priority"] = ep.priority
    if im.method == "Weighted":
        fields["weight"] = ep.weight
    if ep.location:
        fields["region"] = region_name(str(ep.location))
        if region_name(str(ep.location)) != ep.location:
            ep.comments.append(f"endpointLocation {ep.location!r}")
    elif im.method == "Performance":
        ep.comments.append("no endpointLocation (an Azure endpoint's region is its resource's)")
    if not ep.enabled:
        fields["status"] = "disabled"
        ep.comments.append("endpointStatus Disabled: never probed, never answered")
    if ep.always_serve:
        fields["override"] = "up"
        ep.comments.append("alwaysServe Enabled: always counted as up")
    if ep.props.get("targetResourceId"):
        ep.comments.append(f"targetResourceId {ep.props['targetResourceId']}")
    flow = ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in fields.items())
    lines = [f"      # {comment_text(c)}" for c in ep.comments]
    lines.append(f"      - {{{flow}}}")
    return lines


def _multivalue(im: TmImporter, eps: list[TmEndpoint], steered: str) -> list[str]:
    """MultiValue: one endpoint holding every enabled address; each address has its own verdict and the
    answer carries the Online ones (all of them when none is: Traffic Manager's best effort)."""
    lines = [
        "      # MultiValue: one endpoint with every address; the resolver answers with all Online ones.",
    ]
    addresses: list[str] = []
    for ep in eps:
        if ep.address is None:
            im.miss(
                f"endpoints[{ep.tm_name}]",
                f"MultiValue needs an IP address, {ep.target!r} is a name; not imported",
            )
            continue
        if not ep.enabled:
            lines.append(
                f"      # {comment_text(ep.tm_name)} ({ep.address}): endpointStatus Disabled, left out"
            )
            continue
        if ep.always_serve:
            im.miss(
                f"endpoints[{ep.tm_name}].alwaysServe",
                "dnsctl judges each address by its probe; an address cannot be always up",
            )
        addresses.append(ep.address)
    if not addresses:
        raise InputError("MultiValue profile without an enabled IP address endpoint: nothing to import")
    max_return = im.props.get("maxReturn")
    if isinstance(max_return, int) and max_return < len(addresses):
        im.miss(
            "maxReturn",
            f"{max_return}: dnsctl answers with every Online address (up to {len(addresses)}), "
            f"not at most {max_return}",
        )
    target = f"multivalue.{steered}"
    lines.append(
        f"      # probed by address with Host/SNI {target} (Traffic Manager probes the address itself)"
    )
    fields = {"name": "multivalue", "target": target, "priority": 1, "addresses": addresses}
    lines.append("      - {" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in fields.items()) + "}")
    return lines


def _subnet_views(im: TmImporter, eps: list[TmEndpoint], profile: str) -> list[tuple[str, list[str], str]]:
    views: list[tuple[str, list[str], str]] = []
    catch_all = [ep for ep in eps if not ep.props.get("subnets")]
    for ep in eps:
        nets: list[str] = []
        for s in ep.props.get("subnets") or []:
            try:
                first = ipaddress.ip_address(str(s.get("first")))
                if s.get("scope") is not None:
                    nets.append(str(ipaddress.ip_network(f"{first}/{s['scope']}", strict=False)))
                else:
                    last = ipaddress.ip_address(str(s.get("last") or first))
                    nets.extend(str(n) for n in ipaddress.summarize_address_range(first, last))
            except (ValueError, TypeError) as e:
                im.miss(f"endpoints[{ep.tm_name}].subnets", f"{json.dumps(s)} is not a subnet ({e})")
        if nets:
            views.append((f"{profile}-{ep.name}", nets, ep.name))
            ep.comments.append(f"subnets: resolver view {profile}-{ep.name}")
    if not catch_all:
        im.miss(
            "endpoints[].subnets",
            "no endpoint catches clients outside every subnet (Traffic Manager has no answer for them); "
            "dnsctl answers them by priority",
        )
    elif len(catch_all) > 1:
        im.note(
            f"several endpoints have no subnets; {catch_all[0].tm_name} answers clients outside every view"
        )
    return views
