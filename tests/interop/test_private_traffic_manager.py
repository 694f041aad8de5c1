"""`dnsctl import|export private-traffic-manager`, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.waits import run_process

REPO = Path(__file__).resolve().parents[2]
SHARED = (
    next(
        (p for p in (REPO.parent / "shared", REPO.parents[1] / "shared") if p.exists()),
        REPO.parent / "shared",
    )
    / "azure"
    / "private-traffic-manager"
    / "2026-10-01-preview"
)  # ../shared (or ../../shared from a worktree)

# Facts from the published spec of the Private Traffic Manager preview API (Azure/azure-rest-api-specs,
# specification/privatetrafficmanager, api-version 2026-10-01-preview, TypeSpec models and examples):
# required fields and enums of the resources export writes.
API_VERSION = "2026-10-01-preview"
NAME_PATTERN = r"^[a-zA-Z0-9-]{3,24}$"  # profile, topology map and site names
PROFILE_ENUMS = {
    "customTopologyMapMode": {"Disabled", "Enabled"},
    "profileStatus": {"Enabled", "Disabled"},
    "trafficRoutingMethod": {"Priority", "Weighted", "Subnet", "VNet", "Site"},
}
RECORD_TYPES = {"A", "AAAA", "CNAME"}
ENDPOINT_REQUIRED = {"name", "target"}
ENDPOINT_ENUMS = {"endpointStatus": {"Enabled", "Disabled"}, "alwaysServe": {"Enabled", "Disabled"}}
ENDPOINT_RANGES = {"weight": (1, 1000), "priority": (1, 1000)}
HEALTH_POLICY_KINDS = {"Probe"}
PROBE_PROTOCOLS = {"HTTP", "HTTPS", "TCP"}
PROBE_INTS = {"port", "intervalInSeconds", "timeoutInSeconds", "toleratedNumberOfFailures"}
SITE_REQUIRED = {"name"}
RANGE_KEYS = {"first", "last", "scope"}  # IpAddressRange: an address, first+scope (CIDR) or first+last
PROFILE_TYPE = "Microsoft.Network/privateTrafficManagerProfiles"
POLICY_TYPE = "Microsoft.Network/privateTrafficManagerProfiles/healthPolicies"
MAP_TYPE = "Microsoft.Network/topologyMaps"


def preview_problems(template: dict[str, Any]) -> list[str]:
    """Every way an exported template departs from the preview's shapes (empty: it conforms)."""
    bad: list[str] = []

    def enum(where: str, obj: dict[str, Any], enums: dict[str, set[str]]) -> None:
        for key, allowed in enums.items():
            if key in obj and obj[key] not in allowed:
                bad.append(f"{where}.{key}: {obj[key]!r} not in {sorted(allowed)}")

    def ranges(where: str, items: Any) -> None:
        if not isinstance(items, list):
            bad.append(f"{where}: not a list")
            return
        for r in items:
            if (
                not isinstance(r, dict)
                or "first" not in r
                or set(r) - RANGE_KEYS
                or {"last", "scope"} <= set(r)
            ):
                bad.append(f"{where}: {r!r} is not an IpAddressRange")

    import re

    for i, res in enumerate(template.get("resources", [])):
        at = f"resources[{i}]"
        if res.get("apiVersion") != API_VERSION:
            bad.append(f"{at}.apiVersion: {res.get('apiVersion')!r}")
        props = res.get("properties")
        if not isinstance(props, dict):
            bad.append(f"{at}.properties: missing")
            continue
        if res["type"] == PROFILE_TYPE:
            if not re.match(NAME_PATTERN, res["name"]):
                bad.append(f"{at}.name: {res['name']!r}")
            if "location" not in res:
                bad.append(f"{at}.location: missing (a tracked resource)")
            enum(f"{at}.properties", props, PROFILE_ENUMS)
            dns = props.get("dnsConfig", {})
            if "recordType" in dns and dns["recordType"] not in RECORD_TYPES:
                bad.append(f"{at}.dnsConfig.recordType: {dns['recordType']!r}")
            if "ttl" in dns and (not isinstance(dns["ttl"], int) or dns["ttl"] < 0):
                bad.append(f"{at}.dnsConfig.ttl: {dns['ttl']!r}")
            endpoints = props.get("endpoints", [])
            prios = [e["priority"] for e in endpoints if "priority" in e]
            if prios and (len(prios) != len(endpoints) or len(set(prios)) != len(prios)):
                bad.append(f"{at}: priority must be on every endpoint and unique")
            for k, e in enumerate(endpoints):
                eat = f"{at}.properties.endpoints[{k}]"
                for key in ENDPOINT_REQUIRED - set(e):
                    bad.append(f"{eat}.{key}: required")
                enum(eat, e, ENDPOINT_ENUMS)
                for key, (low, high) in ENDPOINT_RANGES.items():
                    if key in e and not (isinstance(e[key], int) and low <= e[key] <= high):
                        bad.append(f"{eat}.{key}: {e[key]!r} not in {low}-{high}")
                if "subnets" in e:
                    ranges(f"{eat}.subnets", e["subnets"])
            if props.get("trafficRoutingMethod") == "Site" and (
                props.get("customTopologyMapMode") != "Enabled" or "topologyMapId" not in props
            ):
                bad.append(f"{at}: Site routing needs customTopologyMapMode Enabled and a topologyMapId")
        elif res["type"] == POLICY_TYPE:
            if res.get("kind") not in HEALTH_POLICY_KINDS:
                bad.append(f"{at}.kind: {res.get('kind')!r} (required, one of {sorted(HEALTH_POLICY_KINDS)})")
            cfg = props.get("probeConfig", {})
            if cfg.get("protocol") not in PROBE_PROTOCOLS:
                bad.append(f"{at}.probeConfig.protocol: {cfg.get('protocol')!r}")
            for key in PROBE_INTS & set(cfg):
                if not isinstance(cfg[key], int):
                    bad.append(f"{at}.probeConfig.{key}: {cfg[key]!r} is not an integer")
            for h in cfg.get("customHeaders", []):
                if set(h) != {"name", "value"}:
                    bad.append(f"{at}.probeConfig.customHeaders: {h!r}")
            for r in cfg.get("expectedStatusCodeRanges", []):
                if set(r) != {"min", "max"} or not all(isinstance(v, int) for v in r.values()):
                    bad.append(f"{at}.probeConfig.expectedStatusCodeRanges: {r!r}")
        elif res["type"] == MAP_TYPE:
            if "location" not in res:
                bad.append(f"{at}.location: missing (a tracked resource)")
            sites = props.get("sites", [])
            names = [s.get("name") for s in sites]
            for s in sites:
                for key in SITE_REQUIRED - set(s):
                    bad.append(f"{at}.sites: {key} required")
                if not re.match(NAME_PATTERN, str(s.get("name"))):
                    bad.append(f"{at}.sites: name {s.get('name')!r}")
                if "subnets" in s.get("properties", {}):
                    ranges(f"{at}.sites[{s.get('name')}].subnets", s["properties"]["subnets"])
            if props.get("catchAllSiteName") not in names:
                bad.append(f"{at}.catchAllSiteName: must name one of the map's sites")
        else:
            bad.append(f"{at}.type: {res['type']!r}")
    return bad


def dnsctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    return run_process(
        [sys.executable, "-m", "dnsctl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


POLICY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.Network/privateTrafficManagerProfiles/registry/healthPolicies/{}"
)

SUBNET_PROFILE = {
    "name": "registry",
    "type": PROFILE_TYPE,
    "location": "global",
    "properties": {
        "trafficRoutingMethod": "Subnet",
        "profileStatus": "Enabled",
        "dnsConfig": {"recordType": "CNAME", "ttl": 10},
        "endpoints": [
            {
                "name": "eastus",
                "target": "eastus.myregistry.azurecr.io",
                "endpointStatus": "Enabled",
                "healthPolicyId": POLICY_ID.format("v2"),
                "subnets": [{"first": "10.1.0.0", "scope": 16}, {"first": "10.2.0.0", "last": "10.2.1.255"}],
            },
            {
                "name": "westus",
                "target": "westus.myregistry.azurecr.io",
                "alwaysServe": "Enabled",
                "healthPolicyId": POLICY_ID.format("v2"),
                "subnets": [{"first": "10.3.0.7"}],
            },
            {
                "name": "central",
                "target": "central.myregistry.azurecr.io",
                "endpointStatus": "Disabled",
                "healthPolicyId": POLICY_ID.format("v2"),
            },
        ],
    },
}

HEALTH_POLICY = {
    "name": "v2",
    "id": POLICY_ID.format("v2"),
    "type": POLICY_TYPE,
    "kind": "Probe",
    "properties": {
        "probeConfig": {
            "protocol": "HTTPS",
            "port": 8443,
            "path": "/healthz",
            "intervalInSeconds": 30,
            "timeoutInSeconds": 10,
            "toleratedNumberOfFailures": 3,
            "customHeaders": [{"name": "Host", "value": "myregistry.azurecr.io"}],
            "expectedStatusCodeRanges": [{"min": 200, "max": 299}],
        }
    },
}

WEIGHTED_PROFILE = {
    "name": "api-weighted",
    "type": PROFILE_TYPE,
    "location": "global",
    "tags": {"dnsctl-fqdn": "api.contoso.internal"},
    "properties": {
        "trafficRoutingMethod": "Weighted",
        "endpoints": [
            {"name": "blue", "target": "10.0.0.1", "weight": 900, "priority": 1},
            {"name": "green", "target": "10.0.0.2", "weight": 100, "priority": 2},
        ],
    },
}


def write(tmp: Path, name: str, doc: Any) -> str:
    (tmp / name).write_text(json.dumps(doc), encoding="utf-8")
    return name


def test_import_maps_subnet_routing_alwaysserve_disabled_and_probe(tmp_path: Path) -> None:
    files = [write(tmp_path, "p.json", SUBNET_PROFILE), write(tmp_path, "h.json", HEALTH_POLICY)]
    out = dnsctl("import", "private-traffic-manager", *files, "--zone", "contoso.internal", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    (prof,) = config["profiles"]
    assert prof["fqdn"] == "registry.contoso.internal" and prof["ttl"] == 10
    # the fallback endpoint (no subnets) is what clients outside every subnet get: first by default
    assert [(e["name"], e["priority"]) for e in prof["endpoints"]] == [
        ("central", 1),
        ("eastus", 2),
        ("westus", 3),
    ]
    assert prof["endpoints"][0]["status"] == "disabled"
    assert prof["endpoints"][2]["override"] == "up"
    assert prof["when_all_down"] == "fallback" and prof["fallback"] == "central.myregistry.azurecr.io"
    assert prof["monitor"] == {
        "port": 8443,
        "path": "/healthz",
        "expected_status": ["200-299"],
        "headers": {"Host": "myregistry.azurecr.io"},
        "interval": "30s",
        "timeout": "10s",
        "fall": 4,
    }
    assert config["resolver"]["views"] == [
        {"name": "eastus", "clients": ["10.1.0.0/16", "10.2.0.0/23"], "prefer": {"registry": ["eastus"]}},
        {"name": "westus", "clients": ["10.3.0.7/32"], "prefer": {"registry": ["westus"]}},
    ]
    (tmp_path / "dnsctl.yaml").write_text(out.stdout, encoding="utf-8")
    valid = dnsctl("validate", "-c", "dnsctl.yaml", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr


def test_export_validates_against_the_preview_shapes_and_round_trips(tmp_path: Path) -> None:
    files = [
        write(tmp_path, "p.json", SUBNET_PROFILE),
        write(tmp_path, "h.json", HEALTH_POLICY),
        write(tmp_path, "w.json", WEIGHTED_PROFILE),
    ]
    first = dnsctl("import", "private-traffic-manager", *files, "-o", "first.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert dnsctl("validate", "-c", "first.yaml", cwd=tmp_path).returncode == 0
    exported = dnsctl("export", "private-traffic-manager", "-c", "first.yaml", "-o", "arm.json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    template = json.loads((tmp_path / "arm.json").read_text(encoding="utf-8"))
    assert preview_problems(template) == []
    types = [r["type"] for r in template["resources"]]
    assert types.count(PROFILE_TYPE) == 2 and types.count(POLICY_TYPE) == 2 and types.count(MAP_TYPE) == 1
    registry = next(r for r in template["resources"] if r["name"] == "registry")
    assert registry["properties"]["trafficRoutingMethod"] == "Site"
    weighted = next(r for r in template["resources"] if r["name"] == "api-weighted")
    assert weighted["properties"]["trafficRoutingMethod"] == "Weighted"
    assert [e["weight"] for e in weighted["properties"]["endpoints"]] == [900, 100]
    second = dnsctl("import", "private-traffic-manager", "arm.json", "-o", "second.yaml", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "second.yaml").read_text(encoding="utf-8") == (tmp_path / "first.yaml").read_text(
        encoding="utf-8"
    )


def test_the_validator_rejects_what_the_preview_rejects() -> None:
    """The checks above can fail: a template that breaks each fact is caught."""
    template = {
        "resources": [
            {
                "type": PROFILE_TYPE,
                "apiVersion": API_VERSION,
                "name": "x",
                "location": "global",
                "properties": {
                    "trafficRoutingMethod": "Performance",
                    "endpoints": [{"name": "a", "priority": 0, "alwaysServe": True}],
                },
            },
            {
                "type": POLICY_TYPE,
                "apiVersion": API_VERSION,
                "name": "x/p",
                "properties": {"probeConfig": {}},
            },
            {
                "type": MAP_TYPE,
                "apiVersion": API_VERSION,
                "name": "m",
                "location": "global",
                "properties": {"sites": [{"name": "s1", "properties": {"subnets": [{"last": "1"}]}}]},
            },
        ]
    }
    problems = " ".join(preview_problems(template))
    for fact in (
        "name",
        "trafficRoutingMethod",
        "target: required",
        "priority",
        "alwaysServe",
        "kind",
        "protocol",
        "IpAddressRange",
        "catchAllSiteName",
    ):
        assert fact in problems


def test_unmappable_fields_are_comments_and_stderr_with_exit_3(tmp_path: Path) -> None:
    vnet = {
        "name": "vnet-profile",
        "type": PROFILE_TYPE,
        "properties": {
            "trafficRoutingMethod": "VNet",
            "profileStatus": "Disabled",
            "endpoints": [
                {
                    "name": "matched",
                    "target": "10.0.0.10",
                    "monitoringTarget": "10.0.9.9",
                    "healthPolicyId": POLICY_ID.format("v2"),
                    "virtualNetworkIds": [
                        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/hub"
                    ],
                },
                {"name": "fallback", "target": "10.0.0.20", "healthPolicyId": POLICY_ID.format("other")},
            ],
        },
    }
    files = [write(tmp_path, "v.json", vnet), write(tmp_path, "h.json", HEALTH_POLICY)]
    out = dnsctl("import", "private-traffic-manager", *files, cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    for what in (
        "virtualNetworkIds hub",
        "monitoringTarget 10.0.9.9",
        "profileStatus Disabled",
        "health policy other",
    ):
        assert what in out.stderr
        assert any(what in line for line in out.stdout.splitlines() if line.startswith("#"))
    (tmp_path / "dnsctl.yaml").write_text(out.stdout, encoding="utf-8")
    assert dnsctl("validate", "-c", "dnsctl.yaml", cwd=tmp_path).returncode == 0


def test_export_reports_what_the_preview_cannot_hold(tmp_path: Path) -> None:
    (tmp_path / "dnsctl.yaml").write_text(
        "profiles:\n"
        "  - name: perf\n"
        "    fqdn: app.contoso.internal\n"
        "    routing: performance\n"
        "    endpoints:\n"
        "      - {name: a, target: a.contoso.internal, priority: 1, region: eastus}\n"
        "      - {name: b, target: b.contoso.internal, priority: 2000, region: westus}\n",
        encoding="utf-8",
    )
    out = dnsctl("export", "private-traffic-manager", "-c", "dnsctl.yaml", cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert "routing performance" in out.stderr and "priorities renumbered" in out.stderr
    template = json.loads(out.stdout)
    assert preview_problems(template) == []
    (profile,) = [r for r in template["resources"] if r["type"] == PROFILE_TYPE]
    assert [e["priority"] for e in profile["properties"]["endpoints"]] == [1, 2]


def test_a_missing_file_or_an_unwritable_output_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    out = dnsctl("import", "private-traffic-manager", "missing.json", cwd=tmp_path)
    assert out.returncode == 2 and "missing.json: cannot read JSON" in out.stderr
    files = [write(tmp_path, "p.json", WEIGHTED_PROFILE)]
    out = dnsctl("import", "private-traffic-manager", *files, "-o", "no/such/dir/x.yaml", cwd=tmp_path)
    assert out.returncode == 1 and "cannot write no/such/dir/x.yaml" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "cannot read JSON"),
        (
            '{"name": "p1", "properties": {"trafficRoutingMethod": "Priority", "endpoints": []}}',
            "no endpoints",
        ),
        (
            '{"name": "p1", "properties": {"trafficRoutingMethod": "Geographic", "endpoints": [{}]}}',
            "Geographic",
        ),
        ('{"kind": "Probe", "properties": {"probeConfig": {}}}', "no Private Traffic Manager profile"),
        (
            '{"name": "p1", "properties": {"trafficRoutingMethod": "Subnet", "endpoints": '
            '[{"name": "a", "target": "10.0.0.1", "subnets": [{"first": "not-an-ip"}]}]}}',
            "not an address range",
        ),
        (
            '[{"name": "p1", "properties": {"endpoints": [{"name": "a", "target": "t.example", '
            '"healthPolicyId": "h"}]}}, {"name": "h", "kind": "Probe", "properties": {"probeConfig": '
            '{"customHeaders": [{"value": "x"}]}}}]',
            "required field is missing: 'name'",
        ),
        (
            '{"name": "p1", "properties": {"endpoints": [{"name": "a", "target": "t", "priority": "high"}]}}',
            "wrong shape",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, doc: str, message: str) -> None:
    (tmp_path / "in.json").write_text(doc, encoding="utf-8")
    out = dnsctl("import", "private-traffic-manager", "in.json", cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.mark.skipif(
    not SHARED.exists(), reason="the preview's published examples exist only in the workspace"
)
@pytest.mark.parametrize(
    "example",
    [
        "Profiles_CreateOrUpdate_SubnetAffinity",
        "Profiles_CreateOrUpdate_SiteAffinity",
        "Profiles_CreateOrUpdate_VNetAffinity",
        "Profiles_CreateOrUpdate_MaximumSet_Gen",
    ],
)
def test_the_preview_examples_import_to_a_valid_configuration(tmp_path: Path, example: str) -> None:
    # The example files themselves (request and responses): import reads the 200 response's body.
    files = [str(SHARED / f"{example}.json"), str(SHARED / "TopologyMaps_Get_MaximumSet_Gen.json")]
    out = dnsctl("import", "private-traffic-manager", *files, "-o", "dnsctl.yaml", cwd=tmp_path)
    assert out.returncode in (0, 3), out.stderr
    assert dnsctl("validate", "-c", "dnsctl.yaml", cwd=tmp_path).returncode == 0
    exported = dnsctl(
        "export", "private-traffic-manager", "-c", "dnsctl.yaml", "-o", "arm.json", cwd=tmp_path
    )
    assert exported.returncode in (0, 3), exported.stderr
    assert preview_problems(json.loads((tmp_path / "arm.json").read_text(encoding="utf-8"))) == []
    again = dnsctl("import", "private-traffic-manager", "arm.json", cwd=tmp_path)
    first = (tmp_path / "dnsctl.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(again.stdout) == yaml.safe_load(first)
