"""keep-last keeps dnsctl's *own* last answer (`dnsctl run` as a process, every endpoint down): a value
another writer puts in the owned record, keeping dnsctl's ownership metadata, is drift. It is reported
and the last answer dnsctl published is put back, whether it shows up in the re-read after a 412 or in
a resync's read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.daemon import Daemon
from tests.e2e.harness import ZONE_ID, free_port
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, record

NAME = "myregistry"
HIJACK, OTHER = "hijack.example.com", "other.example.com"


def stored_kind(emulator: WatchedEmulator) -> str | None:
    """The decision kind in the health history stored with the record."""
    rs = record(emulator, NAME)
    state = (rs or {}).get("properties", {}).get("metadata", {}).get("dnsctl-state")
    return json.loads(state).get("d", {}).get("k") if state else None


def drift_lines(log: str, found: str) -> list[str]:
    return [line for line in log.splitlines() if "changed outside dnsctl" in line and found in line]


def test_a_value_written_by_someone_else_under_keep_last_is_drift_and_put_back(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    admin_port = free_port()
    cfg = config(
        tmp_path / "run.yaml",
        emulator,
        [profile(NAME, replicas, fall=1, when_all_down="keep-last")],
        admin={"listen": f"127.0.0.1:{admin_port}"},
        resync_interval="500ms",
    )
    with Daemon("run", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "run.log") as d:
        d.wait_until(lambda: cname(emulator, NAME) is not None, 30, "the first write")
        # Every endpoint answers 503 (an answer: no isolation guard): keep-last, and the history says so.
        replicas.set_all("503")
        d.wait_until(lambda: stored_kind(emulator) == "all-down", 30, "the keep-last decision stored")
        ours = cname(emulator, NAME)
        assert ours is not None

        # 1. Another writer changes the target (keeping dnsctl's metadata) just before dnsctl's next
        # write, which a tool that dropped dnsctl's history key makes happen at the next resync.
        emulator.inject_concurrent_write(
            ZONE_ID, "CNAME", NAME, properties={"cnameRecord": {"cname": HIJACK}}
        )
        current = record(emulator, NAME)
        assert current is not None
        metadata: dict[str, Any] = dict(current["properties"]["metadata"])
        metadata.pop("dnsctl-state")
        emulator.seed_record_set(
            ZONE_ID, "CNAME", NAME, {"ttl": 30, "cnameRecord": {"cname": ours}, "metadata": metadata}
        )
        d.wait_until(lambda: drift_lines(d.log(), HIJACK), 30, "the hijack reported as drift")
        d.wait_until(
            lambda: cname(emulator, NAME) == ours and stored_kind(emulator) == "all-down",
            30,
            "dnsctl's last answer put back, with its history",
        )
        assert not emulator.pending_faults()["concurrentWrites"], "the concurrent write happened"
        assert "records changed while writing (412)" in d.log()
        (line,) = drift_lines(d.log(), HIJACK)
        assert f"expected CNAME {ours} ttl 30" in line and "putting it back" in line
        assert d.status()["profiles"][0]["drift"]["found"] == f"CNAME {HIJACK} ttl 30"

        # 2. The same edit made between two passes: the resync's read finds it and puts ours back.
        current = record(emulator, NAME)
        assert current is not None
        emulator.seed_record_set(
            ZONE_ID,
            "CNAME",
            NAME,
            {"ttl": 30, "cnameRecord": {"cname": OTHER}, "metadata": current["properties"]["metadata"]},
        )
        d.wait_until(lambda: drift_lines(d.log(), OTHER), 30, "the second edit reported as drift")
        d.wait_until(lambda: cname(emulator, NAME) == ours, 30, "dnsctl's last answer put back again")
        metrics = d.get("/metrics").text
    audit = [
        line for line in d.log().splitlines() if "dns change:" in line and f"after=CNAME {ours} " in line
    ]
    assert any(f"before=CNAME {HIJACK} " in line for line in audit), audit
    assert any(f"before=CNAME {OTHER} " in line for line in audit), audit
    assert 'dnsctl_drift_detected_total{owned="true",profile="myregistry"} 2.0' in metrics
