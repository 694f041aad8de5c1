"""The reference configuration loads exactly as written, and conversion yields frozen core specs."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, ip_network
from pathlib import Path
from typing import Any

import pytest

from dnsctl.core.model import (
    AdminSpec,
    AzureCredentialKind,
    DnsctlSpec,
    EndpointSpec,
    EndpointStatus,
    Failback,
    HostPort,
    MonitorProtocol,
    Override,
    Routing,
    StatusRange,
    ViewSpec,
    WhenAllDown,
)
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.zone_records import ZoneRecordSpec, ZoneRecordType, ZoneSpec

from .documents import load_ok, problems, write

REPO = Path(__file__).resolve().parents[2]
SHARED_EXAMPLE = REPO.parent / "shared" / "dnsctl.example.yaml"

# The reference configuration's fields and values, written out here so that the test runs anywhere.
REFERENCE = """\
profiles:
  - name: myregistry
    fqdn: myregistry.azurecr.io
    ttl: 30
    routing: priority
    failback: auto
    failback_hold: 60s
    when_all_down: keep-last
    monitor:
      protocol: https
      port: 443
      path: /v2/
      expected_status: ["200-299", "401"]
      headers: {User-Agent: dnsctl}
      interval: 10s
      timeout: 5s
      fall: 3
      rise: 2
      verify_tls: true
    endpoints:
      - name: eastus
        target: myregistry.eastus.geo.azurecr.io
        priority: 1
        weight: 1
        region: eastus
        addresses: [10.1.0.5]
      - name: westeurope
        target: myregistry.westeurope.geo.azurecr.io
        priority: 2
        region: westeurope
        addresses: [10.2.0.5]
    azure:
      subscription_id: 00000000-0000-0000-0000-000000000000
      resource_group: rg-private-dns
      zone: privatelink.azurecr.io
      record: myregistry
      record_type: CNAME
      adopt: false
azure:
  credential: default
resolver:
  listen: ["127.0.0.1:5353"]
  upstreams: ["168.63.129.16"]
  allow: ["127.0.0.0/8", "10.0.0.0/8"]
  cache:
    max_entries: 100000
    serve_stale: 1h
  views:
    - name: westeurope-vnet
      clients: ["10.2.0.0/16"]
      prefer:
        myregistry: [westeurope, eastus]
  zones:
    - name: lab.internal
      records:
        - {name: "@", type: A, value: 10.0.0.1}
        - {name: www, type: CNAME, value: lab.internal.}
admin:
  listen: 127.0.0.1:9153
"""


@pytest.fixture
def reference(tmp_path: Path) -> DnsctlSpec:
    return load_ok(write(tmp_path, REFERENCE))


def test_reference_profile(reference: DnsctlSpec) -> None:
    (p,) = reference.profiles
    assert (p.name, p.fqdn, p.ttl) == ("myregistry", "myregistry.azurecr.io", 30)
    assert (p.routing, p.failback, p.failback_hold) == (Routing.PRIORITY, Failback.AUTO, 60.0)
    assert (p.when_all_down, p.fallback) == (WhenAllDown.KEEP_LAST, None)
    assert reference.profile("myregistry") is p


def test_reference_monitor(reference: DnsctlSpec) -> None:
    m = reference.profiles[0].monitor
    assert (m.protocol, m.port, m.path) == (MonitorProtocol.HTTPS, 443, "/v2/")
    assert m.expected_status == (StatusRange(200, 299), StatusRange(401, 401))
    assert m.headers == (("User-Agent", "dnsctl"),)
    assert (m.interval, m.timeout, m.fall, m.rise, m.verify_tls) == (10.0, 5.0, 3, 2, True)
    assert (m.host, m.sni, m.ca_file, m.body_match) == (None, None, None, None)
    assert m.accepts(200) and m.accepts(299) and m.accepts(401)
    assert not m.accepts(300) and not m.accepts(403) and not m.accepts(500)


def test_reference_endpoints(reference: DnsctlSpec) -> None:
    assert reference.profiles[0].endpoints == (
        EndpointSpec(
            name="eastus",
            target="myregistry.eastus.geo.azurecr.io",
            priority=1,
            weight=1,
            region="eastus",
            addresses=("10.1.0.5",),
            status=EndpointStatus.ENABLED,
            override=Override.OBEY,
        ),
        EndpointSpec(
            name="westeurope",
            target="myregistry.westeurope.geo.azurecr.io",
            priority=2,
            weight=1,
            region="westeurope",
            addresses=("10.2.0.5",),
            status=EndpointStatus.ENABLED,
            override=Override.OBEY,
        ),
    )


def test_reference_azure(reference: DnsctlSpec) -> None:
    assert reference.profiles[0].azure == AzureRecordSpec(
        subscription_id="00000000-0000-0000-0000-000000000000",
        resource_group="rg-private-dns",
        zone="privatelink.azurecr.io",
        record="myregistry",
        record_type=RecordType.CNAME,
        adopt=False,
        allow_type_change=False,
    )
    assert reference.azure.credential is AzureCredentialKind.DEFAULT
    assert reference.azure.base_url == "https://management.azure.com"
    assert reference.admin == AdminSpec(HostPort("127.0.0.1", 9153))


def test_reference_resolver(reference: DnsctlSpec) -> None:
    r = reference.resolver
    assert r.listen == (HostPort("127.0.0.1", 5353),)
    assert r.upstreams == (HostPort("168.63.129.16", 53),)
    assert r.allow == (ip_network("127.0.0.0/8"), ip_network("10.0.0.0/8"))
    assert (r.cache.max_entries, r.cache.serve_stale) == (100_000, 3600.0)
    assert r.views == (
        ViewSpec(
            "westeurope-vnet", (ip_network("10.2.0.0/16"),), (("myregistry", ("westeurope", "eastus")),)
        ),
    )
    assert r.views[0].preference("myregistry") == ("westeurope", "eastus")
    assert r.zones == (
        ZoneSpec(
            "lab.internal",
            (
                ZoneRecordSpec("lab.internal", ZoneRecordType.A, IPv4Address("10.0.0.1"), 300),
                ZoneRecordSpec("www.lab.internal", ZoneRecordType.CNAME, "lab.internal", 300),
            ),
        ),
    )


def test_unset_fields_take_the_documented_defaults(reference: DnsctlSpec) -> None:
    p = reference.profiles[0]
    assert (p.performance_margin, p.weight_seed, p.startup_grace) == (0.2, 0, 60.0)
    m = p.monitor
    assert (m.flap_window, m.flap_threshold, m.flap_hold) == (600.0, 3, 120.0)
    assert reference.safety.max_changes_per_run == 5
    assert reference.isolation_guard.enabled and reference.isolation_guard.min_endpoints == 2
    assert reference.resync_interval == 300.0


def test_minimal_profile_defaults(tmp_path: Path) -> None:
    spec = load_ok(
        write(
            tmp_path,
            "profiles:\n  - name: p\n    fqdn: P.Example.\n    endpoints:\n"
            "      - {name: a, target: A.Example., priority: 1}\n",
        )
    )
    (p,) = spec.profiles
    assert p.fqdn == "p.example" and p.endpoints[0].target == "a.example"  # normalised
    assert p.monitor.expected_status == (StatusRange(200, 299), StatusRange(401, 401))
    assert p.monitor.port == 443 and p.azure is None


@pytest.mark.parametrize(("protocol", "port"), [("https", 443), ("http", 80)])
def test_default_port_follows_the_protocol(tmp_path: Path, protocol: str, port: int) -> None:
    text = (
        "profiles:\n  - name: p\n    fqdn: p.example\n"
        f"    monitor: {{protocol: {protocol}}}\n"
        "    endpoints: [{name: a, target: a.example, priority: 1}]\n"
    )
    assert load_ok(write(tmp_path, text)).profiles[0].monitor.port == port


@pytest.mark.parametrize("text", ["", "profiles: []\n", "resolver: {}\n"])
def test_a_configuration_without_profiles_is_refused(tmp_path: Path, text: str) -> None:
    assert problems(write(tmp_path, text)) == [
        "profiles: at least one profile is required (the names dnsctl steers)"
    ]


def _frozen_everywhere(value: Any, where: str = "spec") -> list[str]:
    """Every dataclass in the tree is frozen and every container is immutable."""
    bad = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            bad.append(f"{where} ({type(value).__name__}) is not frozen")
        for f in dataclasses.fields(value):
            bad += _frozen_everywhere(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, list | dict | set):
        bad.append(f"{where} is a mutable {type(value).__name__}")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            bad += _frozen_everywhere(item, f"{where}[{i}]")
    return bad


def test_conversion_yields_frozen_values_all_the_way_down(reference: DnsctlSpec) -> None:
    assert _frozen_everywhere(reference) == []


@pytest.mark.parametrize(
    "attribute",
    [
        lambda s: s.profiles[0],
        lambda s: s.profiles[0].monitor,
        lambda s: s.profiles[0].endpoints[0],
        lambda s: s.profiles[0].azure,
        lambda s: s.resolver,
        lambda s: s.resolver.views[0],
        lambda s: s.admin.listen,
    ],
)
def test_assigning_to_a_converted_spec_raises(reference: DnsctlSpec, attribute: Any) -> None:
    target = attribute(reference)
    name = dataclasses.fields(target)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(target, name, "changed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        reference.profiles = ()  # type: ignore[misc]


@pytest.mark.skipif(
    not SHARED_EXAMPLE.exists(), reason="the shared reference file exists only in the workspace"
)
def test_the_shared_reference_file_loads_to_the_same_spec(tmp_path: Path) -> None:
    assert load_ok(SHARED_EXAMPLE) == load_ok(write(tmp_path, REFERENCE))


EXAMPLES = sorted([*(REPO / "examples").glob("*.yaml"), *(REPO / "examples").glob("*.yml")])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_repository_examples_load(path: Path) -> None:
    load_ok(path)
