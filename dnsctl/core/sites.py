"""Sites: named networks whose clients share a path to the replicas, and their publications.

Frozen specifications, read from the `sites:`, `exchange:` and `quorum:` keys and from the per-site
forms of an endpoint's `addresses` and a profile's `azure` list. A site's vantage (the dnsctl process
run with `--site NAME`) probes through the site's addresses and writes the site's publications; its
view of the configuration is `site_spec`, the plain single-vantage spec every command already runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from dnsctl.core.model import DnsctlSpec, EndpointSpec, HaSpec, LeaseKind, ProfileSpec
from dnsctl.core.publication import AzureRecordSpec, RecordType

# A vantage whose last report is older than this many probe intervals abstains (stale).
STALE_INTERVALS = 3
# `site: all` (or a profile's one `azure:` record in a configuration with sites): a publication
# shared by every site, one zone linked to every site's networks. It follows the quorum.
SHARED = "all"


class ExchangeKind(StrEnum):
    DIRECTORY = "directory"  # one JSON file per vantage in a shared directory (a single-host lab)
    AZURE_BLOB = "azure-blob"  # one blob per vantage under a container prefix


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    kind: ExchangeKind
    path: str | None = None  # directory
    url: str | None = None  # azure-blob: https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]
    location: tuple[str, str, str] | None = None  # azure-blob: (account URL, container, prefix) of url


@dataclass(frozen=True, slots=True)
class SiteSpec:
    name: str
    region: str | None = None
    clients: tuple[str, ...] = ()  # networks in CIDR form (the resolver's clients of this site)
    mirror: bool = False  # its node agents follow its decision (`mirror --site NAME --source exchange`)


@dataclass(frozen=True, slots=True)
class SitePublicationSpec:
    profile: str
    site: str
    azure: AzureRecordSpec


@dataclass(frozen=True, slots=True)
class SiteAddressesSpec:
    """The addresses by which one site's clients reach one endpoint (that VNet's private endpoint)."""

    profile: str
    endpoint: str
    site: str
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SitesSpec:
    sites: tuple[SiteSpec, ...]
    exchange: ExchangeSpec | None = None
    quorum: int | None = None  # None: a majority of the vantages
    publications: tuple[SitePublicationSpec, ...] = ()
    addresses: tuple[SiteAddressesSpec, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def site(self, name: str) -> SiteSpec:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def needed(self) -> int:
        """How many fresh vantages make a quorum (every site is a vantage)."""
        return self.quorum if self.quorum is not None else majority(len(self.sites))

    def rule(self) -> str:
        """The quorum rule in words, as `validate` and `status` state it."""
        how = "a majority" if self.quorum is None else "a configured quorum"
        return (
            f"a replica is down for a site when that site's vantage says so; down everywhere when "
            f"{self.needed} of {len(self.sites)} fresh vantages say so ({how}); a vantage silent for "
            f"{STALE_INTERVALS} probe intervals abstains (stale)"
        )

    def addresses_for(self, profile: str, endpoint: str, site: str) -> tuple[str, ...] | None:
        for a in self.addresses:
            if (a.profile, a.endpoint, a.site) == (profile, endpoint, site):
                return a.addresses
        return None

    def publication(self, profile: str, site: str) -> AzureRecordSpec | None:
        """The publication of `profile` for `site` (SHARED: the one every site shares)."""
        for pub in self.publications:
            if (pub.profile, pub.site) == (profile, site):
                return pub.azure
        return None

    @property
    def shared(self) -> tuple[SitePublicationSpec, ...]:
        return tuple(pub for pub in self.publications if pub.site == SHARED)

    def shared_writer(self, ha: HaSpec) -> str | None:
        """Which vantage writes the shared publications: None when the HA lease elects one among all
        (every vantage takes part), else the first site's."""
        return None if ha.lease is LeaseKind.AZURE_BLOB else self.sites[0].name

    def shared_rule(self, ha: HaSpec) -> str | None:
        """The rule of the shared publications in words (`validate`, `status`), None without any."""
        if not self.shared:
            return None
        names = ", ".join(f"{p.profile} ({p.azure.zone}/{p.azure.record})" for p in self.shared)
        writer = self.shared_writer(ha)
        who = (
            f"written by the vantage of site {writer} (the first site; no ha lease)"
            if writer is not None
            else f"written by the vantage holding the lease {lease_of(ha, SHARED)}"
        )
        return (
            f"shared by every site: {names}; an endpoint is down for it when {self.needed} of "
            f"{len(self.sites)} fresh vantages say so; {who}"
        )


def majority(n: int) -> int:
    return n // 2 + 1


def site_spec(spec: DnsctlSpec, sites: SitesSpec, site: str) -> DnsctlSpec:
    """What the vantage of `site` runs: its addresses for every endpoint, only its publications.

    An endpoint without per-site addresses keeps its plain `addresses` (every site reaches it the
    same way); a profile without an Azure publication for this site writes no Azure record from
    this vantage.
    """
    sites.site(site)  # KeyError for an unknown site

    def endpoint(p: ProfileSpec, ep: EndpointSpec) -> EndpointSpec:
        own = sites.addresses_for(p.name, ep.name, site)
        return ep if own is None else replace(ep, addresses=own)

    profiles = tuple(
        replace(
            p,
            endpoints=tuple(endpoint(p, ep) for ep in p.endpoints),
            azure=sites.publication(p.name, site),
        )
        for p in spec.profiles
    )
    return replace(spec, profiles=profiles, ha=per_publication_lease(spec.ha, site))


def per_publication_lease(ha: HaSpec, site: str) -> HaSpec:
    """The HA lease of one site's publications (SHARED: the shared ones): `ha.blob_url` + `.SITE`,
    so the replicas of one site elect their writer and the sites do not compete with each other."""
    if ha.blob is None:
        return ha
    return replace(ha, blob=replace(ha.blob, blob=f"{ha.blob.blob}.{site}"))


def lease_of(ha: HaSpec, site: str) -> str:
    blob = per_publication_lease(ha, site).blob
    return str(blob) if blob is not None else "-"


def shared_spec(spec: DnsctlSpec, sites: SitesSpec) -> DnsctlSpec | None:
    """What writes the shared publications: the profiles that have one, each with that record.

    Their endpoints' health is the quorum's (a vantage's verdicts already passed its hysteresis, so
    one vote moves it: fall and rise 1), never a probe of this process: no isolation guard here.
    None when no profile has a shared publication.
    """
    profiles = tuple(
        replace(
            p,
            azure=record,
            monitor=replace(p.monitor, fall=1, rise=1),
            # One judgement per endpoint (a CNAME needs no address; an A record keeps its plain list).
            endpoints=p.endpoints
            if record.record_type is RecordType.A
            else tuple(replace(ep, addresses=()) for ep in p.endpoints),
        )
        for p in spec.profiles
        if (record := sites.publication(p.name, SHARED)) is not None
    )
    if not profiles:
        return None
    return replace(
        spec,
        profiles=profiles,
        ha=per_publication_lease(spec.ha, SHARED),
        isolation_guard=replace(spec.isolation_guard, enabled=False),
    )
