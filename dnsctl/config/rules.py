"""Rules that span fields. Every problem is collected, each with its location; none stops the others.

The settings checked here may be partial (`dnsctl.config.partial`): each rule runs inside
`p.rule()`, so a rule that touches a value that did not validate is skipped, and the others run.
Everything the running program would refuse is refused here first. The profiles' rules are here; the
resolver's in `rules_resolver`, the other sections' in `rules_service`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from contextlib import suppress

from dnsctl.config import rfc2136, rules_resolver, rules_service, sites
from dnsctl.config.problems import Problems
from dnsctl.config.schema import AzureRecordModel, DnsctlSettings, EndpointModel, MonitorModel, ProfileModel
from dnsctl.config.values import MAX_TXT_BYTES, is_ip, normalize_fqdn, shown, token_host
from dnsctl.core.model import EndpointSpec
from dnsctl.core.registry_spec import data_host

__all__ = ["MAX_TXT_BYTES", "check"]

MAX_HEADERS = 8
MAX_RECORDS_PER_SET = 20


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
        rules_service.azure(p, settings.azure)
    with p.rule():
        rules_service.static_credential(p, settings)
    if secrets:
        with p.rule():
            rfc2136.check_secret(p, settings.profiles, env)
        with p.rule():
            rules_service.static_token(p, settings, env)
        with p.rule():
            rules_service.lease_over_http(p, settings, env)
    with p.rule():
        rules_resolver.resolver(p, settings.resolver, settings.profiles)
    with p.rule():
        rules_resolver.site_clients(p, settings.resolver, settings.sites)
    with p.rule():
        rules_service.admin(p, settings.admin.listen, env, serving)
    with p.rule():
        rules_service.ha(p, settings.ha)
    with p.rule():
        rules_service.isolation_guard(p, settings.isolation_guard)
    with p.rule():
        rules_service.notify(p, settings.notify, env, secrets)
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
        _data_endpoints(p, at, profile)
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
        if az.subscription_id.strip() and not rules_service.GUID.fullmatch(az.subscription_id.strip()):
            p.add(
                f"{at}.subscription_id",
                f"{shown(az.subscription_id)} is not a subscription id "
                "(a GUID like 00000000-0000-0000-0000-000000000000)",
            )


def _monitor(p: Problems, at: str, m: MonitorModel) -> None:
    with p.rule():
        if m.timeout >= m.interval:
            p.add(f"{at}.timeout", f"{m.timeout:g}s must be shorter than interval ({m.interval:g}s)")
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
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+:[a-f0-9]{32,}$")
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
    with p.rule():
        blob = m.registry.blob
        if blob is not None and blob != "auto" and not _DIGEST.match(blob):
            p.add(f"{at}.registry.blob", f"{shown(blob)} is neither 'auto' nor a digest (sha256:<hex>)")
    for i, ref in enumerate(m.registry.watch):
        with p.rule():
            repository, colon, tag = ref.rpartition(":")
            if not colon or not _REPOSITORY.match(repository) or not _TAG.match(tag):
                p.add(f"{at}.registry.watch[{i}]", f"{shown(ref)} is not <repository>:<tag>")
    for i, d in enumerate(m.registry.data_endpoints):
        if d.host is not None:
            p.check(f"{at}.registry.data_endpoints[{i}].host", normalize_fqdn, d.host)
        for k, addr in enumerate(d.addresses):
            with p.rule():
                if not is_ip(addr):
                    where = f"{at}.registry.data_endpoints[{i}].addresses[{k}]"
                    p.add(where, f"{shown(addr)} is not an IP address")


def _data_endpoints(p: Problems, at: str, profile: ProfileModel) -> None:
    """With the data-path probe, every endpoint needs a data endpoint name (derived or configured)."""
    reg = profile.monitor.registry
    if reg is None:
        return
    names = {ep.name for ep in profile.endpoints}
    seen: set[str] = set()
    for i, d in enumerate(reg.data_endpoints):
        with p.rule():
            where = f"{at}.monitor.registry.data_endpoints[{i}].endpoint"
            if d.endpoint not in names:
                p.add(where, f"no endpoint {shown(d.endpoint)} in this profile")
            elif d.endpoint in seen:
                p.add(where, f"{shown(d.endpoint)} is listed twice")
            seen.add(d.endpoint)
    configured = {d.endpoint: d for d in reg.data_endpoints}
    if reg.blob is None:
        return
    for j, ep in enumerate(profile.endpoints):
        with p.rule():
            given = configured.get(ep.name)
            if given is not None and given.host is not None:
                continue
            with suppress(ValueError):
                spec = EndpointSpec(ep.name, normalize_fqdn(ep.target), 0, region=ep.region)
                if data_host(spec) is not None:
                    continue
            p.add(
                f"{at}.endpoints[{j}]",
                f"registry.blob is set but {shown(ep.name)} has no data endpoint name: its target is not "
                f"<registry>.<region>.geo.azurecr.io (nor <registry>.azurecr.io with a region); set "
                f"monitor.registry.data_endpoints.{ep.name}.host",
            )


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


def _is_slug(name: str) -> bool:
    return bool(name) and all(c.islower() or c.isdigit() or c == "-" for c in name) and name.isascii()


def _same_name(a: str, b: str) -> bool:
    return a.strip().lower().rstrip(".") == b.strip().lower().rstrip(".")


def _is_v4(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False
