"""`dnsctl run` as a process: a record edited by hand while dnsctl was stopped is put back at start,
not at the next resync."""

from __future__ import annotations

from pathlib import Path

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import REPLICAS, ZONE_ID, cname_of, profile_config, run_setup

EAST = REPLICAS["eastus"][0]
HAND_EDIT = "myregistry.handedit.example.com"


def test_a_drift_made_while_stopped_is_put_back_at_start(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    profile = profile_config(replicas.port, replicas.ca_file, fall=2, rise=1)
    # The resync is far away: only the start-up put-back can bring the record back within the test.
    daemon = run_setup(tmp_path, emulator, [profile], resync_interval="1h").daemon

    with daemon() as d:
        d.wait_until(lambda: cname_of(emulator) == EAST, 20, "the first write")
        assert d.terminate() == 0

    # Someone edits the record while dnsctl is stopped, keeping dnsctl's metadata (its stored decision).
    rs = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert rs is not None and "dnsctl-state" in rs["properties"]["metadata"]
    emulator.seed_record_set(
        ZONE_ID,
        "CNAME",
        "myregistry",
        {"ttl": 30, "cnameRecord": {"cname": HAND_EDIT}, "metadata": rs["properties"]["metadata"]},
    )
    assert cname_of(emulator) == HAND_EDIT

    with daemon() as d:
        d.wait_until(lambda: cname_of(emulator) == EAST, 30, "the hand edit to be put back")
        # The audit line follows the write: the record may be seen back a moment before it is logged.
        log = d.wait_until(lambda: "before=CNAME" in d.log() and d.log(), 10, "the put-back's audit line")
        assert "while it was not running" in log and "putting it back" in log
        assert f"before=CNAME {HAND_EDIT}" in log, "the put-back is an audited change"
        drift = d.status()["profiles"][0]["drift"]
        assert drift["found"].startswith(f"CNAME {HAND_EDIT}")
        assert d.terminate() == 0
