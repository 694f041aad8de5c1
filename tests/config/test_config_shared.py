"""A publication shared by every site (`site: all`, or one `azure:` record with sites)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsctl.core.model import LeaseKind
from dnsctl.core.sites import SHARED, shared_spec, site_spec

from .documents import load_ok, problems, write
from .test_config_sites import _pub, sited


def shared(doc: dict[str, Any], group: str = "rg-shared") -> dict[str, Any]:
    doc["profiles"][0]["azure"].append(_pub(SHARED, group))
    return doc


def test_site_all_is_a_publication_every_site_shares(tmp_path: Path) -> None:
    spec = load_ok(write(tmp_path, shared(sited())))
    assert spec.sites is not None
    (pub,) = spec.sites.shared
    assert (pub.profile, pub.azure.resource_group) == ("myregistry", "rg-shared")
    # No site writes it as its own: the shared writer does, with the quorum's health.
    assert site_spec(spec, spec.sites, "eastus").profiles[0].azure.resource_group == "rg-eastus"  # type: ignore[union-attr]
    writer = shared_spec(spec, spec.sites)
    assert writer is not None
    (p,) = writer.profiles
    assert p.azure is not None and p.azure.resource_group == "rg-shared"
    assert (p.monitor.fall, p.monitor.rise) == (1, 1)  # the vantages' verdicts passed their hysteresis
    assert not writer.isolation_guard.enabled
    assert spec.sites.shared_writer(spec.ha) == "eastus"  # no lease: the first site's vantage
    rule = spec.sites.shared_rule(spec.ha)
    assert rule is not None and "down for it when 2 of 3 fresh vantages say so" in rule


def test_one_azure_record_with_sites_is_shared_and_every_site_then_has_a_publication(tmp_path: Path) -> None:
    doc = sited()
    doc["profiles"][0]["azure"] = {k: v for k, v in _pub("x", "rg-shared").items() if k != "site"}
    spec = load_ok(write(tmp_path, doc))
    assert spec.sites is not None
    assert [p.azure.resource_group for p in spec.sites.shared] == ["rg-shared"]
    assert site_spec(spec, spec.sites, "westeurope").profiles[0].azure is None


def test_with_a_lease_every_vantage_competes_for_the_shared_publication(tmp_path: Path) -> None:
    doc = shared(sited())
    doc["ha"] = {"lease": "azure-blob", "blob_url": "https://acct.blob.core.windows.net/dnsctl/lease"}
    spec = load_ok(write(tmp_path, doc))
    assert spec.sites is not None and spec.ha.lease is LeaseKind.AZURE_BLOB
    assert spec.sites.shared_writer(spec.ha) is None
    rule = spec.sites.shared_rule(spec.ha)
    assert rule is not None and rule.endswith("written by the vantage holding the lease dnsctl/lease.all")
    # Each site's replicas lease their own blob: sites do not compete with each other.
    east = site_spec(spec, spec.sites, "eastus")
    assert east.ha.blob is not None and east.ha.blob.blob == "lease.eastus"
    writer = shared_spec(spec, spec.sites)
    assert writer is not None and writer.ha.blob is not None and writer.ha.blob.blob == "lease.all"


def test_a_zone_both_shared_and_claimed_by_a_site_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, shared(sited(), group="rg-we")))
    assert problem.startswith("profiles[0].azure[3].zone: zone 'privatelink.azurecr.io' in 'rg-we' is both")
    assert "shared by every site and claimed by site 'westeurope'" in problem


def test_two_shared_publications_of_one_profile_are_refused(tmp_path: Path) -> None:
    doc = shared(shared(sited()), group="rg-shared-2")
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("profiles[0].azure[4].site: the profile already has a publication shared")


def test_a_shared_a_record_with_per_site_addresses_is_refused(tmp_path: Path) -> None:
    doc = shared(sited())
    doc["profiles"][0]["azure"][3]["record_type"] = "A"
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith("profiles[0].azure[3].record_type: a zone shared by every site cannot hold")


def test_a_site_named_all_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["sites"][2]["name"] = "all"
    found = problems(write(tmp_path, doc))
    assert any(p.startswith("sites[2].name: 'all' is reserved: site: all names every site") for p in found)
