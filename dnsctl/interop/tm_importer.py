"""Reading a Traffic Manager profile's parts (DNS, monitor, endpoints) for `traffic_manager.import_profile`.

`TmImporter` collects what could not be mapped (`miss`) and what the reader should know (`note`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from dnsctl.config.values import normalize_fqdn
from dnsctl.errors import InputError

TM_SUFFIX = "trafficmanager.net"
REGISTRY_PATH = "/v2/"
# Traffic Manager's defaults (a PUT without them gets these back).
DEFAULT_INTERVAL = 30
DEFAULT_TIMEOUT = 10
DEFAULT_TOLERATED = 3
DEFAULT_TTL = 60


@dataclass
class TmEndpoint:
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


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def yaml_scalar(value: Any) -> str:
    """A YAML scalar: JSON's strings and numbers are YAML too."""
    return json.dumps(value)


def comment_text(text: str) -> str:
    """Text from the profile made safe for one YAML comment line (no line breaks, no control characters)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def region_name(location: str) -> str:
    return re.sub(r"[^a-z0-9]", "", location.lower())


def ip_or_none(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class TmImporter:
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
        value = int_or(ttl, DEFAULT_TTL)
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
        port = int_or(mc.get("port"), 443 if protocol == "https" else 80)
        interval = int_or(mc.get("intervalInSeconds"), DEFAULT_INTERVAL)
        timeout = int_or(mc.get("timeoutInSeconds"), DEFAULT_TIMEOUT if interval > DEFAULT_TIMEOUT else 9)
        if timeout >= interval:
            self.miss(
                "monitorConfig.timeoutInSeconds",
                f"{timeout}s is not below the interval ({interval}s); timeout {interval - 1}s is used",
            )
            timeout = max(interval - 1, 1)
        tolerated = int_or(mc.get("toleratedNumberOfFailures"), DEFAULT_TOLERATED)
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
            lines.append(f"      path: {yaml_scalar(path)}")
            lines.extend(self._expected_status(mc, path))
        else:
            if mc.get("path"):
                self.note(f"monitorConfig.path {mc['path']!r} is ignored for TCP, as Traffic Manager does")
            if mc.get("expectedStatusCodeRanges"):
                self.note("monitorConfig.expectedStatusCodeRanges apply to HTTP(S) only; TCP ignores them")
        if headers:
            lines.append(f"      headers: {yaml_scalar(headers)}")
        if host is not None:
            bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            if "*" in bare or ip_or_none(bare) is not None:
                self.miss("monitorConfig.customHeaders.Host", f"{host!r} is not a DNS name dnsctl can send")
            else:
                lines.append(f"      host: {yaml_scalar(bare)}  # Traffic Manager's custom Host header")
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
        lines.append(f"      expected_status: {yaml_scalar(values)}")
        return lines

    # -- endpoints -----------------------------------------------------------------------------

    def endpoints(self) -> list[TmEndpoint]:
        out: list[TmEndpoint] = []
        used: set[str] = set()
        for i, raw in enumerate(self.props.get("endpoints") or []):
            p: dict[str, Any] = raw.get("properties") or {}
            tm_name = str(raw.get("name") or f"endpoint-{i}")
            kind = str(raw.get("type") or "externalEndpoints").rsplit("/", 1)[-1].lower()
            name = slug(tm_name)
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
            ep = TmEndpoint(
                name=name,
                tm_name=tm_name,
                kind=kind,
                target=str(target).rstrip("."),
                priority=int_or(p.get("priority"), i + 1),
                weight=int_or(p.get("weight"), 1),
                enabled=p.get("endpointStatus", "Enabled") != "Disabled",
                always_serve=p.get("alwaysServe") == "Enabled",
                location=p.get("endpointLocation"),
                props=p,
                address=ip_or_none(str(target)),
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

    def check_headers(self, eps: list[TmEndpoint], profile_headers: dict[str, str]) -> None:
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
