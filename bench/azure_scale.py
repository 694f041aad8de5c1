"""ARM calls of `run` and `reconcile` at scale: N records in one zone, against the bundled emulator.

For each N, through the real Azure SDK, counts the emulator's reads and writes:
- `run` (a `RunController`, its rounds driven here: one round of all profiles each time) to start
  (records created), to fail every record over (eastus down), per 5 minutes steady (a resync at the
  default 5-minute interval, and 30 rounds of probes at a 10 s interval);
- a one-shot `reconcile` (fall: 3) of a regional failover, run as a CronJob would until converged.
The emulator keeps Azure's budgets (250 reads, 800 writes per window per subscription) in a window
shortened to `--window` seconds so that pacing shows in seconds, not hours: the pauses are the window's.
The probes are answered by a stand-in (no network): this measures the Azure side only.

Targets: run fails 5,000 records over with <= 51 reads and <= 5,000 writes; a one-shot reconcile
of a regional failover costs <= N writes.

    python bench/azure_scale.py [--sizes 100,1000,5000] [--window 5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dnsctl.config.convert import to_spec
from dnsctl.config.schema import DnsctlSettings
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.run import RunController
from dnsctl.core.model import DnsctlSpec, EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.emulator import AzureEmulator, ZoneId
from dnsctl.engine import Engine
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-private-dns"
ZONE = "scale.example.internal"


class StandIn:
    """Answers probes from a set of regions that are down (no network: the Azure side is measured)."""

    def __init__(self) -> None:
        self.down: set[str] = set()

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        if endpoint.name in self.down:
            return ProbeResult(
                profile.name, endpoint.name, now, False, 0.001, endpoint.target,
                reason=FailureReason.REFUSED, detail="connection refused",
            )  # fmt: skip
        return ProbeResult(profile.name, endpoint.name, now, True, 0.001, endpoint.target, status_code=401)


@dataclass
class Row:
    n: int
    phase: str
    reads: int
    writes: int
    seconds: float


def make_spec(base_url: str, n: int, fall: int) -> DnsctlSpec:
    doc: dict[str, Any] = {
        "profiles": [
            {
                "name": f"reg{i}",
                "fqdn": f"reg{i}.azurecr.io",
                "failback_hold": "0s",
                "monitor": {"protocol": "http", "interval": "10s", "timeout": "2s", "fall": fall, "rise": 1},
                "endpoints": [
                    {"name": "eastus", "target": f"reg{i}.eastus.geo.azurecr.io", "priority": 1},
                    {"name": "westeurope", "target": f"reg{i}.westeurope.geo.azurecr.io", "priority": 2},
                ],
                "azure": {"subscription_id": SUB, "resource_group": RG, "zone": ZONE, "record": f"reg{i}"},
            }
            for i in range(n)
        ],
        "azure": {"credential": "static", "base_url": base_url},
        "safety": {"max_changes_per_run": n},
    }
    return to_spec(DnsctlSettings(**doc))


def counted(emulator: AzureEmulator) -> tuple[int, int]:
    log = emulator.request_log()
    return sum(1 for r in log if r.kind == "read"), sum(1 for r in log if r.kind == "write")


def on(emulator: AzureEmulator, n: int, region: str) -> bool:
    want = {f"reg{i}.{region}.geo.azurecr.io" for i in range(n)}
    got = {
        rs["properties"]["cnameRecord"]["cname"]
        for rs in emulator.record_sets(ZoneId(SUB, RG, ZONE))
        if "cnameRecord" in rs["properties"]
    }
    return want <= got


async def until(check: Callable[[], bool], limit: float) -> None:
    end = time.monotonic() + limit
    while not check():
        if time.monotonic() > end:
            raise SystemExit(f"not converged within {limit:.0f}s")
        await asyncio.sleep(0.5)


async def measure_run(n: int, window: float, rows: list[Row]) -> None:
    emulator = AzureEmulator(budget_window=window).start()
    emulator.add_zone(ZoneId(SUB, RG, ZONE))
    spec = make_spec(emulator.base_url, n, fall=1)
    prober = StandIn()
    target = AzureTarget(spec, StaticTokenCredential("bench"), clock=SystemClock(), budget_wait=window)
    ctl = RunController(Engine(spec, prober, SystemClock()), target)
    ctl._scheduled = True  # the rounds are driven here, one round of all profiles at a time
    limit = 60 + 3 * window * math.ceil(n / 790)
    try:
        ctl.scheduler.start()
        started = time.perf_counter()
        assert await ctl._read_stored()
        await ctl.handle(await ctl.engine.round())
        await until(lambda: on(emulator, n, "eastus"), limit)
        rows.append(Row(n, "run: start (creates)", *counted(emulator), time.perf_counter() - started))

        emulator.reset_request_log()
        started = time.perf_counter()
        prober.down.add("eastus")
        await ctl.handle(await ctl.engine.round())
        await until(lambda: on(emulator, n, "westeurope"), limit)
        rows.append(Row(n, "run: fail every record over", *counted(emulator), time.perf_counter() - started))

        emulator.reset_request_log()
        started = time.perf_counter()
        await ctl.resync()  # every 5 minutes (resync_interval)
        for _ in range(30):  # 5 minutes of rounds at a 10 s interval
            await ctl.handle(await ctl.engine.round())
        rows.append(Row(n, "run: 5 min steady", *counted(emulator), time.perf_counter() - started))
    finally:
        await ctl.stop()
        emulator.stop()


async def one_shot(spec: DnsctlSpec, prober: StandIn, window: float) -> bool:
    target = AzureTarget(spec, StaticTokenCredential("bench"), clock=SystemClock(), budget_wait=window)
    try:
        report = await reconcile_once(Engine(spec, prober, SystemClock()), target, MetadataStore())
    finally:
        await target.close()
    return not report.failed and not report.errors


async def runs_until_converged(spec: DnsctlSpec, prober: StandIn, window: float) -> int:
    for run in range(1, 100):
        if await one_shot(spec, prober, window):
            return run
        await asyncio.sleep(window)  # a CronJob's next run, once the budget's window has turned
    raise SystemExit("reconcile did not converge within 99 runs")


async def measure_reconcile(n: int, window: float, rows: list[Row]) -> None:
    emulator = AzureEmulator(budget_window=window).start()
    emulator.add_zone(ZoneId(SUB, RG, ZONE))
    spec = make_spec(emulator.base_url, n, fall=3)
    prober = StandIn()
    try:
        await runs_until_converged(spec, prober, window)  # the first runs create the records, paced
        emulator.reset_request_log()
        emulator.reset_rate_limits()
        started = time.perf_counter()
        prober.down.add("eastus")
        runs = await runs_until_converged(spec, prober, window)  # later runs write what was held back
        assert on(emulator, n, "westeurope")
        phase = f"reconcile: regional failover ({runs} run{'s' if runs > 1 else ''})"
        rows.append(Row(n, phase, *counted(emulator), time.perf_counter() - started))
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--window", type=float, default=5.0, help="the emulator's budget window, seconds")
    args = parser.parse_args()
    os.environ.setdefault("DNSCTL_AZURE_TOKEN", "bench-token")
    rows: list[Row] = []
    for n in [int(s) for s in args.sizes.split(",")]:
        asyncio.run(measure_run(n, args.window, rows))
        asyncio.run(measure_reconcile(n, args.window, rows))
    print(f"{'N':>5}  {'phase':42} {'reads':>6} {'writes':>6} {'seconds':>8}")
    for r in rows:
        print(f"{r.n:5}  {r.phase:42} {r.reads:6} {r.writes:6} {r.seconds:8.1f}")
    for r in rows:
        if r.phase.startswith("run: fail"):
            ok = r.reads <= math.ceil((r.n + 1) / 100) and r.writes <= r.n
            print(f"N={r.n}: run failover <= {math.ceil((r.n + 1) / 100)} reads and <= N writes: {ok}")
        if r.phase.startswith("reconcile"):
            print(f"N={r.n}: one-shot regional failover <= N writes: {r.writes <= r.n}")


if __name__ == "__main__":
    main()
