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
import re
from dataclasses import dataclass, field
from typing import Any

from dnsctl.config.values import normalize_fqdn
from dnsctl.errors import InputError

METHODS = ("Priority", "Weighted", "Performance", "MultiValue", "Subnet", "Geographic")
TM_SUFFIX = "trafficmanager.net"
REGISTRY_PATH = "/v2/"
# Traffic Manager's defaults (a PUT without them gets these back).
DEFAULT_INTERVAL = 30
DEFAULT_TIMEOUT = 10
DEFAULT_TOLERATED = 3
DEFAULT_TTL = 60
RESOLVER_LISTEN = "127.0.0.1:5353"
LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass
class Imported:
    """The configuration text, what could not be mapped (one line each), and the notes written with it."""

    yaml: str
    unmapped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Endpoint:
    name: str
    tm_name: str
    kind: str  # externalendpoints | azureendpoints | nestedendpoints
    target: str
    priority: int
    weight: int
    enabled: bool
    always_serve: bool
    location: str | None
    props: dict[str, Any]
    address: str | None = None  # the target when it is an IP address
    comments: list[str] = field(default_factory=list)


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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _q(value: Any) -> str:
    """A YAML scalar: JSON's strings and numbers are YAML too."""
    return json.dumps(value)


def _comment(text: str) -> str:
    """Text from the profile made safe for one YAML comment line (no line breaks, no control characters)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _region(location: str) -> str:
    return re.sub(r"[^a-z0-9]", "", location.lower())


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class _Importer:
    def __init__(self, doc: dict[str, Any], fqdn: str | None) -> None:
        self.doc = doc
        self.props: dict[str, Any] = doc["properties"]
        self.method: str = self.props["trafficRoutingMethod"]
        self.fqdn_arg = fqdn
        self.unmapped: list[str] = []
        self.notes: list[str] = []

    def miss(self, where: str, what: str) -> None:
        self.unmapped.append(f"{where}: {what}")

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- profile level -------------------------------------------------------------------------

    def fqdn(self) -> str:
        dns = self.props.get("dnsConfig") or {}
        tm_fqdn = dns.get("fqdn") or (
            f"{dns['relativeName']}.{TM_SUFFIX}" if dns.get("relativeName") else None
        )
        if self.fqdn_arg:
            try:
                normalize_fqdn(self.fqdn_arg)
            except ValueError as e:
                raise InputError(f"--fqdn: {e}") from None
            if tm_fqdn:
                self.note(
                    f"Traffic Manager's name {tm_fqdn} is not carried over: dnsctl answers "
                    f"{self.fqdn_arg} itself (point clients, or your CNAME, at it)"
                )
            return self.fqdn_arg.rstrip(".")
        if not tm_fqdn:
            raise InputError("the profile has no dnsConfig.fqdn or relativeName: give the name with --fqdn")
        self.miss(
            "dnsConfig.relativeName",
            f"{tm_fqdn} is a name in Traffic Manager's own zone, which dnsctl cannot publish; the "
            "configuration steers it only for clients of the embedded resolver; "
            "give your own name with --fqdn",
        )
        return str(tm_fqdn).rstrip(".")

    def ttl(self) -> int:
        ttl = (self.props.get("dnsConfig") or {}).get("ttl")
        if ttl is None:
            self.note(f"dnsConfig.ttl is not set: ttl {DEFAULT_TTL}")
            return DEFAULT_TTL
        value = _int(ttl, DEFAULT_TTL)
        if value < 1:
            self.miss("dnsConfig.ttl", f"{ttl} is below dnsctl's minimum of 1 second; ttl 1 is used")
            return 1
        return value

    def profile_fields(self) -> None:
        if self.props.get("profileStatus") == "Disabled":
            self.miss(
                "profileStatus",
                "Disabled (Traffic Manager answers NXDOMAIN); dnsctl has no disabled profile: remove the "
                "profile or keep it enabled",
            )
        if self.props.get("trafficViewEnrollmentStatus") == "Enabled":
            self.miss("trafficViewEnrollmentStatus", "Traffic View has no dnsctl equivalent")
        types = self.props.get("allowedEndpointRecordTypes")
        if types and set(types) - {"Any"}:
            self.note(
                f"allowedEndpointRecordTypes {', '.join(map(str, types))}: dnsctl answers with what each "
                "endpoint names (a CNAME to its target, its addresses for A/AAAA)"
            )
        tags = self.doc.get("tags")
        if tags:
            self.note(f"tags (not carried over): {json.dumps(tags, sort_keys=True)}")

    # -- monitor -------------------------------------------------------------------------------

    def monitor(self, lines: list[str]) -> dict[str, str]:
        """The `monitor:` lines; returns the profile-level headers (to compare with endpoints')."""
        mc: dict[str, Any] = self.props.get("monitorConfig") or {}
        if not mc:
            self.note("monitorConfig is absent: Traffic Manager's defaults (HTTP on port 80, path /)")
        protocol = str(mc.get("protocol") or "HTTP").lower()
        if protocol not in ("http", "https", "tcp"):
            self.miss("monitorConfig.protocol", f"{json.dumps(mc.get('protocol'))} is not HTTP, HTTPS or TCP")
            protocol = "https"
        port = _int(mc.get("port"), 443 if protocol == "https" else 80)
        interval = _int(mc.get("intervalInSeconds"), DEFAULT_INTERVAL)
        timeout = _int(mc.get("timeoutInSeconds"), DEFAULT_TIMEOUT if interval > DEFAULT_TIMEOUT else 9)
        if timeout >= interval:
            self.miss(
                "monitorConfig.timeoutInSeconds",
                f"{timeout}s is not below the interval ({interval}s); timeout {interval - 1}s is used",
            )
            timeout = max(interval - 1, 1)
        tolerated = _int(mc.get("toleratedNumberOfFailures"), DEFAULT_TOLERATED)
        headers: dict[str, str] = {}
        host: str | None = None
        for h in mc.get("customHeaders") or []:
            name, value = str(h.get("name", "")), str(h.get("value", ""))
            if name.lower() == "host":
                host = value
            else:
                headers[name] = value
        lines.append("    monitor:")
        lines.append(f"      protocol: {protocol}")
        lines.append(f"      port: {port}")
        if protocol != "tcp":
            path = str(mc.get("path") or "/")
            lines.append(f"      path: {_q(path)}")
            lines.extend(self._expected_status(mc, path))
        else:
            if mc.get("path"):
                self.note(f"monitorConfig.path {mc['path']!r} is ignored for TCP, as Traffic Manager does")
            if mc.get("expectedStatusCodeRanges"):
                self.note("monitorConfig.expectedStatusCodeRanges apply to HTTP(S) only; TCP ignores them")
        if headers:
            lines.append(f"      headers: {_q(headers)}")
        if host is not None:
            bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if "*" in bare or _ip(bare) is not None:
                self.miss("monitorConfig.customHeaders.Host", f"{host!r} is not a DNS name dnsctl can send")
            else:
                lines.append(f"      host: {_q(bare)}  # Traffic Manager's custom Host header")
        if protocol == "https":
            lines.append(
                "      verify_tls: true  # Traffic Manager only checks that a certificate is "
                "present; dnsctl verifies it (false probes as Traffic Manager does)"
            )
        lines.append(f"      interval: {interval}s")
        lines.append(f"      timeout: {timeout}s")
        lines.append(
            f"      fall: {tolerated + 1}  # toleratedNumberOfFailures {tolerated}: "
            f"Degraded at failure {tolerated + 1}"
        )
        lines.append("      rise: 1  # one success brings an endpoint back, as in Traffic Manager")
        return {k.lower(): v for k, v in headers.items()} | ({"host": host} if host is not None else {})

    def _expected_status(self, mc: dict[str, Any], path: str) -> list[str]:
        ranges: list[tuple[int, int]] = []
        for r in mc.get("expectedStatusCodeRanges") or []:
            low, high = r.get("min"), r.get("max", r.get("min"))
            if not isinstance(low, int) or not isinstance(high, int) or not 100 <= low <= high <= 599:
                self.miss("monitorConfig.expectedStatusCodeRanges", f"{json.dumps(r)} is not a status range")
                continue
            ranges.append((low, high))
        if not ranges:
            ranges = [(200, 200)]  # Traffic Manager's default: 200 alone
        values: list[int | str] = [lo if lo == hi else f"{lo}-{hi}" for lo, hi in ranges]
        lines: list[str] = []
        if path.startswith(REGISTRY_PATH) and not any(lo <= 401 <= hi for lo, hi in ranges):
            values.append(401)
            lines.append(
                "      # 401 added: a container registry answers /v2/ with 401 and a Bearer challenge "
                "when its front end is up;"
            )
            lines.append(
                "      # Traffic Manager, without 401 in expectedStatusCodeRanges, would count it Degraded."
            )
        lines.append(f"      expected_status: {_q(values)}")
        return lines

    # -- endpoints -----------------------------------------------------------------------------

    def endpoints(self) -> list[_Endpoint]:
        out: list[_Endpoint] = []
        used: set[str] = set()
        for i, raw in enumerate(self.props.get("endpoints") or []):
            p: dict[str, Any] = raw.get("properties") or {}
            tm_name = str(raw.get("name") or f"endpoint-{i}")
            kind = str(raw.get("type") or "externalEndpoints").rsplit("/", 1)[-1].lower()
            name = _slug(tm_name)
            while name in used:
                name = f"{name}-{i}"
            used.add(name)
            target = p.get("target")
            if not target:
                self.miss(
                    f"endpoints[{tm_name}]",
                    "has no target (an Azure endpoint known only by targetResourceId); not imported",
                )
                continue
            ep = _Endpoint(
                name=name,
                tm_name=tm_name,
                kind=kind,
                target=str(target).rstrip("."),
                priority=_int(p.get("priority"), i + 1),
                weight=_int(p.get("weight"), 1),
                enabled=p.get("endpointStatus", "Enabled") != "Disabled",
                always_serve=p.get("alwaysServe") == "Enabled",
                location=p.get("endpointLocation"),
                props=p,
                address=_ip(str(target)),
            )
            if name != tm_name:
                ep.comments.append(f"Traffic Manager name {tm_name!r}")
            if kind == "nestedendpoints":
                self.miss(
                    f"endpoints[{tm_name}]",
                    f"a nested profile ({target}); dnsctl has no nested profiles: it is imported as one "
                    "endpoint answering the child's name; import the child profile and list its endpoints "
                    "here to flatten it"
                    + "".join(
                        f"; {k} {p[k]} not mapped"
                        for k in ("minChildEndpoints", "minChildEndpointsIPv4", "minChildEndpointsIPv6")
                        if k in p
                    ),
                )
            if self.method == "Geographic" and p.get("geoMapping"):
                self.miss(
                    f"endpoints[{tm_name}].geoMapping",
                    f"{', '.join(map(str, p['geoMapping']))}: Geographic routing has no dnsctl equivalent",
                )
            if self.method != "Subnet" and p.get("subnets"):
                self.note(f"endpoints[{tm_name}].subnets apply to Subnet routing only; not used")
            out.append(ep)
        return out

    def check_headers(self, eps: list[_Endpoint], profile_headers: dict[str, str]) -> None:
        for ep in eps:
            own = {
                str(h.get("name", "")).lower(): str(h.get("value", ""))
                for h in ep.props.get("customHeaders") or []
            }
            differs = {k: v for k, v in own.items() if profile_headers.get(k) != v}
            if differs:
                self.miss(
                    f"endpoints[{ep.tm_name}].customHeaders",
                    f"{', '.join(sorted(differs))}: dnsctl sends one set of probe headers per profile "
                    "(monitor.headers); per-endpoint headers need a profile of their own",
                )


def import_profile(doc: dict[str, Any], *, fqdn: str | None = None, source: str = "") -> Imported:
    """`doc` (checked by `load_profile`) as a dnsctl configuration for `dnsctl serve`."""
    im = _Importer(doc, fqdn)
    method = im.method
    name = _slug(str(doc.get("name") or "profile"))
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
    body.append(f"    fqdn: {_q(steered)}")
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
        _comment(
            f"# dnsctl configuration imported from Traffic Manager profile {doc.get('name', '')!r}"
            + (f" ({source})" if source else "")
        ),
        f"# routing method {method}; served by the embedded resolver: dnsctl serve -c THIS_FILE",
    ]
    if im.unmapped:
        head.append("#")
        head.append("# NOT MAPPED (no dnsctl equivalent; review before use):")
        head.extend(f"#   - {_comment(u)}" for u in im.unmapped)
    if im.notes:
        head.append("#")
        head.append("# Notes:")
        head.extend(f"#   - {_comment(n)}" for n in im.notes)
    allow = [*LOOPBACK, *(net for _, nets, _ in views for net in nets)]
    resolver = [
        "resolver:",
        f"  listen: [{_q(RESOLVER_LISTEN)}]",
        "  upstreams: []  # add your resolvers: names dnsctl does not steer go there",
        f"  allow: {_q(list(dict.fromkeys(allow)))}",
    ]
    if views:
        resolver.append("  views:  # Traffic Manager's Subnet routing")
        for view, nets, ep_name in views:
            resolver.append(f"    - name: {view}")
            resolver.append(f"      clients: {_q(nets)}")
            resolver.append(f"      prefer: {{{name}: [{ep_name}]}}")
    text = "\n".join([*head, "", "profiles:", *body, "", *resolver]) + "\n"
    return Imported(text, im.unmapped, im.notes)


def _assign_priorities(im: _Importer, eps: list[_Endpoint], method: str) -> None:
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


def _endpoint_lines(im: _Importer, ep: _Endpoint, steered: str) -> list[str]:
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
        fields["region"] = _region(str(ep.location))
        if _region(str(ep.location)) != ep.location:
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
    flow = ", ".join(f"{k}: {_q(v)}" for k, v in fields.items())
    lines = [f"      # {_comment(c)}" for c in ep.comments]
    lines.append(f"      - {{{flow}}}")
    return lines


def _multivalue(im: _Importer, eps: list[_Endpoint], steered: str) -> list[str]:
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
            lines.append(f"      # {_comment(ep.tm_name)} ({ep.address}): endpointStatus Disabled, left out")
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
    lines.append("      - {" + ", ".join(f"{k}: {_q(v)}" for k, v in fields.items()) + "}")
    return lines


def _subnet_views(im: _Importer, eps: list[_Endpoint], profile: str) -> list[tuple[str, list[str], str]]:
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
