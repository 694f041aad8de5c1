"""dnsperf against dnsctl's embedded resolver and dnsmasq, side by side on this machine.

    python bench/resolver_qps.py [--duration 10] [--rounds 3] [--clients 10] [--names 100000] [--quick]
                                 [--only qps|fixed|flood ...] [--baseline CHECKOUT]

Installs `dnsperf` and `dnsmasq-base` with apt-get when they are missing (needs root). Each server runs
pinned to the last CPU and dnsperf to the first (taskset), so a server has one core to itself as it
would beside other work. Starts:
- an upstream dnsmasq answering every *.bench.test name (TTL 1 h), used by both resolvers;
- a front dnsmasq with the same steered name (--cname + --host-record), the lab name and a cache;
- dnsctl's resolver (bench/resolver_runner.py) as installed by default (uvloop where it is available, the
  UDP readers' native loop where it was built: the bench prints which), unless --no-pure-python with
  the readers' Python loop as well (`dnsctl pure-python`), and unless --no-asyncio on the asyncio loop.
For a steered name, a lab zone name and a forwarded name served from cache it prints the median QPS of
`--rounds` rounds (the servers take turns within a round) and the ratio to dnsmasq; p99 latency of a run
paced at 20k QPS; the server's CPU time per query (its inverse ratio to dnsmasq's is the QPS ratio
a fully loaded core would give, and it varies far less than QPS with what else the machine runs);
resident memory with 100,000 cached names; and the p99 of steered names (at 2k QPS)
while 5k QPS of unique forwarded names go to an upstream that never answers.

It also prints the CPU time per query at a fixed offered load (`--fixed-qps`, dnsperf -Q) for dnsmasq,
dnsctl and a bare reflector: a C UDP server (compiled with gcc from REFLECTOR_C at bench time; a Python
one without a compiler) that sends each query back as its own reply, the kernel's floor on this machine;
and, per kind of query, the median of the differences dnsctl minus dnsmasq within each round (the two
measured a few seconds apart, under the same load), which varies less than a difference of medians.
The flood runs once a round for each server. Every server must answer each kind of query NOERROR first.

`--only` runs some parts alone; `--baseline` adds the dnsctl of another checkout (e.g. `git archive main`
unpacked somewhere) to the same rounds, for a before/after comparison on a machine others share.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
FIXED_QPS = 20_000
REFLECTOR_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }
    unsigned char buf[4096];
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n < 12) continue;
        buf[2] |= 0x80; /* QR: the query is its own (empty) reply */
        buf[3] = (buf[3] & 0x30) | 0x80; /* RA, NOERROR */
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
    }
}
"""
REFLECTOR_PY = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(4096)
    if len(data) >= 12:
        s.sendto(data[:2] + bytes([data[2] | 0x80, (data[3] & 0x30) | 0x80]) + data[4:], peer)
"""
FLOOD_QPS = 5_000
PARTS = ("qps", "fixed", "flood")
STEERED_QPS_UNDER_FLOOD = 2_000


def pinning() -> tuple[list[str], list[str]]:
    """taskset prefixes: (server, dnsperf); none on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return [], []
    return ["taskset", "-c", str(cpus[-1])], ["taskset", "-c", str(cpus[0])]


SERVER_CPU, CLIENT_CPU = pinning()


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


class Server:
    """A DNS server process under test."""

    name: str
    port: int
    process: subprocess.Popen[str]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Dnsmasq(Server):
    def __init__(self, name: str, probe: str, *extra: str, pin: list[str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        args = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces"]
        args += ["--listen-address=127.0.0.1", f"--port={self.port}", "--log-facility=/dev/null", *extra]
        self.process = subprocess.Popen(
            (SERVER_CPU if pin is None else pin) + args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        wait_answering(self.port, probe)


class Reflector(Server):
    """Sends each query back as its reply (QR set): what answering costs with no DNS work at all."""

    def __init__(self, directory: Path) -> None:
        self.name = "reflector"
        self.port = free_port()
        binary = directory / "reflector"
        if shutil.which("gcc") is not None:
            (directory / "reflector.c").write_text(REFLECTOR_C)
            subprocess.run(["gcc", "-O2", "-o", str(binary), str(directory / "reflector.c")], check=True)
            args = [str(binary), str(self.port)]
        else:
            self.name = "reflector (py)"
            args = [sys.executable, "-c", REFLECTOR_PY, str(self.port)]
        self.process = subprocess.Popen(SERVER_CPU + args, stdout=subprocess.DEVNULL, text=True)
        wait_answering(self.port, "www.bench.test A")


class Dnsctl(Server):
    """dnsctl's resolver in a child process (bench/resolver_runner.py)."""

    def __init__(
        self, name: str, upstream_port: int, loop: str, runner: Path = RUNNER, pure_python: bool = False
    ) -> None:
        self.name = name
        args = [sys.executable, str(runner), "--port", "0", "--upstream", f"127.0.0.1:{upstream_port}"]
        args += ["--loop", loop] + (["--pure-python"] if pure_python else [])
        self.process = subprocess.Popen(
            SERVER_CPU + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"runner did not start: {line!r}")
        self.port = int(line.split()[1])
        # The UDP readers' loop, "native" or "python" (a runner from before it said so: "?").
        self.reader = line.split()[2] if len(line.split()) > 2 else "?"

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


def wait_answering(port: int, line: str) -> None:
    for _ in range(100):
        result = subprocess.run(
            ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-n", "1", "-t", "1"],
            input=(line + "\n").encode(),
            capture_output=True,
        )
        if b"Queries completed:    1" in result.stdout:
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def check_noerror(server: Server, kind: str, datafile: Path) -> None:
    """Stop the bench when a server does not answer a kind of query with NOERROR: a figure measured on
    an error path (a lab zone set up wrong answers NXDOMAIN) would compare something else."""
    out = dnsperf(server.port, datafile, "-n", "1")
    if "NOERROR 1 " not in out:
        codes = re.search(r"Response codes:(.*)", out)
        raise RuntimeError(f"{server.name} answers the {kind} query with {codes.group(1) if codes else '?'}")


def dnsperf_command(port: int, datafile: Path, *extra: str) -> list[str]:
    return [*CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(datafile), *extra]


def dnsperf(port: int, datafile: Path, *extra: str) -> str:
    return subprocess.run(
        dnsperf_command(port, datafile, *extra), capture_output=True, text=True, check=True
    ).stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def qps(server: Server, datafile: Path, duration: int, clients: int) -> tuple[float, float]:
    """QPS, and the server's CPU time per answered query in microseconds: a figure that depends much less
    than QPS on what else the machine runs (QPS on a shared core follows the share the server gets)."""
    before = cpu_seconds(server.process.pid)
    out = dnsperf(server.port, datafile, "-l", str(duration), "-c", str(clients))
    used = cpu_seconds(server.process.pid) - before
    rate = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    return rate, used / max(completed, 1) * 1e6


def cpu_at(server: Server, datafile: Path, duration: int, rate: int) -> float:
    """The server's CPU time per answered query in microseconds at `rate` QPS offered."""
    before = cpu_seconds(server.process.pid)
    out = dnsperf(server.port, datafile, "-l", str(duration), "-c", "10", "-Q", str(rate))
    used = cpu_seconds(server.process.pid) - before
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    return used / max(completed, 1) * 1e6


@dataclass
class Latency:
    p99_ms: float
    answered: int
    lost: int


def paced(port: int, datafile: Path, duration: int, rate: int) -> Latency:
    """p99 of the queries answered in a run at `rate` QPS; unanswered ones are counted as lost."""
    # dnsperf prints a line per reply from its receiving thread: into a file, not a pipe this script
    # reads, or the client's own writes show in the tail (about 2 ms on both servers when piped).
    with tempfile.TemporaryFile("w+") as lines:
        args = ["-l", str(duration), "-c", "10", "-Q", str(rate), "-t", "2", "-v"]
        subprocess.run(dnsperf_command(port, datafile, *args), stdout=lines, check=True)
        lines.seek(0)
        replies = [line for line in lines if line.startswith("> ")]
    # "> T name type" is a query that timed out.
    latencies = sorted(float(line.rsplit(" ", 1)[1]) for line in replies if not line.startswith("> T "))
    lost = len(replies) - len(latencies)
    p99 = latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)] * 1000 if latencies else float("nan")
    return Latency(p99, len(latencies), lost)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_pid(server: Server) -> int:
    """The server's own pid (taskset execs it, so the child's pid is the server's)."""
    return server.process.pid


def under_flood(server: Server, steered: Path, flood: Path, duration: int) -> tuple[Latency, str]:
    """Steered-name latency while unique forwarded names flood the server (its upstream never answers)."""
    flood_args = ["-l", str(duration + 2), "-c", "20", "-Q", str(FLOOD_QPS), "-q", "50000", "-t", "3"]
    result: dict[str, str] = {}

    def flood_run() -> None:
        result["out"] = dnsperf(server.port, flood, *flood_args)

    thread = threading.Thread(target=flood_run)
    thread.start()
    time.sleep(1.5)  # the pending forwards pile up first
    latency = paced(server.port, steered, duration, STEERED_QPS_UNDER_FLOOD)
    thread.join()
    sent = re.search(r"Queries sent:\s+(\d+)", result.get("out", ""))
    return latency, (sent.group(1) if sent else "?")


def median_of(rounds: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(rounds)]
    return statistics.median(values), values


def spread(values: list[float], digits: int = 2) -> str:
    """The median and the range of `values`: "16.90 (16.40-17.30)"."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10, help="seconds per dnsperf QPS run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--clients", type=int, default=10, help="dnsperf -c")
    parser.add_argument(
        "--names", type=int, default=100_000, help="distinct names cached for the memory figure"
    )
    parser.add_argument("--no-asyncio", action="store_true", help="skip dnsctl on the asyncio loop")
    parser.add_argument(
        "--no-pure-python", action="store_true", help="skip dnsctl with the UDP readers' Python loop"
    )
    parser.add_argument("--quick", action="store_true", help="3 s runs and 20,000 names: a smoke run")
    parser.add_argument(
        "--fixed-qps", type=int, default=FIXED_QPS, help="offered load of the CPU-per-query comparison"
    )
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable): qps (QPS, p99, memory), fixed (CPU at a fixed load), flood",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the dnsctl of another checkout (its bench/resolver_runner.py, default loop) in the "
        "same rounds, as `dnsctl baseline`: a before/after comparison on a shared machine",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.names = 3, 20_000
    parts = set(args.only or PARTS)
    ensure_tools()
    started = time.time()
    print(
        f"{os.cpu_count()} CPUs; servers pinned with {' '.join(SERVER_CPU) or 'nothing'}, dnsperf with "
        f"{' '.join(CLIENT_CPU) or 'nothing'}; load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for kind, line in QUERIES.items():
            files[kind] = Path(tmp) / f"{kind.replace(' ', '_')}.txt"
            files[kind].write_text(line + "\n")
        many = Path(tmp) / "many.txt"
        many.write_text("".join(f"n{i}.bench.test A\n" for i in range(args.names)))
        unique = Path(tmp) / "unique.txt"
        unique.write_text("".join(f"u{i}.flood.test A\n" for i in range((args.duration + 3) * FLOOD_QPS)))

        upstream = Dnsmasq(
            "upstream",
            "www.bench.test A",
            "--address=/bench.test/192.0.2.1",
            "--local-ttl=3600",
            "--cache-size=0",
            pin=CLIENT_CPU,
        )
        # Bound and never read: an upstream that never answers.
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]

        def front(name: str, upstream_port: int) -> Dnsmasq:
            return Dnsmasq(
                name,
                "www.lab.internal A",
                f"--server=127.0.0.1#{upstream_port}",
                "--cname=myregistry.azurecr.io,myregistry.eastus.geo.azurecr.io",
                "--host-record=myregistry.eastus.geo.azurecr.io,10.1.0.5",
                "--host-record=www.lab.internal,10.0.0.1",
                "--cache-size=150000",
                "--dns-forward-max=1000",
            )

        # (name, event loop, runner, the UDP readers' Python loop)
        loops = [("dnsctl", "auto", RUNNER, False)]
        if not args.no_pure_python:
            loops.append(("dnsctl pure-python", "auto", RUNNER, True))
        if not args.no_asyncio:
            loops.append(("dnsctl asyncio", "asyncio", RUNNER, False))
        if args.baseline is not None:
            loops.append(("dnsctl baseline", "auto", args.baseline / "bench" / "resolver_runner.py", False))
        names = ["dnsmasq"] + [name for name, _, _, _ in loops]
        qps_rounds: dict[tuple[str, str], list[float]] = {(n, k): [] for n in names for k in QUERIES}
        cpu_rounds: dict[tuple[str, str], list[float]] = {(n, k): [] for n in names for k in QUERIES}
        latency: dict[tuple[str, str], Latency] = {}
        memory: dict[str, tuple[float, float, int]] = {}
        flooded: dict[str, list[tuple[Latency, str]]] = {name: [] for name in names}
        fixed: dict[tuple[str, str], list[float]] = {}
        reflector = Reflector(Path(tmp))
        servers: list[Server] = []
        try:
            if parts & {"qps", "fixed"}:
                servers.append(front("dnsmasq", upstream.port))
                servers += [
                    Dnsctl(name, upstream.port, loop, runner, pure) for name, loop, runner, pure in loops
                ]
                for server in servers:
                    if isinstance(server, Dnsctl):
                        print(f"{server.name}: UDP reader loop {server.reader}", flush=True)
                for server in servers:
                    dnsperf(server.port, files["cached forward"], "-n", "1")  # enters the cache
                for server in [*servers, reflector]:
                    for kind, datafile in files.items():
                        check_noerror(server, kind, datafile)
                for round_index in range(args.rounds):
                    # The servers take turns, starting with a different one each round.
                    turn = servers[round_index % len(servers) :] + servers[: round_index % len(servers)]
                    for kind, datafile in files.items():
                        for server in turn if "qps" in parts else []:
                            rate, cpu = qps(server, datafile, args.duration, args.clients)
                            qps_rounds[(server.name, kind)].append(rate)
                            cpu_rounds[(server.name, kind)].append(cpu)
                    for kind, datafile in files.items():
                        for server in [*turn, reflector] if "fixed" in parts else []:
                            cpu = cpu_at(server, datafile, args.duration, args.fixed_qps)
                            fixed.setdefault((server.name, kind), []).append(cpu)
                    print(f"round {round_index + 1} done; load average {os.getloadavg()[0]:.2f}", flush=True)
            for kind, datafile in files.items():
                for server in servers if "qps" in parts else []:
                    latency[(server.name, kind)] = paced(
                        server.port, datafile, max(args.duration // 2, 2), PACED_QPS
                    )
            for server in servers if "qps" in parts else []:
                before = rss_mb(server_pid(server))
                dnsperf(server.port, many, "-n", "1", "-c", "10", "-Q", "20000")
                cached = server.stats()["cache"] if isinstance(server, Dnsctl) else -1
                memory[server.name] = (before, rss_mb(server_pid(server)), cached)
        finally:
            for server in [*servers, reflector]:
                server.stop()
        # The flood, once a round for each server (servers taking turns): its p99 moves more than the
        # other figures with what else the machine runs.
        flood_turn = [("dnsmasq", "", RUNNER, False), *loops]
        for round_index in range(args.rounds if "flood" in parts else 0):
            shift = round_index % len(flood_turn)
            for name, loop, runner, pure in flood_turn[shift:] + flood_turn[:shift]:
                server = front(name, dead_port) if not loop else Dnsctl(name, dead_port, loop, runner, pure)
                try:
                    flooded[name].append(under_flood(server, files["steered"], unique, args.duration))
                finally:
                    server.stop()
        upstream.stop()
        dead.close()

    if "qps" in parts:
        print()
        print(f"median of {args.rounds} rounds of {args.duration} s, {args.clients} dnsperf clients")
        print(
            f"{'server':16} {'query':15} {'QPS':>9} {'x dnsmasq':>10} {'p99 ms @20k':>12} "
            f"{'CPU us/query':>13} {'x dnsmasq':>10}  QPS of each round"
        )
        for kind in QUERIES:
            base = statistics.median(qps_rounds[("dnsmasq", kind)])
            base_cpu = statistics.median(cpu_rounds[("dnsmasq", kind)])
            for name in names:
                values = qps_rounds[(name, kind)]
                median = statistics.median(values)
                cpu = statistics.median(cpu_rounds[(name, kind)])
                p99 = latency[(name, kind)].p99_ms
                each = " ".join(f"{v / 1000:.1f}k" for v in values)
                print(
                    f"{name:16} {kind:15} {median:9.0f} {median / base:10.2f} {p99:12.3f} "
                    f"{cpu:13.2f} {base_cpu / cpu:10.2f}  {each}"
                )
    if "fixed" in parts:
        print()
        print(
            f"CPU us per answered query at {args.fixed_qps} QPS offered, median (range) of {args.rounds} "
            "rounds:"
        )
        print(f"{'query':15}" + "".join(f"{name:>24}" for name in [*names, reflector.name]))
        for kind in QUERIES:
            cells = "".join(f"{spread(fixed[(name, kind)]):>24}" for name in [*names, reflector.name])
            print(f"{kind:15}{cells}")
        print("minus dnsmasq in the same round, median (range) of the rounds' differences:")
        print(f"{'query':15}" + "".join(f"{name:>24}" for name in [*names[1:], reflector.name]))
        for kind in QUERIES:
            paired = fixed[("dnsmasq", kind)]
            cells = "".join(
                f"{spread([v - b for v, b in zip(fixed[(name, kind)], paired, strict=True)]):>24}"
                for name in [*names[1:], reflector.name]
            )
            print(f"{kind:15}{cells}")
    if "qps" in parts:
        print()
        print(f"resident memory, {args.names} names queried once through the resolver:")
        for name, (before, after, cached) in memory.items():
            held = f", {cached} answers cached" if cached >= 0 else ""
            print(f"  {name:16} {before:6.1f} MB before, {after:6.1f} MB after{held}")
    if "flood" in parts:
        print()
        print(
            f"steered names at {STEERED_QPS_UNDER_FLOOD} QPS while {FLOOD_QPS} QPS of unique forwarded "
            f"names go to an upstream that never answers (p99: median (range) of {args.rounds} runs):"
        )
        for name, runs in flooded.items():
            answered = sum(lat.answered for lat, _ in runs)
            lost = sum(lat.lost for lat, _ in runs)
            sent = " ".join(s for _, s in runs)
            print(
                f"  {name:16} p99 {spread([lat.p99_ms for lat, _ in runs], 3)} ms, {answered} answered, "
                f"{lost} lost (flood queries sent: {sent})"
            )
    print(f"load average {os.getloadavg()[0]:.2f} at end; {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
