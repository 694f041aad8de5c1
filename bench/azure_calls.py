"""ARM calls per reconcile: 100 profiles in 5 zones, against the bundled Private DNS emulator.

Live registry-like replicas on 127.0.0.2 and 127.0.0.3 (plain HTTP) answer the probes; each pass is a
real `reconcile_once` through the Azure SDK, as a CronJob would run it. Prints, for each phase, the
ARM reads and writes of each pass, split into DNS changes and health-history (state) writes.

Goal: one read per zone per reconcile, zero writes in a steady state, one DNS write per changed record.

    python bench/azure_calls.py [--profiles 100] [--zones 5] [--fall 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsctl.cli.exit_codes import exit_code
from dnsctl.compose import make_prober
from dnsctl.config.convert import to_spec
from dnsctl.config.schema import DnsctlSettings
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.core.model import DnsctlSpec
from dnsctl.demo.replicas import DemoReplicas
from dnsctl.emulator import AzureEmulator, ZoneId
from dnsctl.engine import Engine
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.azure import AzureTarget

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-private-dns"


@dataclass
class Pass:
    phase: str
    reads: int
    dns_writes: int
    state_writes: int
    exit_code: int
    seconds: float


def make_spec(base_url: str, port: int, profiles: int, zones: int, fall: int) -> DnsctlSpec:
    doc: dict[str, Any] = {
        "profiles": [
            {
                "name": f"reg{i}",
                "fqdn": f"reg{i}.azurecr.io",
                "failback_hold": "0s",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": "10s",
                    "timeout": "2s",
                    "fall": fall,
                    "rise": 1,
                },
                "endpoints": [
                    {
                        "name": "eastus",
                        "target": f"reg{i}.eastus.geo.azurecr.io",
                        "priority": 1,
                        "addresses": ["127.0.0.2"],
                    },
                    {
                        "name": "westeurope",
                        "target": f"reg{i}.westeurope.geo.azurecr.io",
                        "priority": 2,
                        "addresses": ["127.0.0.3"],
                    },
                ],
                "azure": {
                    "subscription_id": SUB,
                    "resource_group": RG,
                    "zone": f"zone{i % zones}.example.internal",
                    "record": f"reg{i}",
                },
            }
            for i in range(profiles)
        ],
        "azure": {"credential": "static", "base_url": base_url},
        "safety": {"max_changes_per_run": profiles},
    }
    return to_spec(DnsctlSettings(**doc))


async def one_pass(spec: DnsctlSpec, emulator: AzureEmulator, phase: str) -> Pass:
    emulator.reset_request_log()
    clock = SystemClock()
    engine = Engine(spec, make_prober(clock=clock), clock)
    target = AzureTarget(spec, clock=clock)
    started = time.perf_counter()
    try:
        report = await reconcile_once(engine, target, MetadataStore())
    finally:
        await target.close()
    took = time.perf_counter() - started
    log = emulator.request_log()
    reads = sum(1 for r in log if r.kind == "read")
    dns = sum(1 for r in report.results if r.change.changes_dns)
    state = sum(1 for r in report.results if not r.change.changes_dns)
    return Pass(phase, reads, dns, state, int(exit_code(report)), took)


async def measure(args: argparse.Namespace) -> list[Pass]:
    passes: list[Pass] = []
    async with DemoReplicas(("eastus", "westeurope"), first_address="127.0.0.2") as replicas:
        with AzureEmulator() as emulator:
            for z in range(args.zones):
                emulator.add_zone(ZoneId(SUB, RG, f"zone{z}.example.internal"))
            spec = make_spec(emulator.base_url, replicas.port, args.profiles, args.zones, args.fall)
            passes.append(await one_pass(spec, emulator, "first run (creates)"))
            for _ in range(3):
                passes.append(await one_pass(spec, emulator, "steady state"))
            replicas.set_up("eastus", False)
            for i in range(args.fall + 1):
                passes.append(await one_pass(spec, emulator, f"eastus down, run {i + 1}"))
            replicas.set_up("eastus", True)
            for i in range(2):
                passes.append(await one_pass(spec, emulator, f"eastus back, run {i + 1}"))
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=100)
    parser.add_argument("--zones", type=int, default=5)
    parser.add_argument("--fall", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("DNSCTL_AZURE_TOKEN", "bench-token")
    passes = asyncio.run(measure(args))
    print(f"{args.profiles} profiles in {args.zones} zones, fall={args.fall}, rise=1, failback_hold=0s")
    print(f"{'phase':26} {'ARM reads':>9} {'DNS writes':>10} {'state writes':>12} {'exit':>4} {'seconds':>7}")
    for p in passes:
        print(
            f"{p.phase:26} {p.reads:9} {p.dns_writes:10} {p.state_writes:12} {p.exit_code:4} {p.seconds:7.2f}"
        )
    steady = [p for p in passes if p.phase == "steady state"]
    ok = all(p.reads == args.zones and p.dns_writes == 0 and p.state_writes == 0 for p in steady)
    print(f"goal (one read per zone, no write in steady state): {'met' if ok else 'NOT met'}")
    per_5min = args.zones * 5
    print(f"a CronJob every minute reads {per_5min} times per 5 minutes (budget: about 250)")
    if args.json:
        Path(args.json).write_text(json.dumps([p.__dict__ for p in passes], indent=1))


if __name__ == "__main__":
    main()
