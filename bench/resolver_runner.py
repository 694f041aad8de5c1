"""Runs dnsctl's embedded resolver for bench/resolver_qps.py: one steered name, one lab zone, one upstream.

    python bench/resolver_runner.py --port P --upstream 127.0.0.1:U [--loop auto|uvloop|asyncio]
                                    [--pure-python]

The loop is chosen as `dnsctl serve` chooses it (dnsctl.process.daemon.run): `auto` is the default install.
`--pure-python` runs the UDP readers' Python loop (DNSCTL_PURE_PYTHON_READER=1) even where the native
one is built.

Prints "READY <port> <UDP reader loop>" when listening; answers a "stats" line on stdin with one JSON line
(cache size, replies sent); stops when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import CacheSpec, HostPort, ResolverSpec
from dnsctl.core.zone_records import ZoneRecordSpec, ZoneRecordType, ZoneSpec
from dnsctl.process import daemon
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeringTable
from dnsctl.resolver.udp_reader import PURE_PYTHON_ENV, shorten_switch_interval

STEERED = "myregistry.azurecr.io"
LAB_NAME = "www.lab.internal"


async def serve(port: int, upstream: HostPort) -> None:
    steering = SteeringTable()
    target = DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",))
    steering.publish(SteeredAnswer(STEERED, 30, (target,)))
    spec = ResolverSpec(
        listen=(HostPort("127.0.0.1", port),),
        upstreams=(upstream,),
        zones=(
            ZoneSpec("lab.internal", (ZoneRecordSpec(LAB_NAME, ZoneRecordType.A, IPv4Address("10.0.0.1")),)),
        ),
        cache=CacheSpec(max_entries=200_000),
    )
    server = ResolverServer(spec, steering, clock=SystemClock())
    shorten_switch_interval()  # as `dnsctl serve` does: this process is the resolver's
    await server.start()
    print(f"READY {server.bound[0][1]} {server.udp_reader}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "stats":
            stats = {"cache": len(server.engine.cache), "replies": server.metrics.total_queries}
            print(json.dumps(stats), flush=True)
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--loop", choices=daemon.LOOPS, default="auto")
    parser.add_argument("--pure-python", action="store_true", help="the UDP readers' Python loop")
    args = parser.parse_args()
    if args.pure_python:
        os.environ[PURE_PYTHON_ENV] = "1"
    host, _, port = args.upstream.rpartition(":")
    daemon.run(serve(args.port, HostPort(host, int(port))), args.loop)


if __name__ == "__main__":
    main()
