"""Rules that span fields. Every problem is collected, each with its location; none stops the others."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from dnsctl.config.schema import (
    AdminModel,
    AzureModel,
    DnsctlSettings,
    EndpointModel,
    HaModel,
    IsolationGuardModel,
    MonitorModel,
    ProfileModel,
    ResolverModel,
    ZoneModel,
)
from dnsctl.config.values import is_ip, normalize_fqdn, parse_canary, parse_host_port

M = TypeVar("M", bound=BaseModel)

MAX_HEADERS = 8
MAX_RECORDS_PER_SET = 20
ZONE_RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "SRV")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def check(self, where: str, fn: Callable[..., object], *args: Any) -> None:
        """Run a parser, recording its ValueError as a problem at `where`."""
        try:
            fn(*args)
        except ValueError as e:
            self.add(where, str(e))


def check(settings: DnsctlSettings) -> list[str]:
    p = Problems()
    _profiles(p, settings.profiles)
    _azure(p, settings.azure)
    _resolver(p, settings.resolver, settings.profiles)
    p.check("admin.listen", parse_host_port, settings.admin.listen, None)
    _ha(p, settings.ha)
    _isolation_guard(p, settings.isolation_guard)
    return p.items


def check_sections(data: Mapping[str, Any]) -> list[str]:
    """The rules of every section that is well-typed on its own, for a file that is not as a whole."""
    p = Problems()
    raw_profiles = data.get("profiles")
    profiles = []
    for i, raw in enumerate(raw_profiles if isinstance(raw_profiles, list) else []):
        model = _try(ProfileModel, raw)
        if model is not None:
            _profile(p, f"profiles[{i}]", model)
            profiles.append(model)
        elif isinstance(raw, dict):
            _loose_profile(p, f"profiles[{i}]", raw)
            named = _names_only(raw)
            if named is not None:  # so that views naming it are not told it does not exist
                profiles.append(named)
    azure = _try(AzureModel, data.get("azure", {}))
    if azure is not None:
        _azure(p, azure)
    resolver = _try(ResolverModel, data.get("resolver", {}))
    if resolver is not None:
        _resolver(p, resolver, profiles)
    admin = _try(AdminModel, data.get("admin", {}))
    if admin is not None:
        p.check("admin.listen", parse_host_port, admin.listen, None)
    ha = _try(HaModel, data.get("ha", {}))
    if ha is not None:
        _ha(p, ha)
    guard = _try(IsolationGuardModel, data.get("isolation_guard", {}))
    if guard is not None:
        _isolation_guard(p, guard)
    return p.items


def _loose_profile(p: Problems, at: str, raw: Mapping[str, Any]) -> None:
    """A profile that is not well-typed as a whole: check the parts that are."""
    monitor = _try(MonitorModel, raw.get("monitor", {}))
    if monitor is not None:
        _monitor(p, f"{at}.monitor", monitor)
    endpoints = raw.get("endpoints")
    for j, ep_raw in enumerate(endpoints if isinstance(endpoints, list) else []):
        ep = _try(EndpointModel, ep_raw)
        if ep is not None:
            _endpoint(p, f"{at}.endpoints[{j}]", ep)


def _names_only(raw: Mapping[str, Any]) -> ProfileModel | None:
    """An ill-typed profile reduced to its name and endpoint names, for cross-references."""
    name, endpoints = raw.get("name"), raw.get("endpoints")
    if not isinstance(name, str):
        return None
    names = [e.get("name") for e in (endpoints if isinstance(endpoints, list) else []) if isinstance(e, dict)]
    eps = [EndpointModel.model_construct(name=n, target="", priority=0) for n in names if isinstance(n, str)]
    return ProfileModel.model_construct(name=name, fqdn="", endpoints=eps)


def _try(model: type[M], raw: object) -> M | None:
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError:
        return None


def _profiles(p: Problems, profiles: Sequence[ProfileModel]) -> None:
    names: dict[str, int] = {}
    fqdns: dict[str, str] = {}
    for i, profile in enumerate(profiles):
        at = f"profiles[{i}]"
        _profile(p, at, profile)
        if profile.name in names:
            p.add(f"{at}.name", f"{profile.name!r} is already used by profiles[{names[profile.name]}]")
        names.setdefault(profile.name, i)
        try:
            fqdn = normalize_fqdn(profile.fqdn)
        except ValueError:
            continue
        if fqdn in fqdns:
            p.add(f"{at}.fqdn", f"{profile.fqdn!r} is already steered by profile {fqdns[fqdn]!r}")
        fqdns.setdefault(fqdn, profile.name)


def _profile(p: Problems, at: str, profile: ProfileModel) -> None:
    if not _is_slug(profile.name):
        p.add(f"{at}.name", f"{profile.name!r} must be lower-case letters, digits and '-'")
    p.check(f"{at}.fqdn", normalize_fqdn, profile.fqdn)
    _monitor(p, f"{at}.monitor", profile.monitor)
    _mirror(p, at, profile)
    if not profile.endpoints:
        p.add(f"{at}.endpoints", "at least one endpoint is required")
    seen_names: dict[str, int] = {}
    seen_priorities: dict[int, str] = {}
    for j, ep in enumerate(profile.endpoints):
        eat = f"{at}.endpoints[{j}]"
        _endpoint(p, eat, ep)
        if ep.name in seen_names:
            p.add(f"{eat}.name", f"{ep.name!r} is already used by endpoints[{seen_names[ep.name]}]")
        seen_names.setdefault(ep.name, j)
        if ep.priority in seen_priorities:
            p.add(
                f"{eat}.priority",
                f"{ep.priority} is already used by endpoint {seen_priorities[ep.priority]!r}",
            )
        seen_priorities.setdefault(ep.priority, ep.name)
        if profile.azure is not None and profile.azure.record_type == "A":
            if not [a for a in ep.addresses if _is_v4(a)]:
                p.add(
                    f"{eat}.addresses",
                    "record_type A publishes the chosen endpoint's IPv4 addresses: set some",
                )
            if len(ep.addresses) > MAX_RECORDS_PER_SET:
                p.add(f"{eat}.addresses", f"an Azure record set holds at most {MAX_RECORDS_PER_SET} records")
    if profile.endpoints and all(ep.status == "disabled" for ep in profile.endpoints):
        p.add(f"{at}.endpoints", "every endpoint is disabled: enable at least one")
    if (
        profile.routing == "weighted"
        and profile.endpoints
        and not any(ep.weight > 0 for ep in profile.endpoints)
    ):
        p.add(f"{at}.endpoints", "routing weighted needs at least one endpoint with weight > 0")
    if profile.when_all_down == "fallback" and not profile.fallback:
        p.add(f"{at}.fallback", "when_all_down is 'fallback' but no fallback target is set")
    if profile.when_all_down == "fallback" and profile.azure is not None and profile.azure.record_type == "A":
        p.add(f"{at}.when_all_down", "fallback names a host, which an A record cannot hold: use CNAME")
    if profile.fallback:
        p.check(f"{at}.fallback", normalize_fqdn, profile.fallback)
    if profile.azure is not None:
        az = profile.azure
        p.check(f"{at}.azure.zone", normalize_fqdn, az.zone)
        if az.record != "@":
            p.check(f"{at}.azure.record", normalize_fqdn, az.record)
        elif az.record_type == "CNAME":
            p.add(f"{at}.azure.record", "a CNAME cannot sit at the zone apex '@' (Azure refuses it)")
        for name in ("subscription_id", "resource_group"):
            if not getattr(az, name).strip():
                p.add(f"{at}.azure.{name}", "must not be empty")


def _monitor(p: Problems, at: str, m: MonitorModel) -> None:
    if m.timeout <= 0:
        p.add(f"{at}.timeout", "must be greater than 0")
    if m.timeout >= m.interval:
        p.add(f"{at}.timeout", f"{m.timeout:g}s must be shorter than interval ({m.interval:g}s)")
    if m.fall < 1:
        p.add(f"{at}.fall", f"{m.fall} must be at least 1")
    if m.rise < 1:
        p.add(f"{at}.rise", f"{m.rise} must be at least 1")
    if m.protocol != "tcp" and not m.expected_status:
        p.add(f"{at}.expected_status", "at least one status code or range is required")
    if len(m.headers) > MAX_HEADERS:
        p.add(f"{at}.headers", f"{len(m.headers)} headers given; at most {MAX_HEADERS} are allowed")
    if m.protocol == "tcp" and m.port is None:
        p.add(f"{at}.port", "protocol tcp needs a port")
    if m.protocol != "tcp" and not m.path.startswith("/"):
        p.add(f"{at}.path", f"{m.path!r} must start with '/'")
    if m.protocol == "http" and m.port == 443:
        p.add(f"{at}.port", "protocol http on port 443: did you mean https?")
    for name in ("host", "sni"):
        value = getattr(m, name)
        if value is not None:
            p.check(f"{at}.{name}", normalize_fqdn, value)
    if m.ca_file is not None and not os.path.isfile(m.ca_file):
        p.add(f"{at}.ca_file", f"{m.ca_file!r} does not exist or is not a file")
    _registry_probe(p, at, m)


_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_REFERENCE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|[a-z0-9]+:[a-f0-9]{32,})$")


def _mirror(p: Problems, at: str, profile: ProfileModel) -> None:
    """`dnsctl mirror`'s per-profile settings."""
    if not profile.mirror.capabilities:
        p.add(f"{at}.mirror.capabilities", "at least one of pull, resolve, push is needed")


def _registry_probe(p: Problems, at: str, m: MonitorModel) -> None:
    if m.protocol == "registry" and m.registry is None:
        p.add(f"{at}.registry", "protocol registry needs registry.repository (and registry.reference)")
    if m.registry is None:
        return
    if m.protocol != "registry":
        p.add(f"{at}.registry", f"only used with protocol registry (the protocol is {m.protocol})")
    if not _REPOSITORY.match(m.registry.repository):
        p.add(f"{at}.registry.repository", f"{m.registry.repository!r} is not a repository name")
    if not _REFERENCE.match(m.registry.reference):
        p.add(f"{at}.registry.reference", f"{m.registry.reference!r} is not a tag or digest")


def _endpoint(p: Problems, at: str, ep: EndpointModel) -> None:
    if not ep.name.strip() or any(c.isspace() for c in ep.name):
        p.add(f"{at}.name", f"{ep.name!r} must be a non-empty word without spaces")
    p.check(f"{at}.target", normalize_fqdn, ep.target)
    for k, addr in enumerate(ep.addresses):
        if not is_ip(addr):
            p.add(f"{at}.addresses[{k}]", f"{addr!r} is not an IP address")


def _isolation_guard(p: Problems, guard: IsolationGuardModel) -> None:
    for i, canary in enumerate(guard.canaries):
        p.check(f"isolation_guard.canaries[{i}]", parse_canary, canary)


def _azure(p: Problems, az: AzureModel) -> None:
    if az.deadline <= 0:
        p.add("azure.deadline", "must be greater than 0")
    url = urlsplit(az.base_url)
    if url.scheme not in ("https", "http") or not url.hostname:
        p.add("azure.base_url", f"{az.base_url!r} is not an http(s) URL")
    elif url.scheme == "http" and not _is_loopback(url.hostname):
        p.add("azure.base_url", "plain http is accepted only for a loopback emulator; use https")


def _resolver(p: Problems, r: ResolverModel, profiles: Iterable[ProfileModel]) -> None:
    for i, listen in enumerate(r.listen):
        p.check(f"resolver.listen[{i}]", _ip_endpoint, listen, None)
    for i, up in enumerate(r.upstreams):
        p.check(f"resolver.upstreams[{i}]", _ip_endpoint, up, 53)
    for i, net in enumerate(r.allow):
        p.check(f"resolver.allow[{i}]", _network, net)
    if r.upstream_timeout <= 0:
        p.add("resolver.upstream_timeout", "must be greater than 0")
    by_name = {pr.name: pr for pr in profiles}
    view_names: set[str] = set()
    for i, view in enumerate(r.views):
        at = f"resolver.views[{i}]"
        if view.name in view_names:
            p.add(f"{at}.name", f"{view.name!r} is already used by another view")
        view_names.add(view.name)
        if not view.clients:
            p.add(f"{at}.clients", "at least one client network is required")
        for k, net in enumerate(view.clients):
            p.check(f"{at}.clients[{k}]", _network, net)
        for prof, order in view.prefer.items():
            if prof not in by_name:
                p.add(f"{at}.prefer.{prof}", f"no profile named {prof!r}")
                continue
            known = {ep.name for ep in by_name[prof].endpoints}
            for name in order:
                if name not in known:
                    p.add(f"{at}.prefer.{prof}", f"profile {prof!r} has no endpoint {name!r}")
    zone_names: set[str] = set()
    for i, zone in enumerate(r.zones):
        at = f"resolver.zones[{i}]"
        try:
            zname = normalize_fqdn(zone.name)
        except ValueError as e:
            p.add(f"{at}.name", str(e))
            continue
        if zname in zone_names:
            p.add(f"{at}.name", f"zone {zone.name!r} is defined twice")
        zone_names.add(zname)
        _zone(p, at, zone)


def _zone(p: Problems, at: str, zone: ZoneModel) -> None:
    cname_owners: set[str] = set()
    owners: dict[str, set[str]] = {}
    for k, rec in enumerate(zone.records):
        rat = f"{at}.records[{k}]"
        rtype = rec.type.upper()
        if rtype not in ZONE_RECORD_TYPES:
            p.add(f"{rat}.type", f"{rec.type!r} is not one of {', '.join(ZONE_RECORD_TYPES)}")
            continue
        if rec.name != "@":
            p.check(f"{rat}.name", normalize_fqdn, rec.name)
        owner = rec.name.lower().rstrip(".")
        owners.setdefault(owner, set()).add(rtype)
        if rtype == "CNAME":
            cname_owners.add(owner)
        p.check(f"{rat}.value", _zone_value, rtype, rec.value)
    for owner in cname_owners:
        if len(owners[owner]) > 1 or owner == "@":
            p.add(f"{at}.records", f"a CNAME at {owner!r} cannot sit beside other records or at the apex")


def _zone_value(rtype: str, value: str) -> None:
    parts = value.split()
    if rtype == "A" and not _is_v4(value):
        raise ValueError(f"{value!r} is not an IPv4 address")
    if rtype == "AAAA" and not (is_ip(value) and not _is_v4(value)):
        raise ValueError(f"{value!r} is not an IPv6 address")
    if rtype == "CNAME":
        normalize_fqdn(value)
    if rtype == "MX" and (len(parts) != 2 or not parts[0].isdigit()):
        raise ValueError(f"{value!r} is not 'PREFERENCE HOST', like '10 mail.lab.internal.'")
    if rtype == "SRV" and (len(parts) != 4 or not all(x.isdigit() for x in parts[:3])):
        raise ValueError(f"{value!r} is not 'PRIORITY WEIGHT PORT HOST', like '10 5 443 host.lab.internal.'")
    if rtype in ("MX", "SRV"):
        normalize_fqdn(parts[-1])


def _ha(p: Problems, ha: HaModel) -> None:
    if ha.lease == "azure-blob":
        if not ha.blob_url:
            p.add(
                "ha.blob_url",
                "ha.lease azure-blob needs blob_url (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)",
            )
        elif (
            urlsplit(ha.blob_url).scheme not in ("https", "http") or urlsplit(ha.blob_url).path.count("/") < 2
        ):
            p.add(
                "ha.blob_url",
                f"{ha.blob_url!r} is not a blob URL like https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB",
            )
    if ha.blob_url and "?" in ha.blob_url:
        p.add(
            "ha.blob_url", "no query string (a SAS token does not belong in the config): use azure.credential"
        )
    if not 15 <= ha.lease_duration <= 60 or ha.lease_duration != int(ha.lease_duration):
        p.add("ha.lease_duration", "an Azure Blob lease lasts 15 to 60 whole seconds")


def _is_slug(name: str) -> bool:
    return bool(name) and all(c.islower() or c.isdigit() or c == "-" for c in name) and name.isascii()


def _is_v4(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ip_endpoint(value: str, default_port: int | None) -> None:
    host = parse_host_port(value, default_port).host
    if not is_ip(host):
        raise ValueError(f"{value!r}: {host!r} must be an IP address")


def _network(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as e:
        raise ValueError(f"{value!r} is not an IP network like '10.0.0.0/8'") from e
