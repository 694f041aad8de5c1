"""TCP query latency of dnsctl's embedded resolver while hostile clients hold connections.

    python bench/tcp_under_attack.py [--queries 200] [--uvloop]

Starts bench/resolver_runner.py, then measures TCP queries from 127.0.0.1 for the steered name: first
alone, then while 300 connections from 127.0.0.9 (outside `allow`) sit idle and 300 from 127.0.0.2
(allowed) send zero-length frames, each reopened as soon as the resolver closes it. Prints the median,
95th percentile and maximum latency of each phase, and how many connections the attackers opened.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.message
import dns.query

RUNNER = Path(__file__).with_name("resolver_runner.py")
ATTACKERS = 300
OUTSIDER, INSIDER = "127.0.0.9", "127.0.0.2"


class Attack:
    def __init__(self, port: int) -> None:
        self.port = port
        self.stopping = False
        self.connects = {OUTSIDER: 0, INSIDER: 0}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def hold(self, source: str, frame: bytes) -> None:
        while not self.stopping:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.connects[source] += 1
            try:
                while not self.stopping:
                    if frame:
                        writer.write(frame)
                    try:
                        if await asyncio.wait_for(reader.read(1), 0.2) == b"":
                            break
                    except TimeoutError:
                        continue
            except OSError:
                pass
            finally:
                writer.transport.abort()
            await asyncio.sleep(0.2)

    def start(self) -> None:
        self.thread.start()
        for _ in range(ATTACKERS):
            asyncio.run_coroutine_threadsafe(self.hold(OUTSIDER, b""), self.loop)
            asyncio.run_coroutine_threadsafe(self.hold(INSIDER, b"\x00\x00"), self.loop)

    def stop(self) -> None:
        self.stopping = True

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(finish(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def measure(port: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        query = dns.message.make_query("myregistry.azurecr.io", "A")
        started = time.perf_counter()
        dns.query.tcp(query, "127.0.0.1", port=port, source="127.0.0.1", timeout=5)
        out.append(time.perf_counter() - started)
        time.sleep(0.01)
    return out


def describe(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return (
        f"{name}: median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, "
        f"max {ordered[-1] * 1000:.2f} ms over {len(ordered)} queries"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    command = [
        sys.executable,
        str(RUNNER),
        "--upstream",
        "127.0.0.1:9",
        *(["--uvloop"] if args.uvloop else []),
    ]
    runner = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        port = int(runner.stdout.readline().split()[1])
        print(describe("alone", measure(port, args.queries)))
        attack = Attack(port)
        attack.start()
        time.sleep(2)
        under = measure(port, args.queries)
        attack.stop()
        print(describe("under attack", under))
        print(f"attacker connections opened: {attack.connects}")
    finally:
        if runner.stdin is not None:
            runner.stdin.close()
        runner.wait(10)


if __name__ == "__main__":
    main()
