"""`dnsctl import traffic-manager` through the real CLI: every fixture profile (written from the public
2022-04-01 schema) becomes a configuration `dnsctl validate` accepts; what has no equivalent is on stderr
and in the file's comments with exit 3; bad input is exit 2 with a message, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.waits import run_process

PROFILES = Path(__file__).parent / "profiles"
FQDN = "myregistry.azurecr.io"
# fixture -> exit code of the import
EXPECTED_EXIT = {
    "priority": 0,
    "weighted": 0,
    "multivalue": 0,
    "subnet": 0,
    "performance": 0,
    "geographic": 3,
    "nested": 3,
}


def dnsctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def imported(name: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = dnsctl("import", "traffic-manager", str(PROFILES / f"{name}.json"), *extra)
    assert "Traceback" not in done.stderr
    return done, yaml.safe_load(done.stdout)


def test_every_routing_method_has_a_fixture() -> None:
    methods = {
        json.loads(p.read_text())["properties"]["trafficRoutingMethod"] for p in PROFILES.glob("*.json")
    }
    assert methods == {"Priority", "Weighted", "MultiValue", "Subnet", "Performance", "Geographic"}
    assert set(EXPECTED_EXIT) == {p.stem for p in PROFILES.glob("*.json")}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXIT))
def test_an_imported_profile_is_a_valid_configuration(name: str, tmp_path: Path) -> None:
    out = tmp_path / "dnsctl.yaml"
    done = dnsctl("import", "traffic-manager", str(PROFILES / f"{name}.json"), "--fqdn", FQDN, "-o", str(out))
    assert done.returncode == EXPECTED_EXIT[name], done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    checked = dnsctl("validate", "-c", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "valid: 1 profile(s)" in checked.stdout


def test_priority_maps_status_always_serve_monitor_and_ttl() -> None:
    done, cfg = imported("priority", "--fqdn", FQDN)
    assert done.returncode == 0, done.stderr
    profile = cfg["profiles"][0]
    assert (profile["fqdn"], profile["ttl"], profile["routing"]) == (FQDN, 30, "priority")
    eps = {ep["name"]: ep for ep in profile["endpoints"]}
    assert [ep["name"] for ep in profile["endpoints"]] == [
        "eastus",
        "westeurope",
        "southeastasia",
        "global-fallback",
    ]
    assert eps["westeurope"]["status"] == "disabled"
    assert "status" not in eps["eastus"]
    assert eps["global-fallback"]["override"] == "up"
    assert eps["global-fallback"]["target"] == "myregistry.northeurope.geo.azurecr.io"
    assert eps["eastus"]["region"] == "eastus"
    assert [ep["priority"] for ep in profile["endpoints"]] == [1, 2, 3, 4]
    m = profile["monitor"]
    # toleratedNumberOfFailures 2: Traffic Manager marks Degraded once failures exceed 2, at the 3rd.
    assert (m["protocol"], m["port"], m["path"], m["interval"], m["timeout"]) == (
        "https",
        443,
        "/v2/",
        "10s",
        "5s",
    )
    assert (m["fall"], m["rise"]) == (3, 1)
    assert m["headers"] == {"User-Agent": "tm-probe"}
    assert m["expected_status"] == ["200-299", 401]
    assert "# 401 added: a container registry answers /v2/ with 401" in done.stdout
    assert "Traffic Manager name 'global fallback'" in done.stdout


def test_defaults_tolerated_three_is_fall_four_and_status_200_alone_plus_401_on_v2() -> None:
    _, cfg = imported("subnet", "--fqdn", FQDN)
    m = cfg["profiles"][0]["monitor"]
    assert m["fall"] == 4
    assert m["expected_status"] == [200, 401]


def test_no_401_is_added_outside_a_registry_path(tmp_path: Path) -> None:
    doc = json.loads((PROFILES / "priority.json").read_text())
    doc["properties"]["monitorConfig"]["path"] = "/healthz"
    src = tmp_path / "p.json"
    src.write_text(json.dumps(doc))
    done = dnsctl("import", "traffic-manager", str(src), "--fqdn", FQDN)
    assert yaml.safe_load(done.stdout)["profiles"][0]["monitor"]["expected_status"] == ["200-299"]
    assert "401 added" not in done.stdout


def test_weighted_keeps_weights_and_serves_all_when_all_are_down() -> None:
    _, cfg = imported("weighted", "--fqdn", FQDN)
    profile = cfg["profiles"][0]
    assert profile["routing"] == "weighted"
    assert profile["when_all_down"] == "serve-all"
    assert [(ep["name"], ep["weight"]) for ep in profile["endpoints"]] == [
        ("eastus", 70),
        ("westeurope", 20),
        ("southeastasia", 10),
    ]
    assert len({ep["priority"] for ep in profile["endpoints"]}) == 3, "unique priorities, as dnsctl needs"
    assert profile["monitor"]["fall"] == 1, "toleratedNumberOfFailures 0: one failure marks it Degraded"


def test_multivalue_is_one_endpoint_with_every_enabled_address() -> None:
    done, cfg = imported("multivalue", "--fqdn", FQDN)
    profile = cfg["profiles"][0]
    assert profile["when_all_down"] == "serve-all"
    assert profile["monitor"]["protocol"] == "tcp" and "path" not in profile["monitor"]
    [ep] = profile["endpoints"]
    assert ep["addresses"] == ["10.1.0.4", "10.2.0.4", "10.3.0.4"]
    assert "d (10.4.0.4): endpointStatus Disabled, left out" in done.stdout


def test_multivalue_max_return_below_the_endpoints_is_reported(tmp_path: Path) -> None:
    doc = json.loads((PROFILES / "multivalue.json").read_text())
    doc["properties"]["maxReturn"] = 2
    src = tmp_path / "p.json"
    src.write_text(json.dumps(doc))
    done = dnsctl("import", "traffic-manager", str(src), "--fqdn", FQDN)
    assert done.returncode == 3
    assert "not mapped: maxReturn: 2" in done.stderr
    assert "#   - maxReturn: 2" in done.stdout


def test_subnet_becomes_resolver_views_with_the_catch_all_first() -> None:
    _, cfg = imported("subnet", "--fqdn", FQDN)
    profile = cfg["profiles"][0]
    assert profile["endpoints"][0]["name"] == "everyone-else"
    views = {v["name"]: v for v in cfg["resolver"]["views"]}
    east = views["myregistry-subnet-my-eastus-endpoint"]
    assert east["clients"] == ["10.1.0.0/16"]
    assert east["prefer"] == {"myregistry-subnet": ["my-eastus-endpoint"]}
    west = views["myregistry-subnet-westeurope"]
    assert west["clients"] == ["10.2.0.0/16", "192.168.7.0/24"], "the range form summarized to CIDRs"
    assert {"10.1.0.0/16", "10.2.0.0/16", "192.168.7.0/24"} <= set(cfg["resolver"]["allow"])


def test_performance_keeps_endpoint_locations_as_regions() -> None:
    _, cfg = imported("performance", "--fqdn", FQDN)
    profile = cfg["profiles"][0]
    assert profile["routing"] == "performance"
    assert [ep["region"] for ep in profile["endpoints"]] == ["eastus", "northeurope"]


def test_geographic_nested_and_traffic_view_are_listed_not_dropped() -> None:
    done, _ = imported("geographic", "--fqdn", FQDN)
    assert done.returncode == 3
    for text in ("trafficViewEnrollmentStatus", "endpoints[europe].geoMapping: GEO-EU", "WORLD"):
        assert f"not mapped: {text}" in done.stderr or text in done.stderr
        assert text in done.stdout.split("profiles:")[0], "listed in the file's comments"
    assert "Geographic routing is NOT mapped" in done.stdout
    done, _ = imported("nested", "--fqdn", FQDN)
    assert done.returncode == 3
    assert "not mapped: endpoints[americas]: a nested profile" in done.stderr
    assert "minChildEndpoints 2 not mapped" in done.stdout


def test_a_trafficmanager_net_name_without_fqdn_is_reported() -> None:
    done, cfg = imported("weighted")
    assert done.returncode == 3
    assert cfg["profiles"][0]["fqdn"] == "myregistry-weighted.trafficmanager.net"
    assert "not mapped: dnsConfig.relativeName" in done.stderr
    assert "--fqdn" in done.stderr


def test_endpoint_headers_that_differ_and_a_disabled_profile_are_reported(tmp_path: Path) -> None:
    doc = json.loads((PROFILES / "priority.json").read_text())
    doc["properties"]["endpoints"][0]["properties"]["customHeaders"] = [{"name": "X-Env", "value": "blue"}]
    doc["properties"]["profileStatus"] = "Disabled"
    src = tmp_path / "p.json"
    src.write_text(json.dumps(doc))
    done = dnsctl("import", "traffic-manager", str(src), "--fqdn", FQDN)
    assert done.returncode == 3
    assert "not mapped: endpoints[eastus].customHeaders: x-env" in done.stderr
    assert "not mapped: profileStatus: Disabled" in done.stderr


def test_stdin_is_read_with_a_dash() -> None:
    text = (PROFILES / "weighted.json").read_text()
    done = dnsctl("import", "traffic-manager", "-", "--fqdn", FQDN, stdin=text)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["profiles"][0]["routing"] == "weighted"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json {", "not JSON"),
        ("[1, 2]", "a JSON object is expected"),
        (
            '{"type": "Microsoft.Network/privateDnsZones", "properties": {}}',
            "is not a Traffic Manager profile",
        ),
        ('{"properties": {"dnsConfig": {}}}', "no properties.trafficRoutingMethod"),
        ('{"properties": {"trafficRoutingMethod": "Random"}}', "is not one of Priority"),
        ('{"properties": {"trafficRoutingMethod": "Priority", "endpoints": 5}}', "not a list of endpoint"),
    ],
)
def test_bad_input_is_exit_2_with_a_message(content: str, message: str, tmp_path: Path) -> None:
    src = tmp_path / "in.json"
    src.write_text(content)
    done = dnsctl("import", "traffic-manager", str(src))
    assert done.returncode == 2
    assert message in done.stderr and str(src) in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_bad_fqdn_is_exit_2() -> None:
    done = dnsctl("import", "traffic-manager", str(PROFILES / "weighted.json"), "--fqdn", "not a name")
    assert done.returncode == 2
    assert "--fqdn: 'not a name' is not a valid DNS name" in done.stderr
    assert done.stdout == ""


def test_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    done = dnsctl("import", "traffic-manager", str(tmp_path / "nope.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "Traceback" not in done.stderr


def test_names_from_the_profile_cannot_break_out_of_a_comment(tmp_path: Path) -> None:
    doc = json.loads((PROFILES / "priority.json").read_text())
    doc["name"] = "tm\nadmin: {listen: '0.0.0.0:9153'}"
    doc["properties"]["endpoints"][0]["name"] = "east\nresolver: {listen: ['0.0.0.0:53']}"
    doc["properties"]["endpoints"][0]["properties"]["customHeaders"] = [{"name": "X-A", "value": "b"}]
    src = tmp_path / "p.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "dnsctl.yaml"
    done = dnsctl("import", "traffic-manager", str(src), "--fqdn", FQDN, "-o", str(out))
    assert done.returncode == 3, done.stderr  # the endpoint's own header is reported, with its name
    cfg = yaml.safe_load(out.read_text())
    assert "admin" not in cfg
    assert cfg["resolver"]["listen"] == ["127.0.0.1:5353"]
    assert cfg["profiles"][0]["endpoints"][0]["name"] == "east-resolver-listen-0-0-0-0-53"
    assert dnsctl("validate", "-c", str(out)).returncode == 0


def test_an_output_that_cannot_be_written_is_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = dnsctl("import", "traffic-manager", str(PROFILES / "weighted.json"), "-o", str(blocker / "x.yaml"))
    assert done.returncode == 1
    assert "cannot write" in done.stderr and "Traceback" not in done.stderr
