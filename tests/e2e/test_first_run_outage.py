"""A first install during a regional outage (no record, no stored history), as processes: the one-shot
commands reach verdicts within the run and publish the healthy replica; they never exit 0 "waiting"."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import (
    REPLICAS,
    REPO,
    ZONE_ID,
    cname_of,
    dnsctl,
    profile_config,
    write_config,
    writes,
)
from tests.support.waits import run_process

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]


def test_reconcile_creates_the_record_on_the_healthy_replica_while_the_other_is_down(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    # The preferred region is out (its connects time out); nothing is published yet, nothing stored.
    replicas.set("eastus", "blackhole")
    cfg = write_config(
        tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file, fall=3)]
    )
    r = dnsctl("reconcile", "-c", str(cfg))
    assert r.code == 0, r.stdout + r.stderr
    assert cname_of(emulator) == WEST
    assert "waiting" not in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "converged: 1 change(s) applied"
    assert "decision: myregistry: eastus Degraded after 3 failures" in r.stdout
    # The verdicts were stored with the record: the next run has history and probes once.
    rs = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert rs is not None
    state = json.loads(rs["properties"]["metadata"]["dnsctl-state"])
    assert state["e"]["eastus"]["s"] == "D" and state["e"]["westeurope"]["s"] == "O"


def test_reconcile_that_cannot_reach_verdicts_exits_4_not_0(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    # A record dnsctl owns, with no history and pointing at no configured endpoint (the targets were
    # renamed), while nothing answers at all: the isolation guard judges nobody, so no verdict comes.
    emulator.seed_record_set(
        ZONE_ID,
        "CNAME",
        "myregistry",
        {
            "ttl": 30,
            "cnameRecord": {"cname": "myregistry.oldname.geo.azurecr.io"},
            "metadata": {"managed-by": "dnsctl", "dnsctl-profile": "myregistry"},
        },
    )
    replicas.set("eastus", "blackhole")
    replicas.set("westeurope", "blackhole")
    cfg = write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file)])
    emulator.reset_request_log()
    r = dnsctl("reconcile", "-c", str(cfg), "--json")
    assert r.code == 4, r.stdout + r.stderr
    doc = r.json()
    assert doc["waiting"] == ["myregistry"] and doc["exit_code"] == 4
    assert doc["summary"].startswith("degraded:") and "nothing was written" in doc["summary"]
    assert writes(emulator) == [] and cname_of(emulator) == "myregistry.oldname.geo.azurecr.io"


def mirror_config(tmp_path: Path, replicas: Replicas, fall: int) -> Path:
    profile = profile_config(replicas.port, replicas.ca_file, fall=fall)
    del profile["azure"]
    doc = {
        "profiles": [profile],
        "mirror": {"containerd": {"hosts_dir": str(tmp_path / "certs.d")}},
    }
    path = tmp_path / "mirror.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_mirror_once_without_a_state_file_writes_health_order_like_reconcile(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    replicas.set("eastus", "blackhole")
    run = run_process(
        [sys.executable, "-m", "dnsctl", "mirror", "--once", "-c", str(mirror_config(tmp_path, replicas, 3))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    hosts_toml = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    assert run.returncode == 0, run.stdout + run.stderr
    assert "waiting" not in run.stderr
    assert list(tomllib.loads(hosts_toml.read_text())["host"]) == [f"https://{WEST}:{replicas.port}"]
    # The same outage through reconcile: the same verdict, the same exit code.
    cfg = write_config(
        tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file, fall=3)]
    )
    r = dnsctl("reconcile", "-c", str(cfg))
    assert r.code == run.returncode == 0 and cname_of(emulator) == WEST
