"""Writes within the lease (the real SDK against the emulator, and the memory target): with a write guard,
no write starts and no wait for a retry begins unless it can end within the guard's window, and a pass
whose guard has lapsed ends instead of re-reading and writing again after a 412."""

from __future__ import annotations

import time
from pathlib import Path

from dnsctl.config.load import load
from dnsctl.controller.reconcile import converge
from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.intent import Intent
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.plan import Change, ReadRecord, RecordValue
from dnsctl.core.publication import RecordType
from dnsctl.process.clock import SystemClock
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential
from dnsctl.targets.base import MIN_WRITE_WINDOW, NOT_HOLDER, Outcome
from dnsctl.targets.memory import MemoryTarget
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, target
from tests.support.clock import ManualClock

NAME = "myregistry"
EAST = target(NAME, "eastus")
WANTED = {NAME: Intent(Decision(DecisionKind.ENDPOINT, ("eastus",), "eastus is first", 0.0))}


class Window:
    """A write guard whose window the test sets (a lease's, seen from the target)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def write_window(self) -> float:
        return self.seconds


def writes(emulator: WatchedEmulator) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in emulator.request_log() if r.kind == "write"]


def spec_for(tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas) -> DnsctlSpec:
    return load(config(tmp_path / "c.yaml", emulator, [profile(NAME, replicas, fall=1)]))


async def test_no_wait_on_retry_after_beyond_the_window(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    spec = spec_for(tmp_path, emulator, replicas)
    assert spec.azure.max_retry_after >= 30, "without a guard, a 30 s Retry-After would be waited for"
    clock = ManualClock()
    azure = AzureTarget(spec, StaticTokenCredential("t"), clock=clock, retry_total=4, retry_backoff=0.01)
    emulator.inject_throttle(1, retry_after=30, applies_to="write")
    started = time.monotonic()
    try:
        report = await converge(spec, azure, WANTED, guard=Window(10.0))
    finally:
        await azure.close()
    (result,) = report.results
    assert result.outcome is Outcome.FAILED
    assert NOT_HOLDER in result.error and "30s Azure asked to wait" in result.error
    assert writes(emulator) == [("PUT", 429)], "the throttled write was not tried again"
    assert cname(emulator, NAME) is None
    assert time.monotonic() - started < 30, "it did not wait for the Retry-After"
    assert clock.slept == [], "nor on the target's clock"


async def test_a_wait_within_the_window_is_taken(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    spec = spec_for(tmp_path, emulator, replicas)
    clock = ManualClock()
    azure = AzureTarget(spec, StaticTokenCredential("t"), clock=clock, retry_total=4, retry_backoff=0.01)
    emulator.inject_throttle(1, retry_after=0.2, applies_to="write")
    try:
        report = await converge(spec, azure, WANTED, guard=Window(30.0))
    finally:
        await azure.close()
    assert [r.outcome for r in report.results] == [Outcome.APPLIED]
    assert writes(emulator) == [("PUT", 429), ("PUT", 201)]
    assert cname(emulator, NAME) == EAST
    assert clock.slept == [0.2], "the Retry-After was waited for, on the target's clock"


async def test_no_write_starts_without_enough_of_the_lease_left(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    spec = spec_for(tmp_path, emulator, replicas)
    azure = AzureTarget(spec, StaticTokenCredential("t"), clock=SystemClock())
    try:
        report = await converge(spec, azure, WANTED, guard=Window(MIN_WRITE_WINDOW / 2))
    finally:
        await azure.close()
    (result,) = report.results
    assert (result.outcome, result.error) == (Outcome.FAILED, NOT_HOLDER)
    assert writes(emulator) == []


async def test_a_pass_whose_lease_lapsed_ends_at_the_412_instead_of_writing_again(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas
) -> None:
    spec = spec_for(tmp_path, emulator, replicas)
    memory = MemoryTarget()
    guard = Window(30.0)
    p = spec.profile(NAME)
    assert p.azure is not None
    key = (p.azure.zone, p.azure.record)
    owned = {"managed-by": "dnsctl", "dnsctl-profile": NAME}
    other = RecordValue(RecordType.CNAME, ("someone.else.example",), 30)
    memory.put(key, RecordType.CNAME, ReadRecord(other, None, owned))

    def someone_writes_and_the_lease_lapses(change: Change) -> None:
        memory.put(key, RecordType.CNAME, ReadRecord(other, None, owned))  # a new etag: our write gets 412
        guard.seconds = 0.0

    memory.before_write = someone_writes_and_the_lease_lapses
    report = await converge(spec, memory, WANTED, guard=guard)
    assert [r.outcome for r in report.results] == [Outcome.CONFLICT]
    assert report.conflicts_retried == 0, "no re-read once the lease may have lapsed"
    assert any(NOT_HOLDER in e.message for e in report.errors)
    assert memory.writes == 1
    assert memory.reads == 1
