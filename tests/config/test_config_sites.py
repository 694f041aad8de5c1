"""`sites:`, `exchange:`, `quorum:`, per-site addresses and per-site publications."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from dnsctl.core.sites import ExchangeKind, site_spec

from .documents import base, load_ok, problems, write

SUB = "00000000-0000-0000-0000-000000000000"


def _pub(site: str, group: str, zone: str = "privatelink.azurecr.io") -> dict[str, Any]:
    return {
        "site": site,
        "subscription_id": SUB,
        "resource_group": group,
        "zone": zone,
        "record": "myregistry",
    }


def sited() -> dict[str, Any]:
    doc = base()
    doc["sites"] = [
        {"name": "eastus", "region": "eastus", "clients": ["10.1.0.0/16"]},
        {"name": "westeurope", "region": "westeurope", "clients": ["10.2.0.0/16"]},
        {"name": "southeastasia", "region": "southeastasia", "clients": ["10.3.0.0/16"]},
    ]
    doc["exchange"] = {"kind": "directory", "path": "/var/lib/dnsctl/exchange"}
    doc["resolver"]["views"] = []  # the sites' clients are views of their own (one answer per client)
    prof = doc["profiles"][0]
    prof["endpoints"][0]["addresses"] = {"eastus": ["10.1.0.5"], "westeurope": ["10.2.0.5"]}
    prof["azure"] = [
        _pub("eastus", "rg-eastus"),
        _pub("westeurope", "rg-we"),
        _pub("southeastasia", "rg-sea"),
    ]
    return doc


def test_a_sites_config_loads_into_sites_and_per_site_views(tmp_path: Path) -> None:
    spec = load_ok(write(tmp_path, sited()))
    assert spec.sites is not None
    assert spec.sites.names == ("eastus", "westeurope", "southeastasia")
    assert spec.sites.exchange is not None and spec.sites.exchange.kind is ExchangeKind.DIRECTORY
    assert spec.sites.needed == 2  # a majority of 3
    assert "2 of 3 fresh vantages" in spec.sites.rule()
    we = site_spec(spec, spec.sites, "westeurope").profiles[0]
    assert we.endpoint("eastus").addresses == ("10.2.0.5",)  # that VNet's private endpoint
    assert we.endpoint("westeurope").addresses == ("10.2.0.5",)  # a plain list: every site
    assert we.azure is not None and we.azure.resource_group == "rg-we"
    sea = site_spec(spec, spec.sites, "southeastasia").profiles[0]
    assert sea.endpoint("eastus").addresses == ("10.1.0.5", "10.2.0.5")  # no own address: the default
    assert sea.azure is not None and sea.azure.resource_group == "rg-sea"


def test_a_configured_quorum_is_kept(tmp_path: Path) -> None:
    doc = sited()
    doc["quorum"] = 3
    spec = load_ok(write(tmp_path, doc))
    assert spec.sites is not None and spec.sites.needed == 3


def test_a_config_without_sites_is_unchanged(tmp_path: Path) -> None:
    spec = load_ok(write(tmp_path, base()))
    assert spec.sites is None
    assert spec.profiles[0].azure is not None


def test_a_site_without_publication_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["azure"] = doc["profiles"][0]["azure"][:2]
    del doc["sites"][2]["clients"]  # no zone, no resolver clients, no node agents
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("sites[2]: site 'southeastasia' has no publication")
    assert "clients: [CIDR, ...]" in problem and "mirror: true" in problem


def test_a_site_published_to_its_node_agents_or_resolver_clients_needs_no_zone(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["azure"] = doc["profiles"][0]["azure"][:1]  # a zone for eastus only
    doc["sites"][1]["mirror"] = True  # westeurope: its node agents (and its resolver clients)
    doc["sites"][2] = {"name": "southeastasia", "region": "southeastasia", "mirror": True}
    spec = load_ok(write(tmp_path, doc))
    assert spec.sites is not None
    assert [(s.name, s.mirror, bool(s.clients)) for s in spec.sites.sites] == [
        ("eastus", False, True),
        ("westeurope", True, True),
        ("southeastasia", True, False),
    ]
    assert site_spec(spec, spec.sites, "southeastasia").profiles[0].azure is None
    del doc["profiles"][0]["azure"]  # no Azure entry at all: resolver clients and node agents
    del doc["sites"][0]["region"]
    assert load_ok(write(tmp_path, doc)).sites is not None


def test_a_zone_claimed_by_two_sites_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["azure"][1]["resource_group"] = "rg-eastus"
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("profiles[0].azure[1].zone: zone 'privatelink.azurecr.io' in 'rg-eastus'")
    assert "already claimed by site 'eastus'" in problem


def test_a_publication_for_an_unknown_site_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["azure"][2]["site"] = "northpole"
    found = problems(write(tmp_path, doc))
    assert any(p.startswith("profiles[0].azure[2].site: 'northpole' is not a site") for p in found)


def test_per_site_addresses_for_an_unknown_site_are_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["endpoints"][0]["addresses"]["northpole"] = ["10.9.0.5"]
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("profiles[0].endpoints[0].addresses.northpole: 'northpole' is not a site")


def test_per_site_addresses_must_be_ips(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["endpoints"][0]["addresses"]["eastus"] = ["not-an-ip"]
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith(
        "profiles[0].endpoints[0].addresses.eastus[0]: 'not-an-ip' is not an IP address"
    )


def test_a_quorum_larger_than_the_vantages_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["quorum"] = 4
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("quorum: 4 is larger than the number of vantages (3: one per site)")


def test_several_sites_need_an_exchange(tmp_path: Path) -> None:
    doc = sited()
    del doc["exchange"]
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("exchange: several sites share their verdicts through an exchange")


def test_an_azure_blob_exchange_url_is_parsed_when_the_config_is_loaded(tmp_path: Path) -> None:
    doc = sited()
    doc["exchange"] = {"kind": "azure-blob", "url": "https://acct.blob.core.windows.net/"}
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("exchange.url: ") and "needs a container" in problem
    doc["exchange"]["url"] = "https://acct.blob.core.windows.net/dnsctl/verdicts"
    spec = load_ok(write(tmp_path, doc))
    assert spec.sites is not None and spec.sites.exchange is not None
    assert spec.sites.exchange.location == ("https://acct.blob.core.windows.net", "dnsctl", "verdicts")


def test_validate_exits_non_zero_listing_every_sites_problem(tmp_path: Path) -> None:
    doc = sited()
    doc["quorum"] = 7
    doc["profiles"][0]["azure"] = doc["profiles"][0]["azure"][:2]
    del doc["sites"][2]["clients"]
    path = write(tmp_path, doc)
    proc = subprocess.run(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "quorum: 7 is larger than the number of vantages" in out
    assert "site 'southeastasia' has no publication" in out


def test_validate_states_the_sites_and_the_quorum_rule(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(write(tmp_path, sited()))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "sites: eastus, westeurope, southeastasia; a replica is down for a site when that site's vantage"
        in (proc.stdout)
    )
    assert "down everywhere when 2 of 3 fresh vantages say so (a majority)" in proc.stdout
