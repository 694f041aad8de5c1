"""Scale benchmark: N profiles x 3 endpoints in one `dnsctl serve` and one `dnsctl run` process.

Registry-like stand-ins (HTTP 401 to every GET, as a registry's /v2/ answers) listen on 127.0.0.2-4 in a
child process, one port shared by every profile. For each N and probe interval, `dnsctl serve` runs as a
real process and the script prints: its CPU % of one core and peak RSS over the measured window, probes
sent against probes due by the schedule (N x 3 x window / interval), the p99 DNS answer time of a steered
name (UDP, about 200 queries a second during the window, probe rounds running), the time and size of one
`/metrics` scrape, and how long it took to exit after SIGTERM.

For `dnsctl run` (the bundled Azure Private DNS emulator, one zone) it prints the ARM reads and writes to
start (every record created), to fail every record over (the first replica killed) and, scaled to 5
minutes, in a steady state.

    python bench/scale.py                 # N = 100, 1,000, 5,000; intervals 10 s and 2 s; run for each N
    python bench/scale.py --quick         # N = 100, 1,000; a short window; run for N = 100
    python bench/scale.py --sizes 5000 --intervals 10 --no-run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dns.message
import dns.query
import httpx
import yaml

from tests.e2e.harness import free_port

REPO = Path(__file__).resolve().parents[1]

ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg"
ZONE = "s.test"
_ANSWER = (
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Docker-Distribution-Api-Version: registry/2.0\r\nConnection: close\r\n\r\n{}"
)


# --- the stand-ins, in a child process ----------------------------------------------------------------
class _Replica(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if b"\r\n\r\n" in self._buffer:
            self._transport.write(_ANSWER)
            self._transport.close()


async def _replicas(addresses: list[str], port: int) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for _ in range(50):
        try:
            first = await loop.create_server(_Replica, addresses[0], port, backlog=4096)
            chosen = first.sockets[0].getsockname()[1]
            servers = [first]
            for address in addresses[1:]:
                servers.append(await loop.create_server(_Replica, address, chosen, backlog=4096))
            break
        except OSError:
            for s in servers:
                s.close()
            servers = []
            if port:
                raise
    else:
        raise SystemExit("no port free on every address")
    print(chosen, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def start_replicas(addresses: list[str], port: int = 0) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--replicas", ",".join(addresses), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if not line:
        raise SystemExit("the stand-in replicas did not start")
    return child, int(line)


def stop_child(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(Exception):
        if child.stdin is not None:
            child.stdin.close()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


# --- measuring a process --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(check: Any, limit: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"dnsctl exited ({proc.returncode}) waiting for {what}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise SystemExit(f"timed out after {limit:.0f}s waiting for {what}")


def sigterm_seconds(proc: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return float("inf")
    return time.monotonic() - started


# --- serve ---------------------------------------------------------------------------------------------
@dataclass
class ServeFigures:
    n: int
    interval: float
    cpu_percent: float = 0.0
    rss_mb: float = 0.0
    sent: int = 0
    due: int = 0
    dns_p99_ms: float = 0.0
    dns_lost: int = 0
    metrics_s: float = 0.0
    metrics_mb: float = 0.0
    sigterm_s: float = 0.0
    lag_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def config(n: int, port: int, interval: float, *, azure: bool = False, **top: Any) -> str:
    """The configuration: `n` profiles sharing the three endpoints (a YAML alias, which keeps 5,000
    profiles under the 1 MiB and the alias expansion a configuration may have). With `azure`, the
    monitor is the default one on the stand-ins' port (10 s, timeout 5 s, fall 3, rise 2)."""
    if azure:
        monitor = f"{{protocol: http, port: {port}}}"
    else:
        monitor = (
            f"{{protocol: http, port: {port}, interval: {interval:g}s, timeout: {min(2.0, interval / 2):g}s}}"
        )
    endpoints = ", ".join(
        f"{{name: r{k}, target: r{k}.{ZONE}, priority: {k + 1}, addresses: [{a}]}}"
        for k, a in enumerate(ADDRESSES)
    )
    lines = ["profiles:"]
    for i in range(n):
        e = f"&e [{endpoints}]" if i == 0 else "*e"
        record = f", azure: {{subscription_id: {SUB}, resource_group: {RG}, zone: {ZONE}, record: p{i}}}"
        record = record if azure else ""
        lines.append(f"- {{name: p{i}, fqdn: p{i}.{ZONE}, monitor: {monitor}, endpoints: {e}{record}}}")
    top = {k.rstrip("_"): v for k, v in top.items()}
    return "\n".join(lines) + "\n" + yaml.safe_dump(top, sort_keys=False)


def _query_loop(port: int, name: str, stop: threading.Event, times: list[float], lost: list[int]) -> None:
    query = dns.message.make_query(name, "A")
    while not stop.is_set():
        started = time.perf_counter()
        try:
            dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
            times.append(time.perf_counter() - started)
        except Exception:
            lost[0] += 1
        time.sleep(0.005)


def measure_serve(n: int, interval: float, port: int, window: float, tmp: Path) -> ServeFigures:
    fig = ServeFigures(n, interval)
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp / f"serve-{n}-{interval:g}.yaml"
    cfg.write_text(
        config(
            n,
            port,
            interval,
            resolver={"listen": [f"127.0.0.1:{dns_port}"]},
            admin={"listen": f"127.0.0.1:{admin_port}"},
        )
    )
    admin = f"http://127.0.0.1:{admin_port}"
    log = (tmp / f"serve-{n}-{interval:g}.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsctl", "serve", "-c", str(cfg)], stdout=log, stderr=log, env=env, cwd=REPO
    )
    try:

        def decided() -> bool:  # ready, or every profile decided and only the loop's lateness said
            r = httpx.get(admin + "/readyz", timeout=10)
            return r.status_code == 200 or "event loop is running" in r.text

        wait_for(decided, 300, "every profile to have a decision", proc)
        time.sleep(min(interval, 5))  # past the first rounds, which all start at once
        t_before = time.monotonic()
        before = httpx.get(admin + "/metrics", timeout=30).text
        times: list[float] = []
        lost = [0]
        stop = threading.Event()
        querier = threading.Thread(target=_query_loop, args=(dns_port, f"p0.{ZONE}", stop, times, lost))
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        querier.start()
        peak = 0.0
        while time.monotonic() - wall0 < window:
            peak = max(peak, rss_mb(proc.pid))
            time.sleep(0.5)
        stop.set()
        querier.join()
        wall, cpu = time.monotonic() - wall0, cpu_seconds(proc.pid) - cpu0
        started = time.perf_counter()
        t_after = time.monotonic()
        after = httpx.get(admin + "/metrics", timeout=60)
        fig.metrics_s = time.perf_counter() - started
        fig.metrics_mb = len(after.content) / 1e6
        fig.cpu_percent = 100 * cpu / wall
        fig.rss_mb = max(peak, rss_mb(proc.pid))
        fig.sent = int(
            metric(after.text, "dnsctl_probes_sent_total") - metric(before, "dnsctl_probes_sent_total")
        )
        fig.due = int(n * len(ADDRESSES) * (t_after - t_before) / interval)
        fig.lag_s = metric(after.text, "dnsctl_event_loop_lag_seconds")
        late = metric(after.text, "dnsctl_probe_rounds_late_total")
        if late:
            fig.notes.append(f"{late:.0f} late rounds")
        times.sort()
        fig.dns_p99_ms = 1000 * times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
        fig.dns_lost = lost[0]
        fig.sigterm_s = sigterm_seconds(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return fig


# --- run against the emulator --------------------------------------------------------------------------
@dataclass
class RunFigures:
    n: int
    start: tuple[int, int, float] = (0, 0, 0.0)  # reads, writes, seconds
    failover: tuple[int, int, float] = (0, 0, 0.0)
    steady_per_5min: tuple[float, float] = (0.0, 0.0)
    done: str = ""


def _calls(emulator: Any) -> tuple[int, int]:
    log = emulator.request_log()
    return sum(1 for r in log if r.kind == "read"), sum(1 for r in log if r.kind == "write")


def _pointing(emulator: Any, n: int, endpoint: int) -> int:
    want = f"r{endpoint}.{ZONE}"
    got = 0
    from dnsctl.emulator import ZoneId

    for rs in emulator.record_sets(ZoneId(SUB, RG, ZONE)):
        cname = (rs.get("properties", {}).get("cnameRecord") or {}).get("cname", "").rstrip(".")
        if cname == want:
            got += 1
    return got


def measure_run(n: int, steady: float, limit: float, tmp: Path) -> RunFigures:
    from dnsctl.emulator import AzureEmulator, ZoneId

    fig = RunFigures(n)
    others, port = start_replicas(list(ADDRESSES[1:]))
    first, _ = start_replicas([ADDRESSES[0]], port)
    interval = 10.0
    try:
        with AzureEmulator() as emulator:
            zone = ZoneId(SUB, RG, ZONE)
            emulator.add_zone(zone)
            admin_port = free_port()
            cfg = tmp / f"run-{n}.yaml"
            cfg.write_text(
                config(
                    n,
                    port,
                    interval,
                    azure=True,
                    azure_={"credential": "static", "base_url": emulator.base_url},
                    admin={"listen": f"127.0.0.1:{admin_port}"},
                    safety={"max_changes_per_run": n},
                )
            )
            log = (tmp / f"run-{n}.log").open("wb")
            env = {**os.environ, "PYTHONPATH": str(REPO), "DNSCTL_AZURE_TOKEN": "bench-token"}
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", "run", "-c", str(cfg)],
                stdout=log,
                stderr=log,
                env=env,
                cwd=REPO,
            )
            try:

                def records(endpoint: int) -> Any:
                    return lambda: _pointing(emulator, n, endpoint) == n

                try:
                    wait_for(records(0), limit, "every record created", proc)
                except SystemExit as e:
                    fig.done = f"start: {e} ({_pointing(emulator, n, 0)} of {n})"
                    fig.start = (*_calls(emulator), time.monotonic() - t0)
                    return fig
                reads, writes = _calls(emulator)
                fig.start = (reads, writes, time.monotonic() - t0)
                emulator.reset_request_log()
                t1 = time.monotonic()
                stop_child(first)  # the first replica dies: connection refused
                try:
                    wait_for(records(1), limit, "every record failed over", proc)
                except SystemExit as e:
                    fig.done = f"failover: {e} ({_pointing(emulator, n, 1)} of {n})"
                reads, writes = _calls(emulator)
                fig.failover = (reads, writes, time.monotonic() - t1)
                if fig.done:
                    return fig
                time.sleep(2 * interval)
                emulator.reset_request_log()
                time.sleep(steady)
                reads, writes = _calls(emulator)
                fig.steady_per_5min = (reads * 300 / steady, writes * 300 / steady)
            finally:
                sigterm_seconds(proc)
                log.close()
    finally:
        stop_child(others)
        if first.poll() is None:
            stop_child(first)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="N = 100 and 1,000, short windows, run for 100 only"
    )
    parser.add_argument("--sizes", help="comma-separated N (default 100,1000,5000)")
    parser.add_argument("--intervals", default="10,2", help="probe intervals in seconds (default 10,2)")
    parser.add_argument("--window", type=float, help="measured seconds per serve case (default 3 intervals)")
    parser.add_argument("--steady", type=float, help="seconds of steady `run` measured (default 300)")
    parser.add_argument("--no-run", action="store_true", help="skip `dnsctl run` against the emulator")
    parser.add_argument("--run-sizes", help="comma-separated N for `run` (default: the serve sizes)")
    parser.add_argument("--replicas", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replicas:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        asyncio.run(_replicas(args.replicas[0].split(","), int(args.replicas[1])))
        return 0
    sizes = [int(s) for s in (args.sizes or ("100,1000" if args.quick else "100,1000,5000")).split(",")]
    intervals = [float(s) for s in args.intervals.split(",")]
    run_sizes = (
        [int(s) for s in args.run_sizes.split(",")] if args.run_sizes else ([100] if args.quick else sizes)
    )
    load = os.getloadavg()[0]
    print(f"dnsctl scale bench, {os.cpu_count()} CPUs, load average {load:.2f} at the start", flush=True)
    print(f"{'N':>6} {'interval':>8} {'CPU %':>6} {'RSS MB':>7} {'probes sent/due':>17} {'DNS p99 ms':>10} "
          f"{'/metrics s':>10} {'MB':>5} {'SIGTERM s':>9} {'lag s':>6} {'load':>5}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        replicas, port = start_replicas(list(ADDRESSES))
        try:
            for n in sizes:
                for interval in intervals:
                    window = args.window or (
                        max(2 * interval, 10.0) if args.quick else max(3 * interval, 20.0)
                    )
                    f = measure_serve(n, interval, port, window, tmp)
                    print(
                        f"{f.n:>6} {f.interval:>7g}s {f.cpu_percent:>6.1f} {f.rss_mb:>7.0f} "
                        f"{f.sent:>8}/{f.due:<8} {f.dns_p99_ms:>10.2f} "
                        f"{f.metrics_s:>10.3f} {f.metrics_mb:>5.1f} "
                        f"{f.sigterm_s:>9.2f} {f.lag_s:>6.2f} {os.getloadavg()[0]:>5.1f} {'; '.join(f.notes)}"
                        + (f" ({f.dns_lost} DNS queries lost)" if f.dns_lost else ""),
                        flush=True,
                    )
        finally:
            stop_child(replicas)
        if args.no_run:
            return 0
        steady = args.steady or (30.0 if args.quick else 300.0)
        print(
            f"\n`dnsctl run`, one zone, default monitor (10 s, fall 3); steady over {steady:.0f} s",
            flush=True,
        )
        head = (
            f"{'start reads/writes (s)':>24} {'failover reads/writes (s)':>27} {'steady per 5 min r/w':>22}"
        )
        print(f"{'N':>6} {head}")
        for n in run_sizes:
            r = measure_run(n, steady, 120.0 + n / 10, tmp)
            print(
                f"{r.n:>6} {r.start[0]:>8}/{r.start[1]:<6} ({r.start[2]:5.0f}) "
                f"{r.failover[0]:>10}/{r.failover[1]:<6} ({r.failover[2]:5.0f}) "
                f"{r.steady_per_5min[0]:>12.0f}/{r.steady_per_5min[1]:<8.0f} {r.done}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
