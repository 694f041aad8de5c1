"""What a command asks of the configuration and of its own flags, checked here like every other setting.

Each check raises `ConfigError` with located problems (exit 2), as a bad configuration does: the command
line parses its arguments and calls these, it does not judge configuration itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.sites import SitesSpec
from dnsctl.errors import ConfigError


def only_profiles(spec: DnsctlSpec, names: Sequence[str] | None) -> DnsctlSpec:
    """`spec` narrowed to the profiles `--profile` names (all of them without the flag)."""
    if not names:
        return spec
    known = [p.name for p in spec.profiles]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            [f"--profile: no profile named {n!r} (profiles: {', '.join(known) or 'none'})" for n in unknown]
        )
    return dataclasses.replace(spec, profiles=tuple(p for p in spec.profiles if p.name in names))


def publishes(spec: DnsctlSpec, problem: str) -> None:
    """A command that writes records needs a profile with a record (`azure:` or `rfc2136:`)."""
    if not any(p.publication is not None for p in spec.profiles):
        raise ConfigError([problem])


def mirrors(spec: DnsctlSpec) -> None:
    """`dnsctl mirror` needs a runtime to write for and a profile to write."""
    if spec.mirror.containerd_hosts_dir is None and spec.mirror.crio_registries_dir is None:
        raise ConfigError(
            ["mirror: neither containerd nor crio is enabled: `dnsctl mirror` has nothing to write"]
        )
    if not spec.profiles:
        raise ConfigError(["profiles: no profile: `dnsctl mirror` has nothing to write"])


def site_to_run(spec: DnsctlSpec, site: str | None) -> tuple[SitesSpec, str]:
    """`run --site S`: the sites and the one this vantage stands for."""
    sites = spec.sites
    if sites is None:
        raise ConfigError([f"--site: {site!r} names no site: the configuration declares no sites:"])
    if site is None:
        raise ConfigError(
            [f"sites: run one vantage per site with --site NAME (sites: {', '.join(sites.names)})"]
        )
    if site not in sites.names:
        raise ConfigError([f"--site: {site!r} names no site (sites: {', '.join(sites.names)})"])
    if sites.exchange is None:
        raise ConfigError(["exchange: the vantages of sites need an exchange to share verdicts"])
    return sites, site


def sites_to_serve(spec: DnsctlSpec, site: str | None) -> SitesSpec:
    """`serve [--site S]` in a configuration with sites: the sites (S is one of them); answering a site
    without a vantage in this process takes its vantage's verdicts from the exchange."""
    if site is not None:
        return site_to_run(spec, site)[0]
    sites = spec.sites
    assert sites is not None  # `serve` without --site comes here for a configuration with sites only
    if sites.exchange is None:
        raise ConfigError(
            [
                "exchange: `serve` answers each site's clients from its vantage's verdicts: set exchange, "
                f"or make this process the site's vantage with --site NAME (sites: {', '.join(sites.names)})"
            ]
        )
    return sites


def site_to_plan(spec: DnsctlSpec, site: str | None) -> SitesSpec:
    """`plan` with sites: every site's records, or `--site S`'s only."""
    sites = spec.sites
    if sites is None:
        raise ConfigError([f"--site: {site!r} names no site: the configuration declares no sites:"])
    if site is not None and site not in sites.names:
        raise ConfigError([f"--site: {site!r} names no site (sites: {', '.join(sites.names)})"])
    return sites


def something_to_plan(found: bool) -> None:
    if not found:
        raise ConfigError(["profiles: no profile has a record for these sites: nothing to plan"])


def site_to_follow(spec: DnsctlSpec, site: str | None, *, state_file: bool) -> str:
    """`mirror --site S --source exchange`: the site whose decision this node agent follows."""
    problems: list[str] = []
    if site is None:
        problems.append("--source exchange: name this node's site with --site NAME")
    if spec.sites is None or spec.sites.exchange is None:
        problems.append("--source exchange: the configuration has no `exchange` to read decisions from")
    elif site is not None and site not in spec.sites.names:
        problems.append(f"--site: {site!r} names no site (sites: {', '.join(spec.sites.names)})")
    if state_file:
        problems.append("--state-file: an agent following the exchange keeps no health history")
    if problems or site is None:
        raise ConfigError(problems)
    return site


def at_least(flag: str, value: float, minimum: float, *, inclusive: bool = True, unit: str = "") -> None:
    """A numeric flag's lower bound (`--rounds` at least 1, `--interval` more than 0 seconds)."""
    if value < minimum or (not inclusive and value == minimum):
        said = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
        raise ConfigError([f"{flag}: must be {said}{unit}"])


def demo_profile(spec: DnsctlSpec) -> ProfileSpec:
    """The profile the demo steers: two or more endpoints, each with a (loopback) address to stand in for."""
    for p in spec.profiles:
        if len(p.endpoints) >= 2 and all(ep.addresses for ep in p.endpoints):
            return p
    raise ConfigError(["the demo needs a profile with two or more endpoints that have loopback addresses"])
