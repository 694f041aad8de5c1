"""The Azure target's bounded waits, with the real SDK against the emulator: the create half of a type
switch is tried again within azure.deadline, and nothing runs past it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import Report
from dnsctl.core.model import (
    AzureCredentialKind,
    AzureSpec,
    DnsctlSpec,
    EndpointSpec,
    MonitorSpec,
    ProfileSpec,
)
from dnsctl.core.publication import AzureRecordSpec
from dnsctl.emulator import AzureEmulator, ZoneId
from dnsctl.engine import Engine
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential
from dnsctl.targets.base import Outcome
from tests.support.clock import ManualClock

from .scripted import ScriptedProber

ZONE = ZoneId("00000000-0000-0000-0000-000000000000", "rg", "privatelink.azurecr.io")
EAST = "myregistry.eastus.geo.azurecr.io"
OWNED = {"managed-by": "dnsctl", "dnsctl-profile": "myregistry"}


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator() as emu:
        emu.add_zone(ZONE)
        emu.seed_record_set(
            ZONE, "A", "myregistry", {"ttl": 30, "aRecords": [{"ipv4Address": "10.1.0.5"}], "metadata": OWNED}
        )
        yield emu


def spec(emulator: AzureEmulator, deadline: float) -> DnsctlSpec:
    profile = ProfileSpec(
        name="myregistry",
        fqdn="myregistry.azurecr.io",
        endpoints=(EndpointSpec("eastus", EAST, 1, addresses=("10.1.0.5",)),),
        monitor=MonitorSpec(fall=1, rise=1),
        azure=AzureRecordSpec(
            ZONE.subscription, ZONE.resource_group, ZONE.name, "myregistry", allow_type_change=True
        ),
    )
    azure = AzureSpec(credential=AzureCredentialKind.STATIC, base_url=emulator.base_url, deadline=deadline)
    return DnsctlSpec(profiles=(profile,), azure=azure)


async def switch(emulator: AzureEmulator, deadline: float, clock: ManualClock | None = None) -> Report:
    """One reconcile pass; the waits (the SDK's backoff, dnsctl's pause) are taken on a manual clock."""
    s = spec(emulator, deadline)
    clock = clock if clock is not None else ManualClock()
    target = AzureTarget(s, StaticTokenCredential("t"), clock=clock, retry_total=1, retry_backoff=0.01)
    try:
        return await reconcile_once(Engine(s, ScriptedProber(), clock), target, MetadataStore())
    finally:
        await target.close()


async def test_the_create_half_of_a_type_switch_is_tried_again(emulator: AzureEmulator) -> None:
    # Three 500s on the create: the SDK's own retry takes two, dnsctl tries again after a pause.
    emulator.inject_error(3, status=500, applies_to="write", path_contains="/CNAME/")
    clock = ManualClock()
    report = await switch(emulator, deadline=20, clock=clock)
    assert 1.0 in clock.slept, "dnsctl paused 1 s (on its clock) before trying the create again"
    assert [(r.change.action.value, r.outcome) for r in report.results] == [
        ("delete", Outcome.APPLIED),
        ("create", Outcome.APPLIED),
    ]
    assert exit_code(report) is ExitCode.CONVERGED
    puts = [r.status for r in emulator.request_log() if r.method == "PUT"]
    assert puts[:3] == [500, 500, 500] and puts[3] in (200, 201), "two SDK tries, then dnsctl's own"
    assert emulator.record_set(ZONE, "A", "myregistry") is None
    rs = emulator.record_set(ZONE, "CNAME", "myregistry")
    assert rs is not None and rs["properties"]["cnameRecord"]["cname"] == EAST


async def test_retries_of_the_create_stop_at_the_deadline_and_say_the_name_is_empty(
    emulator: AzureEmulator,
) -> None:
    emulator.inject_error(10_000, status=503, applies_to="write", path_contains="/CNAME/")
    started = time.monotonic()
    report = await switch(emulator, deadline=2.5)
    assert time.monotonic() - started < 2.5 + 2
    delete, create = report.results
    assert delete.outcome is Outcome.APPLIED and create.outcome is Outcome.FAILED
    assert "within azure.deadline" in create.error and "no record until a later pass" in create.hint
    assert "no record between the delete and the create" in create.change.reason
    assert exit_code(report) is ExitCode.FAILED
