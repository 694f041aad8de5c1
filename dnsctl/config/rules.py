"""Rules that span fields. Every problem is collected, each with its location; none stops the others.

The settings checked here may be partial (`dnsctl.config.partial`): each rule runs inside
`p.rule()`, so a rule that touches a value that did not validate is skipped, and the others run.
Everything the running program would refuse is refused here first.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from dnsctl.config import rfc2136, sites
from dnsctl.config.partial import Broken, is_broken
from dnsctl.config.schema import (
    AzureModel,
    AzureRecordModel,
    DnsctlSettings,
    EndpointModel,
    HaModel,
    IsolationGuardModel,
    MonitorModel,
    NotifyModel,
    ProfileModel,
    ResolverModel,
    ZoneModel,
)
from dnsctl.config.values import (
    is_ip,
    normalize_fqdn,
    parse_canary,
    parse_host_port,
    shown,
    token_host,
)

MAX_HEADERS = 8
MAX_RECORDS_PER_SET = 20
ZONE_RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX", "SRV")
# A TXT record's data is strings of up to 255 bytes each (dnsctl splits a long value), each with a
# length byte; the whole must fit in one DNS message with its header, question and owner name.
MAX_TXT_BYTES = 65_535 - 1_024
ADMIN_TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"
AZURE_TOKEN_ENV = "DNSCTL_AZURE_TOKEN"
# The lease's account key for an emulator (dnsctl.controller.blob_lease reads it; kept in step there).
HA_CONNECTION_STRING_ENV = "DNSCTL_HA_CONNECTION_STRING"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (location, message)

    def add(self, where: str, message: str) -> None:
        self.items.append((where, message))

    def check(self, where: str, fn: Callable[..., object], *args: Any) -> None:
        """Run a parser, recording its ValueError as a problem at `where`."""
        try:
            fn(*args)
        except ValueError as e:
            self.add(where, str(e))
        except Broken:
            pass

    @contextmanager
    def rule(self) -> Iterator[None]:
        """One rule: skipped, silently, if it touches a value that did not validate."""
        with suppress(Broken):
            yield


def check(
    settings: DnsctlSettings,
    environ: Mapping[str, str] | None = None,
    *,
    serving: bool = True,
    secrets: bool = False,
) -> list[tuple[str, str]]:
    """The problems of `settings`. `serving`: the command runs the admin API, whose address must then
    be loopback or protected by its token; `secrets`: also the secrets missing from `environ`."""
    env = os.environ if environ is None else environ
    p = Problems()
    with p.rule():
        _profiles(p, settings.profiles)
    with p.rule():
        _azure(p, settings.azure)
    with p.rule():
        _static_credential(p, settings)
    if secrets:
        with p.rule():
            rfc2136.check_secret(p, settings.profiles, env)
        with p.rule():
            _static_token(p, settings, env)
        with p.rule():
            _lease_over_http(p, settings, env)
    with p.rule():
        _resolver(p, settings.resolver, settings.profiles)
    with p.rule():
        _admin(p, settings.admin.listen, env, serving)
    with p.rule():
        _ha(p, settings.ha)
    with p.rule():
        _isolation_guard(p, settings.isolation_guard)
    with p.rule():
        _notify(p, settings.notify, env, secrets)
    with p.rule():
        sites.check(p, settings)
    return p.items


def _profiles(p: Problems, profiles: Sequence[ProfileModel]) -> None:
    if not profiles:
        p.add("profiles", "at least one profile is required (the names dnsctl steers)")
    names: dict[str, int] = {}
    fqdns: dict[str, str] = {}
    for i, profile in enumerate(profiles):
        at = f"profiles[{i}]"
        with p.rule():
            _profile(p, at, profile)
        with p.rule():
            if profile.name in names:
                p.add(
                    f"{at}.name", f"{shown(profile.name)} is already used by profiles[{names[profile.name]}]"
                )
            names.setdefault(profile.name, i)
        with p.rule(), suppress(ValueError):  # a bad fqdn is reported by the profile's own rules
            fqdn = normalize_fqdn(profile.fqdn)
            if fqdn in fqdns:
                p.add(
                    f"{at}.fqdn", f"{shown(profile.fqdn)} is already steered by profile {shown(fqdns[fqdn])}"
                )
            fqdns.setdefault(fqdn, profile.name)


def _profile(p: Problems, at: str, profile: ProfileModel) -> None:
    with p.rule():
        if not _is_slug(profile.name):
            p.add(f"{at}.name", f"{shown(profile.name)} must be lower-case letters, digits and '-'")
    p.check(f"{at}.fqdn", normalize_fqdn, profile.fqdn)
    with p.rule():
        _monitor(p, f"{at}.monitor", profile.monitor)
    with p.rule():
        _mirror(p, at, profile)
    with p.rule():
        _endpoints(p, at, profile)
    with p.rule():
        if profile.when_all_down == "fallback" and not profile.fallback:
            p.add(f"{at}.fallback", "when_all_down is 'fallback' but no fallback target is set")
    with p.rule():
        if profile.when_all_down == "fallback" and any(r.record_type == "A" for r in _azure_records(profile)):
            p.add(f"{at}.when_all_down", "fallback names a host, which an A record cannot hold: use CNAME")
    with p.rule():
        if profile.fallback:
            p.check(f"{at}.fallback", normalize_fqdn, profile.fallback)
            with p.rule():
                if _same_name(profile.fallback, profile.fqdn):
                    p.add(
                        f"{at}.fallback",
                        f"{shown(profile.fallback)} is this profile's own fqdn: a CNAME to itself",
                    )
    with p.rule():
        if isinstance(profile.azure, list):
            for k, record in enumerate(profile.azure):
                with p.rule():
                    _azure_record(p, f"{at}.azure[{k}]", record)
        elif profile.azure is not None:
            _azure_record(p, f"{at}.azure", profile.azure)
    with p.rule():
        if profile.rfc2136 is not None:
            rfc2136.check_record(p, f"{at}.rfc2136", profile)


def _endpoints(p: Problems, at: str, profile: ProfileModel) -> None:
    if not profile.endpoints:
        p.add(f"{at}.endpoints", "at least one endpoint is required")
    seen_names: dict[str, int] = {}
    seen_priorities: dict[int, str] = {}
    for j, ep in enumerate(profile.endpoints):
        eat = f"{at}.endpoints[{j}]"
        with p.rule():
            _endpoint(p, eat, ep)
        with p.rule():
            if ep.name in seen_names:
                p.add(f"{eat}.name", f"{shown(ep.name)} is already used by endpoints[{seen_names[ep.name]}]")
            seen_names.setdefault(ep.name, j)
        with p.rule():
            if ep.priority in seen_priorities:
                p.add(
                    f"{eat}.priority",
                    f"{ep.priority} is already used by endpoint {shown(seen_priorities[ep.priority])}",
                )
            seen_priorities.setdefault(ep.priority, ep.name)
        with p.rule():
            types = [r.record_type for r in _azure_records(profile)]
            types += [profile.rfc2136.record_type] if profile.rfc2136 is not None else []
            if "A" in types:
                if not [a for a in sites.plain_addresses(ep) if _is_v4(a)]:
                    p.add(
                        f"{eat}.addresses",
                        "record_type A publishes the chosen endpoint's IPv4 addresses: set some",
                    )
                if len(sites.plain_addresses(ep)) > MAX_RECORDS_PER_SET:
                    p.add(
                        f"{eat}.addresses", f"an Azure record set holds at most {MAX_RECORDS_PER_SET} records"
                    )
    with p.rule():
        if profile.endpoints and all(ep.status == "disabled" for ep in profile.endpoints):
            p.add(f"{at}.endpoints", "every endpoint is disabled: enable at least one")
    with p.rule():
        if (
            profile.routing == "weighted"
            and profile.endpoints
            and not any(ep.weight > 0 for ep in profile.endpoints)
        ):
            p.add(f"{at}.endpoints", "routing weighted needs at least one endpoint with weight > 0")


def _azure_records(profile: ProfileModel) -> list[AzureRecordModel]:
    az = profile.azure
    return [] if az is None else list(az) if isinstance(az, list) else [az]


def _azure_record(p: Problems, at: str, az: AzureRecordModel) -> None:
    p.check(f"{at}.zone", normalize_fqdn, az.zone)
    with p.rule():
        if az.record != "@":
            p.check(f"{at}.record", normalize_fqdn, az.record)
        elif az.record_type == "CNAME":
            p.add(f"{at}.record", "a CNAME cannot sit at the zone apex '@' (Azure refuses it)")
    for name in ("subscription_id", "resource_group"):
        with p.rule():
            if not getattr(az, name).strip():
                p.add(f"{at}.{name}", "must not be empty")
    with p.rule():
        if az.subscription_id.strip() and not _GUID.fullmatch(az.subscription_id.strip()):
            p.add(
                f"{at}.subscription_id",
                f"{shown(az.subscription_id)} is not a subscription id "
                "(a GUID like 00000000-0000-0000-0000-000000000000)",
            )


def _monitor(p: Problems, at: str, m: MonitorModel) -> None:
    with p.rule():
        if m.timeout <= 0:
            p.add(f"{at}.timeout", "must be greater than 0")
    with p.rule():
        if m.timeout >= m.interval:
            p.add(f"{at}.timeout", f"{m.timeout:g}s must be shorter than interval ({m.interval:g}s)")
    with p.rule():
        if m.fall < 1:
            p.add(f"{at}.fall", f"{m.fall} must be at least 1")
    with p.rule():
        if m.rise < 1:
            p.add(f"{at}.rise", f"{m.rise} must be at least 1")
    with p.rule():
        if m.protocol != "tcp" and not m.expected_status:
            p.add(f"{at}.expected_status", "at least one status code or range is required")
    with p.rule():
        if len(m.headers) > MAX_HEADERS:
            p.add(f"{at}.headers", f"{len(m.headers)} headers given; at most {MAX_HEADERS} are allowed")
    with p.rule():
        if m.protocol == "tcp" and m.port is None:
            p.add(f"{at}.port", "protocol tcp needs a port")
    with p.rule():
        if m.protocol != "tcp" and not m.path.startswith("/"):
            p.add(f"{at}.path", f"{shown(m.path)} must start with '/'")
    with p.rule():
        if m.protocol == "http" and m.port == 443:
            p.add(f"{at}.port", "protocol http on port 443: did you mean https?")
    for name in ("host", "sni"):
        with p.rule():
            value = getattr(m, name)
            if value is not None:
                p.check(f"{at}.{name}", normalize_fqdn, value)
    with p.rule():
        if m.ca_file is not None and not os.path.isfile(m.ca_file):
            p.add(f"{at}.ca_file", f"{shown(m.ca_file)} does not exist or is not a file")
    with p.rule():
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
    with p.rule():
        if not _REPOSITORY.match(m.registry.repository):
            p.add(f"{at}.registry.repository", f"{shown(m.registry.repository)} is not a repository name")
    with p.rule():
        if not _REFERENCE.match(m.registry.reference):
            p.add(f"{at}.registry.reference", f"{shown(m.registry.reference)} is not a tag or digest")
    for i, host in enumerate(m.registry.token_hosts):
        with p.rule():
            p.check(f"{at}.registry.token_hosts[{i}]", token_host, host)


def _endpoint(p: Problems, at: str, ep: EndpointModel) -> None:
    with p.rule():
        if not ep.name.strip() or any(c.isspace() for c in ep.name):
            p.add(f"{at}.name", f"{shown(ep.name)} must be a non-empty word without spaces")
    p.check(f"{at}.target", normalize_fqdn, ep.target)
    with p.rule():
        listed = ep.addresses.items() if isinstance(ep.addresses, dict) else [("", ep.addresses)]
        for site, addrs in listed:
            for k, addr in enumerate(addrs):
                if not is_ip(addr):
                    where = f"{at}.addresses.{site}[{k}]" if site else f"{at}.addresses[{k}]"
                    p.add(where, f"{shown(addr)} is not an IP address")


def _isolation_guard(p: Problems, guard: IsolationGuardModel) -> None:
    with p.rule():
        for i, canary in enumerate(guard.canaries):
            p.check(f"isolation_guard.canaries[{i}]", parse_canary, canary)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _notify(p: Problems, notify: NotifyModel, environ: Mapping[str, str], secrets: bool) -> None:
    from dnsctl.core.model import NOTIFY_EVENTS

    with p.rule():
        if notify.timeout <= 0:
            p.add("notify.timeout", "must be greater than 0")
    with p.rule():
        if notify.backoff < 0:
            p.add("notify.backoff", "must not be negative")
    for i, hook in enumerate(notify.webhooks):
        at = f"notify.webhooks[{i}]"
        with p.rule():
            if (hook.url is None) == (hook.url_env is None):
                p.add(
                    at, "give exactly one of url (in the file) or url_env (the variable that holds the URL)"
                )
        with p.rule():
            if hook.url is not None:
                p.check(f"{at}.url", webhook_url, hook.url)
        with p.rule():
            if hook.url_env is not None:
                if not _ENV_NAME.fullmatch(hook.url_env):
                    p.add(f"{at}.url_env", f"{shown(hook.url_env)} is not an environment variable name")
                elif secrets and not environ.get(hook.url_env):
                    p.add(f"{at}.url_env", f"{hook.url_env} is not set")
        with p.rule():
            if not hook.events:
                p.add(f"{at}.events", f"name at least one event ({', '.join(NOTIFY_EVENTS)})")
            for k, event in enumerate(hook.events):
                if event not in NOTIFY_EVENTS:
                    p.add(f"{at}.events[{k}]", f"{shown(event)} is not an event ({', '.join(NOTIFY_EVENTS)})")


def webhook_url(url: str) -> None:
    """An http(s) URL with a host (its path and query, often a token, are never quoted back)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")


def _azure(p: Problems, az: AzureModel) -> None:
    with p.rule():
        if az.deadline <= 0:
            p.add("azure.deadline", "must be greater than 0")
    with p.rule():
        if az.client_id is not None and not _GUID.fullmatch(az.client_id.strip()):
            p.add(
                "azure.client_id",
                f"{shown(az.client_id)} is not a client id (the GUID of a user-assigned identity); "
                "secrets are never given in the file",
            )
    url = urlsplit(az.base_url)
    with p.rule():
        if url.scheme not in ("https", "http") or not url.hostname:
            p.add("azure.base_url", f"{shown(az.base_url)} is not an http(s) URL")
            return
        if url.scheme == "http" and not _is_loopback(url.hostname):
            p.add("azure.base_url", "plain http is accepted only for a loopback emulator; use https")


def _uses_azure(settings: DnsctlSettings) -> bool:
    """Whether Azure's management or storage API is called: records to write, or the blob lease."""
    return settings.ha.lease == "azure-blob" or any(pr.azure is not None for pr in settings.profiles)


def _static_credential(p: Problems, settings: DnsctlSettings) -> None:
    host = urlsplit(settings.azure.base_url).hostname or ""
    if settings.azure.credential == "static" and _uses_azure(settings) and not _is_loopback(host):
        p.add(
            "azure.credential",
            "'static' (a fixed token from DNSCTL_AZURE_TOKEN) is for a local emulator only: "
            "azure.base_url must be a loopback address",
        )


def _static_token(p: Problems, settings: DnsctlSettings, environ: Mapping[str, str]) -> None:
    if settings.azure.credential == "static" and _uses_azure(settings) and not environ.get(AZURE_TOKEN_ENV):
        p.add("azure.credential", f"'static' reads its token from {AZURE_TOKEN_ENV}, which is not set")


def _lease_over_http(p: Problems, settings: DnsctlSettings, environ: Mapping[str, str]) -> None:
    """An http blob URL works with an emulator's account key only: the Storage SDK sends a token
    (any azure.credential) over https and nothing else."""
    ha = settings.ha
    if ha.lease != "azure-blob" or not ha.blob_url or urlsplit(ha.blob_url).scheme != "http":
        return
    if not environ.get(HA_CONNECTION_STRING_ENV):
        p.add(
            "ha.blob_url",
            f"plain http needs an emulator's account key in {HA_CONNECTION_STRING_ENV}, which is not set: "
            f"azure.credential ({settings.azure.credential}) gives a token, which is sent over https only",
        )


def _admin(p: Problems, listen: str, environ: Mapping[str, str], serving: bool) -> None:
    try:
        where = parse_host_port(listen, None)
    except ValueError as e:
        p.add("admin.listen", str(e))
        return
    if serving and not _is_loopback(where.host) and not environ.get(ADMIN_TOKEN_ENV):
        p.add(
            "admin.listen",
            f"{where} is not loopback: set {ADMIN_TOKEN_ENV} so the admin API is not open to the network",
        )


def _resolver(p: Problems, r: ResolverModel, profiles: Sequence[ProfileModel]) -> None:
    with p.rule():
        for i, listen in enumerate(r.listen):
            p.check(f"resolver.listen[{i}]", _ip_endpoint, listen, None)
    with p.rule():
        for i, up in enumerate(r.upstreams):
            p.check(f"resolver.upstreams[{i}]", _ip_endpoint, up, 53)
    with p.rule():
        for i, net in enumerate(r.allow):
            p.check(f"resolver.allow[{i}]", _network, net)
    with p.rule():
        if r.upstream_timeout <= 0:
            p.add("resolver.upstream_timeout", "must be greater than 0")
    with p.rule():
        _views(p, r, profiles)
    with p.rule():
        _zones(p, r)


def _known(values: Iterable[Any]) -> list[Any]:
    return [v for v in values if not is_broken(v)]


def _views(p: Problems, r: ResolverModel, profiles: Sequence[ProfileModel]) -> None:
    # A profile or endpoint whose name did not validate has no name: the references to it are wrong.
    # Without a list of profiles at all, the references cannot be checked; the rest of the view can.
    by_name: dict[str, ProfileModel] | None = None
    with p.rule():
        by_name = {pr.name: pr for pr in _known(profiles) if not is_broken(pr.name)}
    view_names: set[str] = set()
    for i, view in enumerate(r.views):
        at = f"resolver.views[{i}]"
        with p.rule():
            if view.name in view_names:
                p.add(f"{at}.name", f"{shown(view.name)} is already used by another view")
            view_names.add(view.name)
        with p.rule():
            if not view.clients:
                p.add(f"{at}.clients", "at least one client network is required")
            for k, net in enumerate(view.clients):
                p.check(f"{at}.clients[{k}]", _network, net)
        with p.rule():
            for prof, order in view.prefer.items():
                if by_name is None:
                    break
                if prof not in by_name:
                    p.add(f"{at}.prefer.{prof}", f"no profile named {shown(prof)}")
                    continue
                with p.rule():
                    known = {ep.name for ep in _known(by_name[prof].endpoints) if not is_broken(ep.name)}
                    for name in order:
                        if name not in known:
                            p.add(
                                f"{at}.prefer.{prof}", f"profile {shown(prof)} has no endpoint {shown(name)}"
                            )


def _zones(p: Problems, r: ResolverModel) -> None:
    zone_names: set[str] = set()
    for i, zone in enumerate(r.zones):
        at = f"resolver.zones[{i}]"
        with p.rule():
            try:
                zname = normalize_fqdn(zone.name)
            except ValueError as e:
                p.add(f"{at}.name", str(e))
                continue
            if zname in zone_names:
                p.add(f"{at}.name", f"zone {shown(zone.name)} is defined twice")
            zone_names.add(zname)
            _zone(p, at, zname, zone)


def _zone(p: Problems, at: str, origin: str, zone: ZoneModel) -> None:
    cname_owners: dict[str, int] = {}  # owner -> how many CNAMEs it has
    owners: dict[str, set[str]] = {}
    for k, rec in enumerate(zone.records):
        rat = f"{at}.records[{k}]"
        with p.rule():
            rtype = rec.type.upper()
            if rtype not in ZONE_RECORD_TYPES:
                p.add(f"{rat}.type", f"{shown(rec.type)} is not one of {', '.join(ZONE_RECORD_TYPES)}")
                continue
            with p.rule():
                if rec.name != "@":
                    p.check(f"{rat}.name", _owner_name, rec.name, origin)
            owner = _absolute(rec.name, origin)
            owners.setdefault(owner, set()).add(rtype)
            if rtype == "CNAME":
                cname_owners[owner] = cname_owners.get(owner, 0) + 1
            p.check(f"{rat}.value", _zone_value, rtype, rec.value)
    for owner, count in cname_owners.items():
        if len(owners[owner]) > 1 or owner == origin or count > 1:
            p.add(
                f"{at}.records",
                f"a CNAME at {shown(owner)} cannot sit beside other records, another CNAME or at the apex",
            )


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin
    if name.endswith("."):
        return name.lower().rstrip(".")
    return f"{name.lower()}.{origin}"


def _owner_name(name: str, origin: str) -> None:
    normalize_fqdn(name)
    if name.endswith("."):
        absolute = name.lower().rstrip(".")
        if absolute != origin and not absolute.endswith("." + origin):
            raise ValueError(f"{shown(name)} is outside the zone {origin!r}")
    elif len(f"{name}.{origin}") > 253:
        raise ValueError(f"{shown(name)} is longer than 253 characters with the zone's name")


def _zone_value(rtype: str, value: str) -> None:
    parts = value.split()
    if rtype == "A" and not _is_v4(value.strip()):
        raise ValueError(f"{shown(value)} is not an IPv4 address")
    if rtype == "AAAA" and not (is_ip(value.strip()) and not _is_v4(value.strip())):
        raise ValueError(f"{shown(value)} is not an IPv6 address")
    if rtype == "CNAME":
        normalize_fqdn(value)
    if rtype == "TXT":
        size = len(value.strip().encode())
        if size > MAX_TXT_BYTES:
            raise ValueError(
                f"a TXT value of {size} bytes does not fit in a DNS message (at most {MAX_TXT_BYTES}, "
                "sent as strings of 255)"
            )
    if rtype == "MX" and (len(parts) != 2 or not parts[0].isdigit()):
        raise ValueError(f"{shown(value)} is not 'PREFERENCE HOST', like '10 mail.lab.internal.'")
    if rtype == "SRV" and (len(parts) != 4 or not all(x.isdigit() for x in parts[:3])):
        raise ValueError(
            f"{shown(value)} is not 'PRIORITY WEIGHT PORT HOST', like '10 5 443 host.lab.internal.'"
        )
    if rtype in ("MX", "SRV"):
        if any(int(x) > 65_535 for x in parts[:-1]):
            raise ValueError(f"{shown(value)}: numbers in a {rtype} record are at most 65535")
        normalize_fqdn(parts[-1])


def _ha(p: Problems, ha: HaModel) -> None:
    with p.rule():
        if ha.lease == "azure-blob":
            if not ha.blob_url:
                p.add(
                    "ha.blob_url",
                    "ha.lease azure-blob needs blob_url (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)",
                )
            elif not _is_blob_url(ha.blob_url):
                p.add(
                    "ha.blob_url",
                    f"{shown(ha.blob_url)} is not a blob URL like "
                    "https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB "
                    "(or http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB for an emulator)",
                )
    with p.rule():
        if ha.blob_url and ("?" in ha.blob_url or "#" in ha.blob_url):
            p.add(
                "ha.blob_url",
                "no query string (a SAS token does not belong in the config): use azure.credential",
            )
    with p.rule():
        if not 15 <= ha.lease_duration <= 60 or ha.lease_duration != int(ha.lease_duration):
            p.add("ha.lease_duration", "an Azure Blob lease lasts 15 to 60 whole seconds")


def _is_blob_url(url: str) -> bool:
    """What the lease accepts: an emulator (an IP or localhost) names the account in the path too."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    segments = [s for s in parts.path.split("/") if s]
    path_style = parts.hostname == "localhost" or is_ip(parts.hostname)
    return len(segments) >= (3 if path_style else 2)


def _is_slug(name: str) -> bool:
    return bool(name) and all(c.islower() or c.isdigit() or c == "-" for c in name) and name.isascii()


def _same_name(a: str, b: str) -> bool:
    return a.strip().lower().rstrip(".") == b.strip().lower().rstrip(".")


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
        raise ValueError(f"{shown(value)}: {shown(host)} must be an IP address")


def _network(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as e:
        raise ValueError(f"{shown(value)} is not an IP network like '10.0.0.0/8'") from e
