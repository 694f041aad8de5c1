"""dnsperf against dnsctl's embedded resolver and dnsmasq, side by side on this machine.

    python bench/resolver_qps.py [--duration 10] [--clients 10] [--names 100000] [--no-uvloop]

Installs `dnsperf` and `dnsmasq-base` with apt-get when they are missing (needs root). Starts:
- an upstream dnsmasq answering every *.bench.test name (TTL 1 h), used by both resolvers;
- a front dnsmasq with the same steered name (--cname + --host-record), the lab name and a cache;
- dnsctl's resolver (bench/resolver_runner.py), with the asyncio loop and then with uvloop.
For a steered name, a lab zone name and a forwarded name served from cache it prints QPS, average and
p99 latency (p99 from a run paced at 20k QPS) and the ratio to dnsmasq; then the resident memory with
100,000 cached names. Figures vary with the machine's load: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "resolver_runner.py"
QUERIES = {
    "steered": "myregistry.azurecr.io A",
    "lab zone": "www.lab.internal A",
    "cached forward": "www.bench.test A",
}
PACED_QPS = 20_000


@dataclass
class Figures:
    qps: float
    avg_ms: float
    p99_ms: float | None = None


def ensure_tools() -> None:
    missing = [tool for tool in ("dnsperf", "dnsmasq") if shutil.which(tool) is None]
    if not missing:
        return
    print(f"installing {', '.join(missing)} with apt-get (dnsperf, dnsmasq-base) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "dnsperf", "dnsmasq-base"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def dnsmasq(port: int, *extra: str) -> subprocess.Popen[bytes]:
    args = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces"]
    args += ["--listen-address=127.0.0.1", f"--port={port}", "--log-facility=/dev/null", *extra]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_answering(port)
    return process


def wait_answering(port: int) -> None:
    for _ in range(100):
        result = subprocess.run(
            ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-n", "1", "-t", "1"],
            input=b"www.bench.test A\n",
            capture_output=True,
        )
        if b"Queries completed:    1" in result.stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


class Runner:
    """dnsctl's resolver in a child process (bench/resolver_runner.py)."""

    def __init__(self, upstream_port: int, uvloop: bool) -> None:
        args = [sys.executable, str(RUNNER), "--port", "0", "--upstream", f"127.0.0.1:{upstream_port}"]
        if uvloop:
            args.append("--uvloop")
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"runner did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.process.pid

    def stats(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        stats: dict[str, int] = json.loads(self.process.stdout.readline())
        return stats

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def dnsperf(port: int, datafile: Path, *extra: str) -> str:
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(datafile), *extra]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def measure(port: int, datafile: Path, duration: int, clients: int) -> Figures:
    out = dnsperf(port, datafile, "-l", str(duration), "-c", str(clients))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    avg = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Figures(qps, avg * 1000)


def p99_at_paced_rate(port: int, datafile: Path, duration: int) -> float:
    out = dnsperf(port, datafile, "-l", str(duration), "-c", "10", "-Q", str(PACED_QPS), "-v")
    latencies = sorted(float(line.rsplit(" ", 1)[1]) for line in out.splitlines() if line.startswith("> "))
    return latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run")
    parser.add_argument("--clients", type=int, default=10, help="dnsperf -c")
    parser.add_argument(
        "--names", type=int, default=100_000, help="distinct names cached for the memory figure"
    )
    parser.add_argument("--no-uvloop", action="store_true", help="measure the asyncio loop only")
    args = parser.parse_args()
    ensure_tools()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for kind, line in QUERIES.items():
            files[kind] = Path(tmp) / f"{kind.replace(' ', '_')}.txt"
            files[kind].write_text(line + "\n")
        many = Path(tmp) / "many.txt"
        many.write_text("".join(f"n{i}.bench.test A\n" for i in range(args.names)))

        upstream_port, front_port = free_port(), free_port()
        upstream = dnsmasq(
            upstream_port, "--address=/bench.test/192.0.2.1", "--local-ttl=3600", "--cache-size=0"
        )
        front = dnsmasq(
            front_port,
            f"--server=127.0.0.1#{upstream_port}",
            "--cname=myregistry.azurecr.io,myregistry.eastus.geo.azurecr.io",
            "--host-record=myregistry.eastus.geo.azurecr.io,10.1.0.5",
            "--host-record=www.lab.internal,10.0.0.1",
            "--cache-size=150000",
            "--dns-forward-max=1000",
        )
        variants = [("dnsctl asyncio", False)] + ([] if args.no_uvloop else [("dnsctl uvloop", True)])
        results: dict[tuple[str, str], Figures] = {}
        memory: dict[str, tuple[float, float, int]] = {}
        try:
            for kind, datafile in files.items():
                figures = measure(front_port, datafile, args.duration, args.clients)
                figures.p99_ms = p99_at_paced_rate(front_port, datafile, args.duration)
                results[("dnsmasq", kind)] = figures
            for name, uvloop in variants:
                runner = Runner(upstream_port, uvloop)
                try:
                    for kind, datafile in files.items():
                        dnsperf(runner.port, datafile, "-n", "1")  # the forwarded name enters the cache
                        figures = measure(runner.port, datafile, args.duration, args.clients)
                        figures.p99_ms = p99_at_paced_rate(runner.port, datafile, args.duration)
                        results[(name, kind)] = figures
                    before = rss_mb(runner.pid)
                    dnsperf(runner.port, many, "-n", "1", "-c", "10", "-Q", "20000")
                    memory[name] = (before, rss_mb(runner.pid), runner.stats()["cache"])
                finally:
                    runner.stop()
            before = rss_mb(front.pid)
            dnsperf(front_port, many, "-n", "1", "-c", "10", "-Q", "20000")
            memory["dnsmasq"] = (before, rss_mb(front.pid), -1)
        finally:
            for process in (front, upstream):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)

    print()
    print(f"{'server':16} {'query':15} {'QPS':>9} {'avg ms':>8} {'p99 ms @20k':>12} {'x dnsmasq':>10}")
    for (name, kind), fig in results.items():
        base = results[("dnsmasq", kind)].qps
        p99 = f"{fig.p99_ms:.3f}" if fig.p99_ms is not None else "-"
        print(f"{name:16} {kind:15} {fig.qps:9.0f} {fig.avg_ms:8.3f} {p99:>12} {fig.qps / base:10.2f}")
    print()
    print(f"resident memory, {args.names} names queried once through the resolver:")
    for name, (before, after, cached) in memory.items():
        held = f", {cached} answers cached" if cached >= 0 else ""
        print(f"  {name:16} {before:6.1f} MB before, {after:6.1f} MB after{held}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
