"""Azure calls by the zone, not by the profile: the real SDK against the emulator, its requests counted.

Live HTTP replicas on 127.0.0.2 (eastus) and 127.0.0.3 (westeurope) answer the probes; `run` is a
`RunController` in-process, `reconcile` the one-shot pass a CronJob runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from dnsctl.compose import build_engine, make_prober
from dnsctl.config.convert import to_spec
from dnsctl.config.schema import DnsctlSettings
from dnsctl.controller import zone_writes
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import Report
from dnsctl.controller.run import RunController
from dnsctl.core.model import DnsctlSpec
from dnsctl.demo.replicas import DemoReplicas
from dnsctl.emulator import AzureEmulator, ZoneId
from dnsctl.engine import Engine
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential
from dnsctl.targets.base import Outcome
from tests.faults.kit import eventually

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-private-dns"
ZONES = ("a.example.internal", "b.example.internal")


def spec_of(
    emulator: AzureEmulator,
    port: int,
    names: list[str],
    *,
    fall: int,
    interval: str = "10s",
    zone_of: dict[str, str] | None = None,
    ttl: dict[str, int] | None = None,
    first: dict[str, str] | None = None,
    **extra: Any,
) -> DnsctlSpec:
    """Profiles with an endpoint in each region (eastus first, unless `first` names another)."""
    profiles = []
    for name in names:
        regions = [("eastus", "127.0.0.2"), ("westeurope", "127.0.0.3")]
        if (first or {}).get(name) == "westeurope":
            regions.reverse()
        profiles.append(
            {
                "name": name,
                "fqdn": f"{name}.azurecr.io",
                "ttl": (ttl or {}).get(name, 30),
                "failback_hold": "0s",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": interval,
                    "timeout": "2s",
                    "fall": fall,
                    "rise": 1,
                },
                "endpoints": [
                    {"name": r, "target": f"{name}.{r}.geo.azurecr.io", "priority": i + 1, "addresses": [ip]}
                    for i, (r, ip) in enumerate(regions)
                ],
                "azure": {
                    "subscription_id": SUB,
                    "resource_group": RG,
                    "zone": (zone_of or {}).get(name, ZONES[0]),
                    "record": name,
                },
            }
        )
    doc = {
        "profiles": profiles,
        "azure": {"credential": "static", "base_url": emulator.base_url},
        "safety": {"max_changes_per_run": 100},
        **extra,
    }
    return to_spec(DnsctlSettings(**doc))


@pytest.fixture
async def replicas() -> AsyncIterator[DemoReplicas]:
    async with DemoReplicas(("eastus", "westeurope"), first_address="127.0.0.2") as r:
        yield r


def lab_emulator(**budget: Any) -> AzureEmulator:
    emu = AzureEmulator(**budget)
    emu.start()
    for zone in ZONES:
        emu.add_zone(ZoneId(SUB, RG, zone))
    return emu


def cname(emulator: AzureEmulator, name: str, zone: str = ZONES[0]) -> str | None:
    rs = emulator.record_set(ZoneId(SUB, RG, zone), "CNAME", name)
    return None if rs is None else rs["properties"]["cnameRecord"]["cname"]


def calls(emulator: AzureEmulator) -> tuple[int, int]:
    log = emulator.request_log()
    return sum(1 for r in log if r.kind == "read"), sum(1 for r in log if r.kind == "write")


async def one_shot(spec: DnsctlSpec) -> Report:
    target = AzureTarget(spec, StaticTokenCredential("t"), clock=SystemClock(), retry_total=0)
    try:
        return await reconcile_once(
            Engine(spec, make_prober(clock=SystemClock()), SystemClock()), target, MetadataStore()
        )
    finally:
        await target.close()


async def test_run_fails_many_records_over_from_one_listing_per_zone(
    replicas: DemoReplicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wider window than the default second: the 12 decisions come within one probe interval (300 ms)
    # of each other, but a loaded machine may stall the loop for longer than the rest of a second.
    monkeypatch.setattr(zone_writes, "COALESCE_WINDOW", 3.0)
    emulator = lab_emulator()
    names = [f"reg{i}" for i in range(12)]
    zone_of = {n: ZONES[i % 2] for i, n in enumerate(names)}
    spec = spec_of(emulator, replicas.port, names, fall=1, interval="300ms", zone_of=zone_of)
    ctl = RunController(
        build_engine(spec), AzureTarget(spec, StaticTokenCredential("t"), clock=SystemClock())
    )
    await ctl.start()
    try:
        await eventually(
            lambda: all(cname(emulator, n, zone_of[n]) == f"{n}.eastus.geo.azurecr.io" for n in names),
            20,
            "every record created",
        )
        emulator.reset_request_log()
        replicas.set_up("eastus", False)
        await eventually(
            lambda: all(cname(emulator, n, zone_of[n]) == f"{n}.westeurope.geo.azurecr.io" for n in names),
            20,
            "every record failed over",
        )
        reads, writes = calls(emulator)
        # One listing of each zone (6 records + SOA: one page), one write per record.
        assert reads == len(ZONES), [(r.method, r.path) for r in emulator.request_log()]
        assert writes == len(names)
    finally:
        await ctl.stop()
        emulator.stop()


async def test_run_writes_nothing_for_health_that_changes_while_the_answer_does_not(
    replicas: DemoReplicas,
) -> None:
    emulator = lab_emulator()
    names = ["reg0", "reg1", "reg2"]
    # fall 10 at 300 ms: westeurope stays counting failures (not Degraded) for ~3 s, across resyncs.
    spec = spec_of(emulator, replicas.port, names, fall=10, interval="300ms", resync_interval="200ms")
    ctl = RunController(
        build_engine(spec), AzureTarget(spec, StaticTokenCredential("t"), clock=SystemClock())
    )
    await ctl.start()
    try:
        await eventually(lambda: all(cname(emulator, n) for n in names), 20, "every record created")
        emulator.reset_request_log()
        replicas.set_up("westeurope", False)
        await eventually(
            lambda: (
                ctl.engine.states["reg0"].endpoints["westeurope"].failures >= 2 and calls(emulator)[0] >= 2
            ),
            20,
            "two failures counted and two resyncs",
        )
        assert calls(emulator)[1] == 0, "probe counts alone are no reason to write a record"
        assert all(cname(emulator, n) == f"{n}.eastus.geo.azurecr.io" for n in names)
    finally:
        await ctl.stop()
        emulator.stop()


async def test_reconcile_fails_a_region_over_with_one_write_per_record_and_steady_costs_one_listing(
    replicas: DemoReplicas,
) -> None:
    emulator = lab_emulator()
    names = [f"reg{i}" for i in range(6)]
    spec = spec_of(emulator, replicas.port, names, fall=3)
    await one_shot(spec)
    assert all(cname(emulator, n) == f"{n}.eastus.geo.azurecr.io" for n in names)
    emulator.reset_request_log()
    await one_shot(spec)
    assert calls(emulator) == (1, 0), "a steady run: one listing of the zone, no write"

    emulator.reset_request_log()
    replicas.set_up("eastus", False)
    for _ in range(3):  # a CronJob's runs while eastus is down
        await one_shot(spec)
    assert all(cname(emulator, n) == f"{n}.westeurope.geo.azurecr.io" for n in names)
    reads, writes = calls(emulator)
    assert writes == len(names), "a regional failover costs one write per record, no history writes"
    assert reads == 3


async def test_writes_are_paced_to_the_remaining_budget_failovers_first(replicas: DemoReplicas) -> None:
    # 18 writes in the window: 8 to create the records, then 10 left; writes stop once Azure says
    # 5 are left (the reserve), so the second run may write 5 of its 8 changes.
    emulator = lab_emulator(write_budget=18)
    moved = [f"cfg{i}" for i in range(4)]  # listed first, on westeurope: a change of ttl, no failover
    failing = [f"reg{i}" for i in range(4)]  # on eastus, which goes down
    names = moved + failing
    first = {n: "westeurope" for n in moved}
    await one_shot(spec_of(emulator, replicas.port, names, fall=1, first=first))
    assert all(cname(emulator, n) for n in names)
    emulator.reset_request_log()

    replicas.set_up("eastus", False)
    second = spec_of(emulator, replicas.port, names, fall=1, first=first, ttl={n: 60 for n in moved})
    report = await one_shot(second)

    assert all(cname(emulator, n) == f"{n}.westeurope.geo.azurecr.io" for n in failing), "failovers first"
    applied = [r.change.profile for r in report.results if r.outcome is Outcome.APPLIED]
    held = [r for r in report.results if r.outcome is not Outcome.APPLIED]
    assert applied[:4] == failing and len(applied) == 5
    assert len(held) == 3 and all(r.error.startswith("deferred:") and r.retry_in for r in held)
    writes = [r for r in emulator.request_log() if r.kind == "write"]
    assert len(writes) == 5 and all(w.fault is None for w in writes), "no write was sent to be throttled"


async def test_run_writes_what_the_budget_held_back_later_from_the_same_listing(
    replicas: DemoReplicas,
) -> None:
    # 14 writes per 5 s window: the 8 creations leave 6, so the failover (within the same window: about
    # a second later) may write one before 5 are left; the other 7 wait for the next window and are
    # written then, without listing the zone again.
    emulator = lab_emulator(write_budget=14, budget_window=5.0)
    names = [f"reg{i}" for i in range(8)]
    spec = spec_of(emulator, replicas.port, names, fall=1, interval="300ms")
    target = AzureTarget(spec, StaticTokenCredential("t"), clock=SystemClock(), budget_wait=5.0)
    ctl = RunController(build_engine(spec), target)
    await ctl.start()
    try:
        await eventually(
            lambda: all(cname(emulator, n) == f"{n}.eastus.geo.azurecr.io" for n in names), 30, "creations"
        )
        emulator.reset_request_log()
        replicas.set_up("eastus", False)
        await eventually(
            lambda: all(cname(emulator, n) == f"{n}.westeurope.geo.azurecr.io" for n in names),
            30,
            "every record failed over, over two budget windows",
        )
        log = emulator.request_log()
        writes = [r for r in log if r.kind == "write"]
        assert len(writes) == len(names) and all(w.fault is None for w in writes), "none sent over the budget"
        assert sum(1 for r in log if r.kind == "read") <= 1, "the writes held back reuse the listing"
        assert writes[-1].at - writes[0].at >= 1.0, "the last writes waited for the budget"
    finally:
        await ctl.stop()
        emulator.stop()
