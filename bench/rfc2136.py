"""The RFC 2136 target against real BIND 9, Knot and PowerDNS on this machine.

    python bench/rfc2136.py [--records 1000] [--rounds 5] [--servers bind,knot,pdns]

Installs the servers with apt-get when they are missing (needs root; tests/support/system_packages.py).
Each server runs on loopback with a TSIG key (tests/rfc2136/servers.py). Prints, per server:
- decision -> answer: the time from a decision handed to the target (read, plan, a conditional update,
  the read back) until the primary answers the new value to a plain query; the median of `--rounds`
  failovers back and forth;
- updates/s (BIND and Knot): one pass creating `--records` records, each a conditional update with its
  owner TXT and a read back, divided into the pass's wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnsctl.controller.reconcile import converge
from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.intent import Intent
from dnsctl.core.model import DnsctlSpec, EndpointSpec, ProfileSpec, SafetySpec
from dnsctl.core.publication import Rfc2136RecordSpec, TsigSpec
from dnsctl.targets.rfc2136 import TSIG_SECRET_ENV, Rfc2136Target
from tests.rfc2136.harness import query
from tests.rfc2136.servers import KEY_NAME, SECRET, ZONE, Primary

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
POLL_LIMIT = 30.0


def spec_for(primary: Primary, n: int) -> DnsctlSpec:
    profiles = tuple(
        ProfileSpec(
            name=f"r{i}",
            fqdn=f"r{i}.azurecr.io",
            endpoints=(EndpointSpec("eastus", EAST, 1), EndpointSpec("westeurope", WEST, 2)),
            target=Rfc2136RecordSpec(
                server="127.0.0.1", port=primary.port, zone=ZONE, record=f"r{i}", tsig=TsigSpec(KEY_NAME)
            ),
        )
        for i in range(n)
    )
    return DnsctlSpec(profiles=profiles, safety=SafetySpec(max_changes_per_run=n + 1))


def intents(spec: DnsctlSpec, endpoint: str) -> dict[str, Intent]:
    d = Decision(DecisionKind.ENDPOINT, (endpoint,), f"{endpoint} (bench)", 0.0)
    return {p.name: Intent(d) for p in spec.profiles}


async def decision_to_answer(primary: Primary, rounds: int) -> list[float]:
    spec = spec_for(primary, 1)
    env = {TSIG_SECRET_ENV: SECRET}
    report = await converge(spec, Rfc2136Target(spec, env), intents(spec, "eastus"))
    assert not report.failed, report.errors or [r.error for r in report.results]
    times = []
    for i in range(rounds):
        endpoint, value = ("westeurope", WEST) if i % 2 == 0 else ("eastus", EAST)
        start = time.perf_counter()
        report = await converge(spec, Rfc2136Target(spec, env), intents(spec, endpoint))
        assert not report.failed, report.errors or [r.error for r in report.results]
        deadline = start + POLL_LIMIT
        while query(primary, f"r0.{ZONE}.", "CNAME") != [value]:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{primary.kind}: the new answer did not appear within {POLL_LIMIT}s")
        times.append(time.perf_counter() - start)
    return times


async def updates_per_second(primary: Primary, n: int) -> float:
    spec = spec_for(primary, n)
    start = time.perf_counter()
    report = await converge(spec, Rfc2136Target(spec, {TSIG_SECRET_ENV: SECRET}), intents(spec, "eastus"))
    elapsed = time.perf_counter() - start
    applied = sum(1 for r in report.results if r.outcome.value == "applied")
    if applied != n:
        raise RuntimeError(f"{primary.kind}: {applied} of {n} updates applied: {report.errors[:1]}")
    return n / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--servers", default="bind,knot,pdns")
    args = parser.parse_args()
    os.environ.pop(TSIG_SECRET_ENV, None)
    with tempfile.TemporaryDirectory(prefix="dnsctl-bench-rfc2136-") as tmp:
        for kind in args.servers.split(","):
            primary = Primary(kind, Path(tmp) / kind)
            primary.start()
            try:
                times = asyncio.run(decision_to_answer(primary, args.rounds))
                line = f"{kind:5}  decision -> answer median {statistics.median(times) * 1000:7.1f} ms"
                line += f" (of {len(times)}: {', '.join(f'{t * 1000:.1f}' for t in times)})"
                if kind in ("bind", "knot"):
                    rate = asyncio.run(updates_per_second(primary, args.records))
                    line += f"   {args.records} records in one pass: {rate:7.1f} updates/s"
                print(line, flush=True)
            finally:
                primary.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
