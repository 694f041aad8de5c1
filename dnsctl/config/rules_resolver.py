"""Rules of the embedded resolver's section: listen addresses, upstreams, the allow-list, views, lab zones."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from dnsctl.config.partial import is_broken
from dnsctl.config.problems import Problems
from dnsctl.config.schema import ProfileModel, ResolverModel, ZoneModel
from dnsctl.config.sites import SiteModel
from dnsctl.config.values import (
    absolute_name,
    is_ip,
    normalize_fqdn,
    owner_name,
    parse_host_port,
    parse_network,
    shown,
    zone_data,
    zone_type,
)
from dnsctl.core.model import Network
from dnsctl.core.zone_records import ZoneRecordType


def resolver(p: Problems, r: ResolverModel, profiles: Sequence[ProfileModel]) -> None:
    with p.rule():
        for i, listen in enumerate(r.listen):
            p.check(f"resolver.listen[{i}]", _ip_endpoint, listen, None)
    with p.rule():
        for i, up in enumerate(r.upstreams):
            p.check(f"resolver.upstreams[{i}]", _ip_endpoint, up, 53)
    with p.rule():
        for i, net in enumerate(r.allow):
            p.check(f"resolver.allow[{i}]", parse_network, net)
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
                p.check(f"{at}.clients[{k}]", parse_network, net)
        with p.rule():
            for prof, order in view.prefer.items() if isinstance(view.prefer, dict) else ():
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


def site_clients(p: Problems, r: ResolverModel, sites: Sequence[SiteModel]) -> None:
    """Every client of `dnsctl serve` is in at most one site or view: the sites' `clients` overlap neither
    each other nor a view's, and no view is named like a site (a site's clients are a view of its own)."""
    names = {s.name for s in sites if isinstance(s.name, str)}
    for i, view in enumerate(r.views):
        with p.rule():
            if isinstance(view.name, str) and view.name in names:
                p.add(
                    f"resolver.views[{i}].name",
                    f"{shown(view.name)} is also a site: a site's clients are a view of that name",
                )
    seen: list[tuple[Network, str]] = []  # (network, where it is declared)
    for i, site in enumerate(sites):
        with p.rule():
            for k, net in enumerate(_listed(site.clients)):
                _claim(p, f"sites[{i}].clients[{k}]", net, f"site {shown(site.name)}", seen)
    for i, view in enumerate(r.views):
        with p.rule():
            for k, net in enumerate(_listed(view.clients)):
                _claim(p, f"resolver.views[{i}].clients[{k}]", net, f"view {shown(view.name)}", seen)


def _listed(values: object) -> list[Any]:
    return values if isinstance(values, list) else []  # anything else is said where it is checked


def _claim(p: Problems, at: str, text: object, owner: str, seen: list[tuple[Network, str]]) -> None:
    if not isinstance(text, str):
        return
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return  # said where the network is checked
    for other, other_owner in seen:
        if other_owner != owner and net.version == other.version and net.overlaps(other):
            p.add(
                at,
                f"{shown(text)} overlaps {other} of {other_owner}: a client must be answered by one "
                f"site or view",
            )
            return
    seen.append((net, owner))


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
            try:
                rtype = zone_type(rec.type)
            except ValueError as e:
                p.add(f"{rat}.type", str(e))
                continue
            p.check(f"{rat}.name", owner_name, rec.name, origin)
            owner = absolute_name(rec.name, origin)
            owners.setdefault(owner, set()).add(rtype)
            if rtype is ZoneRecordType.CNAME:
                cname_owners[owner] = cname_owners.get(owner, 0) + 1
            p.check(f"{rat}.value", zone_data, rtype, rec.value, origin)
    for owner, count in cname_owners.items():
        if len(owners[owner]) > 1 or owner == origin or count > 1:
            p.add(
                f"{at}.records",
                f"a CNAME at {shown(owner)} cannot sit beside other records, another CNAME or at the apex",
            )


def _ip_endpoint(value: str, default_port: int | None) -> None:
    host = parse_host_port(value, default_port).host
    if not is_ip(host):
        raise ValueError(f"{shown(value)}: {shown(host)} must be an IP address")
