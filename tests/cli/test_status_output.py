"""What `dnsctl status` and `dnsctl check` print: since, endpoint notes, view decisions, honest wording."""

from __future__ import annotations

import socket
import sys
from ipaddress import ip_network
from pathlib import Path

import yaml

from dnsctl.cli.render import health_table
from dnsctl.core.model import Override, ViewSpec
from dnsctl.core.state import set_override
from dnsctl.documents.jsonable import iso, to_object
from dnsctl.documents.status import health_doc
from tests.core.factories import Engine, endpoint, monitor, profile, spec
from tests.support.waits import run_process

VIEW = ViewSpec(
    "westeurope-vnet", (ip_network("10.2.0.0/16"),), (("myregistry", ("westeurope", "southeastasia")),)
)


def scene() -> Engine:
    """eastus drained by the operator, westeurope flapping and damped, southeastasia carrying the name."""
    prof = profile(
        endpoint("eastus", 1),
        endpoint("westeurope", 2),
        endpoint("southeastasia", 3),
        monitor_spec=monitor(fall=1, rise=1, flap_threshold=1, flap_hold=120.0),
    )
    e = Engine(spec(prof, views=[VIEW]))
    e.round({"eastus": True, "westeurope": True, "southeastasia": True})
    e.round({"eastus": True, "westeurope": False, "southeastasia": True})
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", Override.DOWN))
    e.redecide()
    return e


def test_status_shows_since_markers_and_every_decision_with_its_reason() -> None:
    e = scene()
    doc = health_doc(e.spec, e.states, isolated=False)
    text = health_table(doc)
    lines = text.splitlines()
    assert lines[0].split() == [
        "PROFILE",
        "ENDPOINT",
        "ADDRESS",
        "VERDICT",
        "SINCE",
        "CODE",
        "LATENCY",
        "NOTES",
    ]
    rows = {line.split()[1]: line for line in lines[1:4]}
    west = e.states["myregistry"].endpoints["westeurope"]
    assert west.hold_until is not None
    assert "drained by operator" in rows["eastus"]
    assert f"damped until {iso(west.hold_until)}" in rows["westeurope"]
    assert "1 flap;" in rows["westeurope"] and "connect-timeout" in rows["westeurope"]
    assert iso(west.since) in rows["westeurope"]
    south = e.states["myregistry"].endpoints["southeastasia"]
    assert rows["southeastasia"].split()[3:5] == ["Online", iso(south.since)]

    decision = e.states["myregistry"].decision
    assert decision is not None
    main = next(line for line in lines if line.startswith("myregistry (myregistry.azurecr.io) -> "))
    assert main.startswith(
        f"myregistry (myregistry.azurecr.io) -> southeastasia (myregistry.southeastasia.geo.azurecr.io) "
        f"since {iso(decision.since)}: eastus drained by operator; "
    )
    assert main.endswith("; southeastasia is next by priority")
    view = next(line for line in lines if line.startswith("  view westeurope-vnet -> "))
    assert view.startswith(
        "  view westeurope-vnet -> southeastasia (myregistry.southeastasia.geo.azurecr.io) since "
    )
    assert view.endswith("; southeastasia is the first Online in the view's order")
    assert "priority" not in view


def test_json_status_carries_the_override_and_who_set_it() -> None:
    doc = to_object(health_doc(scene().spec, scene().states, isolated=False))
    east = next(ep for ep in doc["profiles"][0]["endpoints"] if ep["name"] == "eastus")
    assert (east["status"], east["override"], east["override_by"]) == ("Degraded", "down", "operator")
    west = next(ep for ep in doc["profiles"][0]["endpoints"] if ep["name"] == "westeurope")
    assert west["flaps"] == 1 and west["damped_until"] is not None and west["override"] is None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_with_every_endpoint_down_does_not_claim_a_last_answer(tmp_path: Path) -> None:
    port = closed_port()
    config = {
        "profiles": [
            {
                "name": "p",
                "fqdn": "p.example",
                "monitor": {"protocol": "tcp", "port": port, "interval": "1s", "timeout": "500ms"},
                "endpoints": [
                    {"name": "a", "target": "a.example", "priority": 1, "addresses": ["127.0.0.1"]},
                    {"name": "b", "target": "b.example", "priority": 2, "addresses": ["127.0.0.1"]},
                ],
            }
        ]
    }
    path = tmp_path / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(config))
    out = run_process(
        [sys.executable, "-m", "dnsctl", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "last answer" not in out.stdout
    assert "p (p.example) -> a (a.example) since " in out.stdout
    assert out.stdout.rstrip().endswith("; keeping what is published (else a)")
