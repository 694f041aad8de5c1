"""The Azure API failing and slow for a while under the controller (`RunController` in-process, the real
SDK against the emulator): the last good record stays as it is, errors are counted, and once the API is
back the controller converges by itself."""

from __future__ import annotations

from pathlib import Path

from dnsctl.compose import build_engine
from dnsctl.config.load import load
from dnsctl.controller.run import RunController
from dnsctl.emulator import AzureEmulator
from dnsctl.process.clock import SystemClock
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential
from tests.faults.kit import Replicas, cname, config, eventually, profile, record, target
from tests.support.json_at import json_int

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")
FAILED_WRITES = {"profile": NAME, "action": "update", "result": "failed"}
APPLIED_WRITES = {"profile": NAME, "action": "update", "result": "applied"}


def injected_failures(emulator: AzureEmulator) -> int:
    return sum(1 for r in emulator.request_log() if r.fault == "error")


async def test_failing_and_slow_api_keeps_the_record_then_converges(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path / "run.yaml", emulator, [profile(NAME, replicas, fall=1)], resync_interval="500ms")
    spec = load(cfg)
    # The SDK's own retries stay on (4 per call) with a short backoff, so that many failures fit in seconds.
    azure = AzureTarget(
        spec,
        StaticTokenCredential("fault-test-token"),
        clock=SystemClock(),
        retry_total=4,
        retry_backoff=0.01,
    )
    ctl = RunController(build_engine(spec), azure)
    metric = ctl.registry.get_sample_value
    await ctl.start()
    try:
        # The pass is counted a success once its write is answered: wait for both, not just the record.
        await eventually(
            lambda: (
                cname(emulator, NAME) == EAST
                and bool(metric("dnsctl_last_successful_reconcile_timestamp_seconds"))
            ),
            10,
            "the first write",
        )
        good = record(emulator, NAME)
        first_success = metric("dnsctl_last_successful_reconcile_timestamp_seconds")
        assert good is not None and first_success

        # The outage: every answer slow, a few reads and then every write failing with 500.
        emulator.set_latency(0.05)
        emulator.inject_error(6, applies_to="read")
        emulator.inject_error(10_000, applies_to="write")
        replicas.set("eastus", "stopped")
        await eventually(
            lambda: (
                injected_failures(emulator) >= 24
                and (metric("dnsctl_dns_writes_total", FAILED_WRITES) or 0) >= 3
            ),
            30,
            "20+ failed ARM calls and failed failover writes",
        )
        decision = ctl.engine.states[NAME].decision
        assert decision is not None and decision.endpoints == ("westeurope",)
        assert (metric("dnsctl_reconcile_consecutive_errors") or 0) >= 3
        assert json_int(ctl.status(), "consecutive_errors") >= 3
        # Writes still fail (the injected answers are not used up), so the record must be exactly as it was.
        assert record(emulator, NAME) == good
        assert emulator.pending_faults()["answers"], "the outage ended before the record was checked"
        assert metric("dnsctl_dns_writes_total", APPLIED_WRITES) is None
        assert metric("dnsctl_last_successful_reconcile_timestamp_seconds") == first_success

        # The API is back: the controller converges without anyone asking.
        emulator.clear_faults()
        await eventually(lambda: cname(emulator, NAME) == WEST, 10, "convergence after the outage")
        await eventually(
            lambda: metric("dnsctl_reconcile_consecutive_errors") == 0, 10, "the error gauge back to 0"
        )
        assert metric("dnsctl_dns_writes_total", APPLIED_WRITES) == 1
        assert (metric("dnsctl_last_successful_reconcile_timestamp_seconds") or 0) > first_success
        after = record(emulator, NAME)
        assert after is not None and after["properties"]["metadata"]["managed-by"] == "dnsctl"
    finally:
        await ctl.stop()


async def test_a_failed_failover_write_is_retried_before_the_next_resync(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    # The API fails exactly one write (its 4 SDK attempts) and is healthy again right after. The
    # controller must not leave the record on a dead replica until the periodic resync, minutes later.
    cfg = config(tmp_path / "run.yaml", emulator, [profile(NAME, replicas, fall=1)], resync_interval="5m")
    spec = load(cfg)
    azure = AzureTarget(
        spec,
        StaticTokenCredential("fault-test-token"),
        clock=SystemClock(),
        retry_total=4,
        retry_backoff=0.01,
    )
    ctl = RunController(build_engine(spec), azure)
    await ctl.start()
    try:
        await eventually(lambda: cname(emulator, NAME) == EAST, 10, "the first write")
        emulator.inject_error(4, applies_to="write")
        replicas.set("eastus", "stopped")
        await eventually(lambda: ctl.consecutive_errors >= 1, 10, "the failover write to fail")
        assert not emulator.pending_faults()["answers"], "the API is healthy again"
        # The zone holds the new record before the write's answer reaches the controller (on a loaded
        # machine, long before): wait for the controller to have taken that answer, then look at both.
        # 30 s: far more than a retry needs (one probe interval), far less than the resync (5 min).
        await eventually(
            lambda: ctl.registry.get_sample_value("dnsctl_dns_writes_total", APPLIED_WRITES) == 1,
            30,
            "the failed failover write to be retried",
        )
        assert cname(emulator, NAME) == WEST
        assert ctl.consecutive_errors == 0
    finally:
        await ctl.stop()
