"""Runs dnsctl's embedded resolver for bench/resolver_qps.py: one steered name, one lab zone, one upstream.

    python bench/resolver_runner.py --port P --upstream 127.0.0.1:U [--uvloop]

Prints "READY <port>" when listening; stops when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dnsctl.core.model import CacheSpec, HostPort, ResolverSpec, ZoneRecordSpec, ZoneSpec  # noqa: E402
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeredTarget, SteeringTable  # noqa: E402

STEERED = "myregistry.azurecr.io"
LAB_NAME = "www.lab.internal"


async def serve(port: int, upstream: HostPort) -> None:
    steering = SteeringTable()
    target = SteeredTarget("myregistry.eastus.geo.azurecr.io", ("10.1.0.5",))
    steering.publish(SteeredAnswer(STEERED, 30, (target,)))
    spec = ResolverSpec(
        listen=(HostPort("127.0.0.1", port),),
        upstreams=(upstream,),
        zones=(ZoneSpec("lab.internal", (ZoneRecordSpec("www", "A", "10.0.0.1"),)),),
        cache=CacheSpec(max_entries=200_000),
    )
    server = ResolverServer(spec, steering)
    await server.start()
    print(f"READY {server.bound[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    coro = serve(args.port, HostPort(host, int(port)))
    if args.uvloop:
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
