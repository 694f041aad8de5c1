"""The controller's own network cut (`dnsctl run` as a process): no probe of any profile gets an answer,
and the isolation guard freezes the records instead of sending every profile to its fallback."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.faults.kit import (
    PROFILES,
    REGIONS,
    Replicas,
    WatchedEmulator,
    cname,
    config,
    profile,
    record,
    sample,
    target,
    total,
)

FALLBACK = "fallback.example.com"


def guard(d: Daemon) -> float | None:
    return sample(d.get("/metrics").text, "dnsctl_isolation_guard_active")


def wait_cname(d: Daemon, emulator: WatchedEmulator, name: str, region: str, what: str) -> None:
    want = target(name, region)
    d.wait_until(lambda: cname(emulator, name) == want, 15, f"{name}: {what}")


def poll(d: Daemon, check: Callable[[], bool], limit: float, what: str) -> None:
    """While every replica is a black hole nothing the test can observe happens (no probe reaches a
    replica, the daemon writes no line per failed probe): an event wait would sleep to its deadline.
    Re-read instead, twice a probe interval, at most `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        assert d.proc is not None and d.proc.poll() is None, f"dnsctl exited waiting for {what}\n{d.log()}"
        assert time.monotonic() < deadline, f"timed out after {limit}s waiting for {what}\n{d.log()[-4000:]}"
        time.sleep(0.2)


# fall 1 is the edge: the profile probed first after the cut cannot yet see that the others fail too.
@pytest.mark.parametrize("fall", [3, 1], ids=["fall=3", "fall=1"])
def test_isolation_guard_freezes_then_resumes(
    fall: int, tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    admin_port = free_port()
    # Without the guard, `fall` failures would send every profile to its fallback: a visible change.
    profiles = [
        profile(
            name,
            replicas,
            fall=fall,
            interval="400ms",
            timeout="300ms",
            when_all_down="fallback",
            fallback=FALLBACK,
        )
        for name in PROFILES
    ]
    cfg = config(tmp_path / "run.yaml", emulator, profiles, admin={"listen": f"127.0.0.1:{admin_port}"})
    with Daemon("run", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "run.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        for name in PROFILES:
            wait_cname(d, emulator, name, "eastus", "the first write")
        before = {name: record(emulator, name) for name in PROFILES}
        baseline = d.get("/metrics").text
        emulator.reset_request_log()

        # The network goes dark: no replica answers at all (a refusal would prove the path works).
        replicas.set_all("blackhole")

        def failed_enough() -> bool:
            now = d.get("/metrics").text
            return all(
                total(now, "dnsctl_probe_failures_total", profile=name, endpoint=region)
                >= total(baseline, "dnsctl_probe_failures_total", profile=name, endpoint=region) + fall + 1
                for name in PROFILES
                for region in REGIONS
            )

        poll(d, failed_enough, 20, f"every endpoint to fail {fall + 1} more probes")
        for name in PROFILES:
            assert record(emulator, name) == before[name], f"{name}'s record changed under the guard"
        assert [r for r in emulator.request_log() if r.kind == "write"] == []
        metrics = d.get("/metrics").text
        assert sample(metrics, "dnsctl_isolation_guard_active") == 1
        for name in PROFILES:
            for region in REGIONS:  # health is not degraded by probes the guard distrusts
                assert sample(metrics, "dnsctl_endpoint_up", profile=name, endpoint=region) == 1
        status = d.status()
        assert status["isolated"] is True
        for p in status["profiles"]:
            assert "isolation guard" in p["decision"]["reason"]
            assert p["decision"]["endpoints"] == ["eastus"]
        assert "ISOLATION GUARD: every endpoint of every profile is failing" in d.log()

        # The network is back: the guard lets go, and nothing moved.
        replicas.set_all("healthy")
        d.wait_until(lambda: guard(d) == 0, 10, "the guard to release")
        assert "isolation guard released" in d.log()
        assert {name: record(emulator, name) for name in PROFILES} == before
        assert d.status()["isolated"] is False

        # Decisions are live again: a real failure of one replica moves every profile.
        replicas.set("eastus", "stopped")
        for name in PROFILES:
            wait_cname(d, emulator, name, "westeurope", "the failover")
        assert guard(d) == 0
        assert d.terminate() == 0
