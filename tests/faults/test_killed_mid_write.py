"""The process killed (SIGKILL) between the read and the write of a failover: no partial state is left
behind, and the next run converges. The emulator holds each ARM request in flight (its answer waits
until the test lets it go, after the kill) and tells when it arrives, so the kill lands exactly where
each test wants it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPO, RG, SUB, TOKEN, ZONE, ZONE_ID, dnsctl, free_port
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, record, target, wait_for
from tests.support.waits import wait_exit

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")
HELD = 1.0  # with 5 more: the bound on the wait for an orphaned request's answer


def answered(emulator: WatchedEmulator, method: str) -> bool:
    return any(r.method == method for r in emulator.request_log())


def start_run(cfg: Path, tmp_path: Path, admin_port: int, log: str) -> Daemon:
    d = Daemon("run", "-c", str(cfg), admin_port=admin_port, log=tmp_path / log).start()
    d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
    return d


def fail_over_and_kill_at(
    method: str, tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> tuple[Path, int, dict[str, Any]]:
    """Run the controller on eastus, kill eastus, and SIGKILL the controller when its `method` arrives."""
    admin_port = free_port()
    cfg = config(
        tmp_path / "run.yaml",
        emulator,
        [profile(NAME, replicas, fall=1)],
        admin={"listen": f"127.0.0.1:{admin_port}"},
    )
    d = start_run(cfg, tmp_path, admin_port, "run.log")
    try:
        d.wait_until(lambda: cname(emulator, NAME) == EAST, 10, "the first write")
        before = record(emulator, NAME)
        assert before is not None
        emulator.reset_request_log()
        emulator.forget_arrivals()
        emulator.hold_answers(method)
        replicas.set("eastus", "stopped")
        emulator.wait_arrival(method, 15)
    finally:
        d.kill()
        emulator.release_answers()  # the request in flight is answered now, to a dead process
    return cfg, admin_port, before


def test_killed_during_the_read_writes_nothing_and_reconcile_converges(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    cfg, _, before = fail_over_and_kill_at("GET", tmp_path, emulator, replicas)
    wait_for(lambda: answered(emulator, "GET"), HELD + 5, "the orphaned read to be answered")
    assert [r for r in emulator.request_log() if r.kind == "write"] == []
    assert record(emulator, NAME) == before

    r = dnsctl("reconcile", "-c", str(cfg))
    assert r.code == 0, r.stdout + r.stderr
    after = record(emulator, NAME)
    assert after is not None and cname(emulator, NAME) == WEST
    assert after["properties"]["metadata"]["managed-by"] == "dnsctl"
    # Converged: a second run finds nothing to change.
    emulator.reset_request_log()
    assert dnsctl("reconcile", "-c", str(cfg)).code == 0
    assert [(r.method, r.kind) for r in emulator.request_log()] == [("GET", "read")]


def test_killed_with_the_write_in_flight_leaves_a_whole_record_and_a_restart_converges(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    cfg, admin_port, before = fail_over_and_kill_at("PUT", tmp_path, emulator, replicas)
    # The write reached Azure before the process died: it lands whole (value, TTL and metadata together).
    wait_for(lambda: answered(emulator, "PUT"), HELD + 5, "the orphaned write to be answered")
    landed = record(emulator, NAME)
    assert landed is not None and landed["etag"] != before["etag"]
    assert landed["properties"]["cnameRecord"] == {"cname": WEST}
    assert landed["properties"]["ttl"] == 30
    metadata = landed["properties"]["metadata"]
    assert (
        metadata["managed-by"] == "dnsctl" and metadata["dnsctl-profile"] == NAME and metadata["dnsctl-state"]
    )

    # A restart takes that record as its own: no flip back, and failback still works.
    emulator.reset_request_log()
    d = start_run(cfg, tmp_path, admin_port, "run2.log")
    try:
        assert cname(emulator, NAME) == WEST
        assert d.status()["profiles"][0]["decision"]["endpoints"] == ["westeurope"]
        dns_writes = [r for r in emulator.request_log() if r.kind == "write"]
        assert all(r.status == 200 for r in dns_writes)  # conditional writes on the etag it read succeed
        replicas.set("eastus", "healthy")
        d.wait_until(lambda: cname(emulator, NAME) == EAST, 10, "the failback after the restart")
        assert d.terminate() == 0
    finally:
        d.kill()


def test_killed_between_the_two_halves_of_a_type_switch_then_reconcile_recreates_the_record(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    # dnsctl publishes an A record first, then the profile switches to CNAME (delete, then create).
    as_a = config(
        tmp_path / "a.yaml",
        emulator,
        [profile(NAME, replicas, fall=1, azure=_azure(record_type="A"))],
    )
    assert dnsctl("reconcile", "-c", str(as_a)).code == 0
    assert emulator.record_set(ZONE_ID, "A", NAME) is not None
    as_cname = config(
        tmp_path / "cname.yaml",
        emulator,
        [profile(NAME, replicas, fall=1, azure=_azure(record_type="CNAME", allow_type_change=True))],
    )
    emulator.reset_request_log()
    emulator.forget_arrivals()
    emulator.hold_answers("DELETE")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsctl", "reconcile", "-c", str(as_cname)],
        cwd=REPO,
        env={**os.environ, "DNSCTL_AZURE_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        emulator.wait_arrival("DELETE", 15)
    finally:
        proc.kill()
        wait_exit(proc, 10)
        emulator.release_answers()  # the delete in flight is answered now, to a dead process
    wait_for(lambda: answered(emulator, "DELETE"), HELD + 5, "the orphaned delete to be answered")
    # Half a switch: the old type is gone, the new one was never asked for.
    assert emulator.record_set(ZONE_ID, "A", NAME) is None
    assert record(emulator, NAME) is None
    assert not answered(emulator, "PUT")

    r = dnsctl("reconcile", "-c", str(as_cname))
    assert r.code == 0, r.stdout + r.stderr
    assert cname(emulator, NAME) == EAST
    assert emulator.record_set(ZONE_ID, "A", NAME) is None


def _azure(**fields: Any) -> dict[str, Any]:
    return {"subscription_id": SUB, "resource_group": RG, "zone": ZONE, "record": NAME, **fields}
