"""The `sites:`, `exchange:` and `quorum:` keys, an endpoint's per-site `addresses`, and a profile's
`azure:` list of per-site publications.

Their shape (pydantic), their rules (checked with the others by `dnsctl.config.rules`), and their
conversion to the frozen `dnsctl.core.sites.SitesSpec`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from dnsctl.config.values import is_ip, normalize_fqdn, shown
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.sites import (
    SHARED,
    ExchangeKind,
    ExchangeSpec,
    SiteAddressesSpec,
    SitePublicationSpec,
    SiteSpec,
    SitesSpec,
)

if TYPE_CHECKING:
    from dnsctl.config.problems import Problems
    from dnsctl.config.schema import DnsctlSettings, EndpointModel, ProfileModel


def _mapping_or_list(value: Any) -> str:
    return "dict" if isinstance(value, dict) else "list"


# An endpoint's `addresses`: a list (every site), or per site: {eastus: [10.1.0.5], westeurope: [10.2.0.5]}.
# The tags are the shapes, so a problem names the path only (see load._clean_loc).
Addresses = Annotated[
    Annotated[list[str], Tag("list")] | Annotated[dict[str, list[str]], Tag("dict")],
    Discriminator(_mapping_or_list),
]


def publication_shape(value: Any) -> str:
    """A profile's `azure`: one record (a mapping), or a list of per-site records."""
    return "list" if isinstance(value, list) else "dict"


class _SitesSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteModel(_SitesSection):
    name: str
    region: str | None = None
    clients: list[str] = Field(default_factory=list)
    mirror: bool = False  # published to its node agents (`dnsctl mirror --site NAME --source exchange`)


class ExchangeModel(_SitesSection):
    kind: Literal["directory", "azure-blob"]
    path: str | None = None  # directory
    url: str | None = None  # azure-blob


Quorum = int | Literal["majority"]


def plain_addresses(ep: EndpointModel) -> list[str]:
    """Every address of an endpoint, whether given as a list or per site."""
    if isinstance(ep.addresses, dict):
        return [a for addrs in ep.addresses.values() for a in addrs]
    return list(ep.addresses)


def default_addresses(ep: EndpointModel) -> tuple[str, ...]:
    """The endpoint's addresses outside any site: a plain list, or every site's (in order, once)."""
    return tuple(dict.fromkeys(plain_addresses(ep)))


def check(p: Problems, settings: DnsctlSettings) -> None:
    """The sites' rules: each one named, every site published, each zone claimed by one site."""
    sites = settings.sites
    names = [s.name for s in sites]
    for i, s in enumerate(sites):
        with p.rule():
            if not s.name or not all(c.islower() or c.isdigit() or c == "-" for c in s.name):
                p.add(f"sites[{i}].name", f"{shown(s.name)} must be lower-case letters, digits and '-'")
        with p.rule():
            if s.name == SHARED:
                p.add(f"sites[{i}].name", f"{shown(s.name)} is reserved: site: {SHARED} names every site")
        with p.rule():
            if s.name in names[:i]:
                p.add(f"sites[{i}].name", f"{shown(s.name)} is already used by sites[{names.index(s.name)}]")
        for k, net in enumerate(s.clients):
            with p.rule():
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    p.add(f"sites[{i}].clients[{k}]", f"{shown(net)} is not an IP network like '10.1.0.0/16'")
    with p.rule():
        _exchange(p, settings)
    with p.rule():
        _quorum(p, settings)
    with p.rule():
        _publications(p, settings, names)
    for i, profile in enumerate(settings.profiles):
        for j, ep in enumerate(profile.endpoints):
            with p.rule():
                _site_addresses(p, f"profiles[{i}].endpoints[{j}]", ep, names)


def _exchange(p: Problems, settings: DnsctlSettings) -> None:
    ex = settings.exchange
    if ex is None:
        if len(settings.sites) > 1:
            p.add(
                "exchange",
                "several sites share their verdicts through an exchange: set exchange "
                "({kind: directory, path: ...} or {kind: azure-blob, url: ...})",
            )
        return
    if not settings.sites:
        p.add("exchange", "an exchange shares the verdicts of sites: declare sites: first")
    if ex.kind == "directory" and not ex.path:
        p.add("exchange.path", "exchange kind directory needs path (a directory every vantage can write)")
    if ex.kind == "azure-blob" and not ex.url:
        p.add(
            "exchange.url",
            "exchange kind azure-blob needs url (https://ACCOUNT.blob.core.windows.net/CONTAINER)",
        )
    if ex.kind == "azure-blob" and ex.url:
        p.check("exchange.url", parse_exchange_url, ex.url)


def parse_exchange_url(url: str) -> tuple[str, str, str]:
    """(account URL, container, prefix); an IP or localhost host is an emulator's path-style URL.
    Raises ValueError naming the problem; a query string (a SAS token: a secret) is refused unquoted."""
    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise ValueError("no query string (a SAS token does not belong in the config): use azure.credential")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{shown(url)} is not an http(s) blob URL")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    account = ""
    if parts.hostname == "localhost" or is_ip(parts.hostname):
        if not segments:
            raise ValueError(f"{shown(url)} lacks the account (http://HOST:PORT/ACCOUNT/...)")
        account = "/" + segments.pop(0)
    if not segments:
        raise ValueError(f"{shown(url)} needs a container (.../CONTAINER[/PREFIX])")
    return f"{parts.scheme}://{parts.netloc}{account}", segments[0], "/".join(segments[1:])


def _quorum(p: Problems, settings: DnsctlSettings) -> None:
    q = settings.quorum
    if q == "majority":
        return
    assert isinstance(q, int)
    vantages = len(settings.sites)
    if q < 1:
        p.add("quorum", f"{q} is not a number of vantages: give 1 or more, or 'majority'")
    elif q > vantages:
        p.add(
            "quorum",
            f"{q} is larger than the number of vantages ({vantages}: one per site): "
            "no quorum could ever be reached",
        )


def _publications(p: Problems, settings: DnsctlSettings, names: Sequence[str]) -> None:
    published: set[str] = set()
    shared = False
    zones: dict[tuple[str, str, str], str] = {}  # (subscription, group, zone) -> site (or SHARED)
    for i, profile in enumerate(settings.profiles):
        records = profile.azure
        if records is None:
            continue
        if not isinstance(records, list):
            if names:  # one record in a configuration with sites: shared by every site
                shared = True
                with p.rule():
                    _claim(p, zones, f"profiles[{i}].azure", SHARED, records)
                    _shared_a(p, f"profiles[{i}].azure", profile, records)
            continue
        if not names:
            p.add(f"profiles[{i}].azure", "a list of publications names sites: declare sites: first")
            continue
        shared_at: str | None = None
        for k, r in enumerate(records):
            at = f"profiles[{i}].azure[{k}]"
            with p.rule():
                if r.site == SHARED:
                    if shared_at is not None:
                        p.add(
                            f"{at}.site",
                            f"the profile already has a publication shared by every site ({shared_at}): "
                            "give one zone linked to every site's networks",
                        )
                        continue
                    shared, shared_at = True, at
                elif r.site not in names:
                    p.add(
                        f"{at}.site",
                        f"{shown(r.site)} is not a site (sites: {', '.join(names)}; or {SHARED}: every site)",
                    )
                    continue
                else:
                    published.add(r.site)
                _claim(p, zones, at, r.site, r)
                if r.site == SHARED:
                    _shared_a(p, at, profile, r)
    for i, s in enumerate(settings.sites):
        with p.rule():
            if s.name not in published and not shared and not s.clients and not s.mirror:
                p.add(
                    f"sites[{i}]",
                    f"site {shown(s.name)} has no publication: give a profile an azure entry with "
                    f"site: {s.name} (or site: {SHARED}, a zone shared by every site), give the site its "
                    "resolver clients (clients: [CIDR, ...]), or publish to its node agents (mirror: true)",
                )


def _shared_a(p: Problems, at: str, profile: ProfileModel, r: Any) -> None:
    """A shared A record would have to hold one site's private endpoint IPs for every site's clients."""
    if r.record_type == "A" and any(isinstance(ep.addresses, dict) for ep in profile.endpoints):
        p.add(
            f"{at}.record_type",
            "a zone shared by every site cannot hold per-site addresses in an A record: each site "
            "reaches the endpoints at its own addresses; use CNAME (or one zone per site)",
        )


def _claim(p: Problems, zones: dict[tuple[str, str, str], str], at: str, site: str, r: Any) -> None:
    """A zone is linked to one site's networks, or shared by every site: never both, never two sites."""
    key = (r.subscription_id.strip().lower(), r.resource_group.strip().lower(), _zone(r.zone))
    owner = zones.setdefault(key, site)
    if owner == site:
        return
    if SHARED in (owner, site):
        p.add(
            f"{at}.zone",
            f"zone {shown(r.zone)} in {shown(r.resource_group)} is both shared by every site and "
            f"claimed by site {shown(site if owner == SHARED else owner)}: a zone is linked to one "
            "site's networks or to every site's",
        )
    else:
        p.add(
            f"{at}.zone",
            f"zone {shown(r.zone)} in {shown(r.resource_group)} is already claimed by site "
            f"{shown(owner)}: a zone is linked to one site's networks",
        )


def _zone(zone: str) -> str:
    return zone.strip().lower().rstrip(".")


def _site_addresses(p: Problems, at: str, ep: EndpointModel, names: Sequence[str]) -> None:
    if not isinstance(ep.addresses, dict):
        return
    for site in ep.addresses:
        if site not in names:
            known = ", ".join(names) if names else "none declared"
            p.add(f"{at}.addresses.{site}", f"{shown(site)} is not a site (sites: {known})")


def to_spec(settings: DnsctlSettings) -> SitesSpec | None:
    if not settings.sites:
        return None
    ex = settings.exchange
    return SitesSpec(
        sites=tuple(SiteSpec(s.name, s.region, tuple(s.clients), s.mirror) for s in settings.sites),
        exchange=ExchangeSpec(
            ExchangeKind(ex.kind),
            ex.path,
            ex.url,
            location=parse_exchange_url(ex.url) if ex.kind == "azure-blob" and ex.url else None,
        )
        if ex is not None
        else None,
        quorum=None if settings.quorum == "majority" else int(settings.quorum),
        publications=tuple(_publication_specs(settings.profiles)),
        addresses=tuple(
            SiteAddressesSpec(p.name, ep.name, site, tuple(addrs))
            for p in settings.profiles
            for ep in p.endpoints
            if isinstance(ep.addresses, dict)
            for site, addrs in ep.addresses.items()
        ),
    )


def _publication_specs(profiles: Sequence[ProfileModel]) -> list[SitePublicationSpec]:
    out: list[SitePublicationSpec] = []
    for p in profiles:
        if isinstance(p.azure, list):
            out.extend(SitePublicationSpec(p.name, r.site, azure_record(r)) for r in p.azure)
        elif p.azure is not None:  # one record with sites: shared by every site
            out.append(SitePublicationSpec(p.name, SHARED, azure_record(p.azure)))
    return out


def azure_record(a: Any) -> AzureRecordSpec:
    return AzureRecordSpec(
        subscription_id=a.subscription_id,
        resource_group=a.resource_group,
        zone=normalize_fqdn(a.zone),
        record=a.record if a.record == "@" else a.record.lower().rstrip("."),
        record_type=RecordType(a.record_type),
        adopt=a.adopt,
        allow_type_change=a.allow_type_change,
    )
