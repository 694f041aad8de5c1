"""A write that lands while its answer is lost (`dnsctl run` as a process, the emulator resetting the
connection after applying the PUT): the SDK's retry gets 412 on the etag the landed write changed, the
re-read finds dnsctl's own write id, and the write is audited exactly once and never called drift."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, record, target

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")


def audit_lines(log: str, after: str) -> list[str]:
    return [line for line in log.splitlines() if "dns change:" in line and f"after=CNAME {after} " in line]


def zone_reads(emulator: WatchedEmulator) -> int:
    return sum(1 for r in emulator.request_log() if r.method == "GET" and r.status == 200)


def test_a_write_whose_answer_was_reset_is_audited_once_and_never_drift(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    admin_port = free_port()
    cfg = config(
        tmp_path / "run.yaml",
        emulator,
        [profile(NAME, replicas, fall=1)],
        admin={"listen": f"127.0.0.1:{admin_port}"},
        resync_interval="500ms",
    )
    with Daemon("run", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "run.log") as d:
        d.wait_until(lambda: cname(emulator, NAME) == EAST, 30, "the first write")
        emulator.inject_reset_after_apply(1, applies_to="write")
        replicas.set("eastus", "stopped")
        d.wait_until(lambda: cname(emulator, NAME) == WEST, 30, "the failover write")
        d.wait_until(lambda: audit_lines(d.log(), WEST), 30, "the failover's audit line")
        # Several resyncs read the record (the one holding dnsctl's own write) after that.
        reads = zone_reads(emulator)
        d.wait_until(lambda: zone_reads(emulator) >= reads + 4, 30, "four more zone reads (resyncs)")
        log = d.log()
        metrics = d.get("/metrics").text
        status = d.status()

    requests = emulator.request_log()
    reset = [r for r in requests if r.fault == "reset"]
    assert [(r.method, r.status) for r in reset] == [("PUT", 200)], "the write landed, its answer was lost"
    after_reset = [r for r in requests if r.method == "PUT" and r.at > reset[0].at]
    assert after_reset and after_reset[0].status == 412, "the SDK's retry met the etag the landed write set"
    assert "records changed while writing (412)" in log
    assert len(audit_lines(log, WEST)) == 1, log
    assert "the write's answer was lost, but the record holds it" in log
    assert "changed outside dnsctl" not in log, log
    assert status["profiles"][0]["drift"] is None
    assert 'dnsctl_dns_writes_total{action="update",profile="myregistry",result="applied"} 1.0' in metrics
    rs = record(emulator, NAME)
    assert rs is not None and rs["properties"]["metadata"]["managed-by"] == "dnsctl"
    # Nothing was written after the recognised write: no second PUT that re-wrote the same value.
    assert [r.status for r in after_reset] == [412], [(r.method, r.status) for r in after_reset]
