"""Private Traffic Manager's topology map sites, probing gateways and `monitoringTarget`, and dnsctl's
sites, vantages and addresses: `dnsctl import|export private-traffic-manager` through the real CLI.

The fixtures follow the preview's facts (api-version 2026-10-01-preview): a topology map holds inline
sites (`name` + `properties`: `subnets` as IpAddressRange items, `virtualNetworkIds`, `probingGatewayIds`,
the ARM ids of `Microsoft.Network/probingGateways`, another resource provider's resource, possibly in
another subscription) and names exactly one catch-all site; an endpoint's `monitoringTarget` is where its
health is probed (defaults to `target`; never IPv6).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.interop.test_private_traffic_manager import (
    HEALTH_POLICY,
    MAP_TYPE,
    POLICY_ID,
    PROFILE_TYPE,
    dnsctl,
    preview_problems,
    write,
)

NET = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers/Microsoft.Network"
PROBING = (  # the gateways live in another subscription and resource group
    "/subscriptions/A1B2C3D4-0000-0000-0000-000000000000/resourceGroups/rgProbingInfra/providers/Microsoft.Network"
)
MAP_ID = f"{NET}/topologyMaps/registry-map"

TOPOLOGY_MAP = {
    "id": MAP_ID,
    "name": "registry-map",
    "type": MAP_TYPE,
    "location": "global",
    "properties": {
        "sites": [
            {  # a site made of subnets and VNets, probed by a gateway named otherwise
                "name": "eastus",
                "properties": {
                    "subnets": [{"first": "10.1.0.0", "scope": 16}],
                    "virtualNetworkIds": [f"{NET}/virtualNetworks/vnet-eastus"],
                    "probingGatewayIds": [f"{PROBING}/probingGateways/pgw-eastus-001"],
                },
            },
            {  # probed by the gateway of its own name
                "name": "westeurope",
                "properties": {
                    "subnets": [{"first": "10.2.0.0", "last": "10.2.255.255"}],
                    "virtualNetworkIds": [f"{NET}/virtualNetworks/vnet-westeurope"],
                    "probingGatewayIds": [f"{PROBING}/probingGateways/westeurope"],
                },
            },
            {"name": "elsewhere", "properties": {}},  # the catch-all: no gateway, no networks
        ],
        "catchAllSiteName": "elsewhere",
    },
}

PROFILE = {
    "name": "myregistry",
    "type": PROFILE_TYPE,
    "location": "global",
    "tags": {"dnsctl-fqdn": "myregistry.azurecr.io"},
    "properties": {
        "trafficRoutingMethod": "Priority",
        "customTopologyMapMode": "Enabled",
        "topologyMapId": MAP_ID,
        "profileStatus": "Enabled",
        "dnsConfig": {"recordType": "CNAME", "ttl": 30},
        "endpoints": [
            {
                "name": "x",
                "target": "myregistry.eastus.geo.azurecr.io",
                "monitoringTarget": "10.1.0.5",
                "priority": 1,
                "healthPolicyId": POLICY_ID.format("v2"),
            },
            {
                "name": "y",
                "target": "myregistry.westeurope.geo.azurecr.io",
                "monitoringTarget": "10.2.0.5",
                "priority": 2,
                "healthPolicyId": POLICY_ID.format("v2"),
            },
        ],
    },
}


def test_sites_with_probing_gateways_are_sites_and_a_monitoring_target_is_an_address(tmp_path: Path) -> None:
    files = [
        write(tmp_path, n, d)
        for n, d in (("p.json", PROFILE), ("m.json", TOPOLOGY_MAP), ("h.json", HEALTH_POLICY))
    ]
    out = dnsctl("import", "private-traffic-manager", *files, "-o", "first.yaml", cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # everything maps
    text = (tmp_path / "first.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    # Each site with a probing gateway is a dnsctl site (its vantage: run --site); its subnets its clients.
    assert config["sites"] == [
        {"name": "eastus", "clients": ["10.1.0.0/16"]},
        {"name": "westeurope", "clients": ["10.2.0.0/16"]},
    ]
    assert config["exchange"]["kind"] == "directory"  # several vantages share their verdicts
    comments = [line for line in text.splitlines() if line.startswith("#")]
    for said in (
        "site eastus: probing gateway pgw-eastus-001: its vantage is `dnsctl run --site eastus`",
        "site eastus: virtual networks vnet-eastus",
        "site westeurope: virtual networks vnet-westeurope",
    ):
        assert any(said in c for c in comments), said
    assert not any("probing gateway westeurope" in c for c in comments)  # the site's own name: the default
    (prof,) = config["profiles"]
    # monitoringTarget (an IPv4 address for a host name target): the endpoint's address, probed there.
    assert [(e["name"], e.get("addresses")) for e in prof["endpoints"]] == [
        ("x", ["10.1.0.5"]),
        ("y", ["10.2.0.5"]),
    ]
    assert "resolver" not in config  # Priority routing: no per-site preference, no views
    valid = dnsctl("validate", "-c", "first.yaml", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr + valid.stdout
    vantage = dnsctl("run", "-c", "first.yaml", "--site", "nowhere", cwd=tmp_path)
    assert vantage.returncode == 2 and "nowhere" in vantage.stderr

    exported = dnsctl("export", "private-traffic-manager", "-c", "first.yaml", "-o", "arm.json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    template = json.loads((tmp_path / "arm.json").read_text(encoding="utf-8"))
    assert preview_problems(template) == []
    (tmap,) = [r for r in template["resources"] if r["type"] == MAP_TYPE]
    sites = {s["name"]: s["properties"] for s in tmap["properties"]["sites"]}
    assert sites["eastus"] == {
        "subnets": [{"first": "10.1.0.0", "scope": 16}],
        "probingGatewayIds": ["[resourceId('Microsoft.Network/probingGateways', 'eastus')]"],
    }
    assert sites["westeurope"] == {
        "subnets": [{"first": "10.2.0.0", "scope": 16}],
        "probingGatewayIds": ["[resourceId('Microsoft.Network/probingGateways', 'westeurope')]"],
    }
    assert sites[tmap["properties"]["catchAllSiteName"]] == {}
    (profile,) = [r for r in template["resources"] if r["type"] == PROFILE_TYPE]
    props = profile["properties"]
    assert (props["trafficRoutingMethod"], props["customTopologyMapMode"]) == ("Priority", "Enabled")
    assert "topologyMapId" in props
    assert [e.get("monitoringTarget") for e in props["endpoints"]] == ["10.1.0.5", "10.2.0.5"]

    again = dnsctl("import", "private-traffic-manager", "arm.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(again.stdout) == config  # the round trip gives the same configuration


def test_what_sites_cannot_carry_is_listed_with_exit_3(tmp_path: Path) -> None:
    (tmp_path / "dnsctl.yaml").write_text(
        yaml.safe_dump(
            {
                "sites": [
                    {"name": "eastus", "region": "eastus", "clients": ["10.1.0.0/16"]},
                    {"name": "westeurope", "clients": ["10.2.0.0/16"]},
                    {"name": "southeastasia", "mirror": True},  # published to its node agents
                ],
                "exchange": {"kind": "directory", "path": str(tmp_path / "exchange")},
                "quorum": 3,
                "profiles": [
                    {
                        "name": "myregistry",
                        "fqdn": "myregistry.azurecr.io",
                        "endpoints": [
                            {
                                "name": "x",
                                "target": "myregistry.eastus.geo.azurecr.io",
                                "priority": 1,
                                "addresses": {"eastus": ["10.1.0.5"], "westeurope": ["10.2.0.5"]},
                            },
                            {"name": "y", "target": "myregistry.westeurope.geo.azurecr.io", "priority": 2},
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert dnsctl("validate", "-c", "dnsctl.yaml", cwd=tmp_path).returncode == 0
    out = dnsctl("export", "private-traffic-manager", "-c", "dnsctl.yaml", cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    for what in (
        "endpoint x: per-site addresses have no equivalent",
        "site eastus: region has no equivalent",
        "quorum 3 has no equivalent",
        "site southeastasia: mirror (its node agents read its decision) has no equivalent",
    ):
        assert what in out.stderr, what
    template = json.loads(out.stdout)
    assert preview_problems(template) == []
    (tmap,) = [r for r in template["resources"] if r["type"] == MAP_TYPE]
    assert [s["name"] for s in tmap["properties"]["sites"]] == [
        "eastus",
        "westeurope",
        "southeastasia",
        "catch-all",
    ]


def association(name: str, gateway: str) -> dict[str, object]:
    """A profile's association with a probing gateway, as GET returns it (the gateway: another RP's)."""
    return {
        "id": f"{NET}/privateTrafficManagerProfiles/basic/probingGateways/{name}",
        "name": name,
        "type": "Microsoft.Network/privateTrafficManagerProfiles/probingGateways",
        "properties": {
            "probingGatewayId": f"{PROBING}/probingGateways/{gateway}",
            "provisioningState": "Succeeded",
        },
    }


def test_a_profiles_own_probing_gateway_is_the_one_vantage(tmp_path: Path) -> None:
    basic = {  # the "Basic experience": no topology map, the profile associated with its gateway
        "name": "basic",
        "type": PROFILE_TYPE,
        "location": "global",
        "properties": {
            "trafficRoutingMethod": "Priority",
            "customTopologyMapMode": "Disabled",
            "endpoints": [{"name": "a", "target": "a.contoso.internal", "priority": 1}],
        },
    }
    files = [
        write(tmp_path, "p.json", basic),
        write(tmp_path, "g.json", association("gw1", "pgw-westus-001")),
    ]
    out = dnsctl("import", "private-traffic-manager", *files, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (
        "profile basic: probing gateway pgw-westus-001: dnsctl's vantage (`dnsctl run`, no sites)"
        in out.stdout
    )
    assert "sites" not in yaml.safe_load(out.stdout)

    files.append(write(tmp_path, "g2.json", association("gw2", "pgw-eastus-002")))
    two = dnsctl("import", "private-traffic-manager", *files, cwd=tmp_path)
    assert two.returncode == 3, two.stderr
    assert "probing gateways pgw-westus-001, pgw-eastus-002: one vantage without sites" in two.stderr


def test_a_site_made_of_virtual_networks_alone_is_listed_not_declared(tmp_path: Path) -> None:
    vnet_only = {
        "name": "vnet-map",
        "type": MAP_TYPE,
        "location": "global",
        "properties": {
            "sites": [
                {
                    "name": "hub",
                    "properties": {
                        "virtualNetworkIds": [f"{NET}/virtualNetworks/vnet-hub"],
                        "probingGatewayIds": [f"{PROBING}/probingGateways/pgw-hub"],
                    },
                }
            ],
            "catchAllSiteName": "hub",
        },
    }
    files = [write(tmp_path, "p.json", PROFILE), write(tmp_path, "m.json", vnet_only)]
    out = dnsctl("import", "private-traffic-manager", *files, "-o", "dnsctl.yaml", cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert "site hub: no subnets (virtual networks: vnet-hub): a dnsctl site needs" in out.stderr
    assert "sites" not in yaml.safe_load((tmp_path / "dnsctl.yaml").read_text(encoding="utf-8"))
    assert dnsctl("validate", "-c", "dnsctl.yaml", cwd=tmp_path).returncode == 0
