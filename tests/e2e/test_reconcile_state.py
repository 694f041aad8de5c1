"""`dnsctl reconcile` never writes on unknown stored state: a failed zone read exits 1 having written
nothing; a bad state file is moved aside and the pass goes on without its history (never-flip), and
`plan` reports a bad file without touching it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import ZONE_ID, cname_of, dnsctl, profile_config, write_config, writes

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"


def config(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas, **kw: Any) -> str:
    doc = profile_config(replicas.port, replicas.ca_file, **kw)
    return str(write_config(tmp_path / "dnsctl.yaml", emulator, [doc]))


def test_a_failed_read_exits_1_and_writes_nothing(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas)
    assert dnsctl("reconcile", "-c", cfg).code == 0
    replicas.set("eastus", "stopped")
    emulator.reset_request_log()
    emulator.inject_error(1_000_000, applies_to="read")
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 1, r.stdout + r.stderr
    assert "the stored state is unknown, so nothing was written" in r.stderr
    assert "Traceback" not in r.stderr
    assert writes(emulator) == [] and cname_of(emulator) == EAST


def test_a_bad_state_file_is_moved_aside_and_the_published_record_stands(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    # A record dnsctl published on westeurope (an earlier failover) and a state file that is garbage.
    emulator.seed_record_set(
        ZONE_ID,
        "CNAME",
        "myregistry",
        {
            "ttl": 30,
            "cnameRecord": {"cname": WEST},
            "metadata": {"managed-by": "dnsctl", "dnsctl-profile": "myregistry"},
        },
    )
    cfg = config(tmp_path, emulator, replicas, failback_hold="1h")
    state = tmp_path / "state.json"
    state.write_text('{"myregistry": "{\\"v\\":1,')

    r = dnsctl("plan", "-c", cfg, "--state-file", str(state))
    assert r.code == 0, r.stderr
    assert "is unusable" in r.stderr and "left as it is" in r.stderr
    assert state.read_text().startswith('{"myregistry"'), "a dry run moves nothing"

    r = dnsctl("reconcile", "-c", cfg, "--state-file", str(state), "--json")
    assert r.code == 0, r.stdout + r.stderr
    assert "ERROR dnsctl.state" in r.stderr and "Traceback" not in r.stderr
    aside = [n for n in os.listdir(tmp_path) if n.startswith("state.json.corrupt-")]
    assert len(aside) == 1 and (tmp_path / aside[0]).read_text().startswith('{"myregistry"')
    assert json.loads(r.stdout)["state"]["moved_aside_to"] == str(tmp_path / aside[0])
    assert cname_of(emulator) == WEST, "without history the published choice stands (never-flip)"
    assert "myregistry" in json.loads(state.read_text()), "a good file took the bad one's place"
