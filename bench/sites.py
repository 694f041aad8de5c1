"""Sites benchmark: node agents probing the replicas themselves vs reading their site's decision.

Three registry stand-ins (HTTP 200 on /v2/) listen on 127.0.0.61-63; one vantage (`dnsctl run --site
eastus`, the bundled Azure Private DNS emulator holding the site's zone) probes them and writes the
site's decision to a directory exchange. For 1, 10, 100 and 1,000 node agents it prints:

- registry requests per second with every agent probing locally (one `dnsctl mirror` measured, times
  the number of agents: each agent probes on its own), and with the agents reading the exchange
  (measured: the vantage's probes plus whatever the agents send);
- exchange reads per second (the agents' `dnsctl_exchange_reads_total`, or the readers' count);
- the time from the vantage's verdict (the decision's `since`, eastus stopped) to the last agent's
  hosts.toml listing westeurope first, and to the median agent's.

Up to `--max-processes` agents (default 10) run as `dnsctl mirror --source exchange` processes;
beyond that they are simulated as readers in this process (each on its own schedule: one read of the
decision per interval, the same decoding, order and file writer), and the table says which.
Then `bench/sites_controller.py`'s `measure()` rows (1,000 profiles x 3 endpoints x 3 sites).

    python bench/sites.py                # 1, 10, 100, 1,000 agents, interval 1 s
    python bench/sites.py --sizes 1 10 --window 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sites_controller
import yaml

from dnsctl.controller.exchange import DirectoryExchange
from dnsctl.core.mirror import order_from
from dnsctl.core.model import DnsctlSpec
from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.store import ZoneId
from dnsctl.targets.mirror_files import MirrorFiles
from tests.e2e.harness import SUB, TOKEN, ZONE, common_free_port
from tests.support.registry import RegistryServer

REPLICAS = {"eastus": "127.0.0.61", "westeurope": "127.0.0.62", "southeastasia": "127.0.0.63"}
RG = "rg-eastus"
REPO = Path(__file__).resolve().parents[1]


def target(name: str) -> str:
    return f"myregistry.{name}.geo.azurecr.io"


def write_config(root: Path, name: str, port: int, emulator: AzureEmulator, interval: float) -> Path:
    doc = {
        "sites": [{"name": "eastus", "region": "eastus"}],
        "exchange": {"kind": "directory", "path": str(root / "exchange")},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "failback_hold": "0s",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": f"{interval}s",
                    "timeout": f"{interval * 0.8}s",
                    "fall": 2,
                    "rise": 1,
                    "flap_threshold": 100,  # each size fails eastus over and back: no damping here
                },
                "endpoints": [
                    {"name": n, "target": target(n), "priority": i + 1, "addresses": [ip]}
                    for i, (n, ip) in enumerate(REPLICAS.items())
                ],
                "azure": [
                    {
                        "site": "eastus",
                        "subscription_id": SUB,
                        "resource_group": RG,
                        "zone": ZONE,
                        "record": "myregistry",
                    }
                ],
            }
        ],
        "azure": {"credential": "static", "base_url": emulator.base_url},
        "mirror": {"containerd": {"hosts_dir": str(root / name / "certs.d")}},
    }
    path = root / name / "dnsctl.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Proc:
    """A dnsctl process; its admin API on a port the kernel picks, read from its banner."""

    def __init__(self, log: Path, *args: str) -> None:
        env = {
            **os.environ,
            "DNSCTL_AZURE_TOKEN": TOKEN,
            "DNSCTL_ADMIN__LISTEN": "127.0.0.1:0",
            "PYTHONPATH": str(REPO),
        }
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", *args], cwd=REPO, env=env, stdout=out, stderr=out
            )
        self.admin: str | None = None

    def listening(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.log} exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
        found = re.search(r"admin on (http://127\.0\.0\.1:\d+)", self.log.read_text(errors="replace"))
        if found:
            self.admin = found.group(1)
        return found is not None

    def get(self, path: str) -> httpx.Response:
        assert self.admin is not None, "wait for listening() first"
        return httpx.get(f"{self.admin}{path}", timeout=5)

    def metric(self, name: str) -> float:
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


async def wait_for(check: Any, limit: float, what: str) -> Any:
    """A benchmark's bounded poll (20 checks a second); the readers, if any, run meanwhile."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, httpx.HTTPError, ValueError, KeyError):
            pass
        await asyncio.sleep(0.05)
    raise SystemExit(f"timed out after {limit:.0f} s waiting for {what}")


def first_host(hosts_dir: Path) -> str | None:
    path = hosts_dir / "myregistry.azurecr.io" / "hosts.toml"
    try:
        names = list(tomllib.loads(path.read_text()).get("host", {}))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return names[0] if names else None


class Readers:
    """`count` simulated agents in this process: each reads the decision once per interval (at its own
    phase), turns it into an order and keeps its own hosts.toml with the agents' file writer."""

    def __init__(self, root: Path, count: int, spec: DnsctlSpec, interval: float) -> None:
        self.dirs = [root / f"reader{i:04d}" / "certs.d" for i in range(count)]
        self.files = [MirrorFiles(str(d), None) for d in self.dirs]
        self.exchange = DirectoryExchange(root / "exchange", ("eastus",))
        self.profile = spec.profiles[0]
        self.interval = interval
        self.reads = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def _agent(self, files: MirrorFiles) -> None:
        await asyncio.sleep(random.uniform(0, self.interval))
        while True:
            got = await self.exchange.read_decision("eastus")
            self.reads += 1
            d = got.decision.profile(self.profile.name) if got.decision is not None else None
            if d is not None:
                files.sync(self.profile, order_from(self.profile, d))
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._agent(f)) for f in self.files]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def reads(procs: list[Proc], readers: Readers | None) -> float:
    """Decision reads so far: the agent processes' counters, or the simulated readers' count."""
    if readers is not None:
        return float(readers.reads)
    return sum(p.metric("dnsctl_exchange_reads_total") for p in procs)


def decision_since(vantage: Proc) -> float:
    [profile] = vantage.get("/status").json()["profiles"]
    return datetime.fromisoformat(profile["decision"]["since"]).timestamp()


async def probing_rate(
    root: Path, port: int, emulator: AzureEmulator, servers: list[RegistryServer], args: Any
) -> float:
    """Requests a second one probing agent sends (measured over the window)."""
    cfg = write_config(root, "prober", port, emulator, args.interval)
    agent = Proc(cfg.parent / "log", "mirror", "-c", str(cfg))
    try:
        await wait_for(lambda: first_host(root / "prober" / "certs.d"), 60, "the probing agent's file")
        for s in servers:
            s.clear()
        started = time.monotonic()
        await asyncio.sleep(args.window)
        return sum(len(s.requests) for s in servers) / (time.monotonic() - started)
    finally:
        agent.stop()


async def measure_size(
    n: int,
    root: Path,
    port: int,
    emulator: AzureEmulator,
    servers: list[RegistryServer],
    vantage: Proc,
    args: Any,
) -> dict[str, Any]:
    east = servers[0]
    as_processes = n <= args.max_processes
    procs: list[Proc] = []
    readers: Readers | None = None
    dirs: list[Path] = []
    base = root / f"n{n}"
    base.mkdir()
    (base / "exchange").symlink_to(root / "exchange")
    if as_processes:
        for i in range(n):
            cfg = write_config(base, f"agent{i:03d}", port, emulator, args.interval)
            procs.append(
                Proc(cfg.parent / "log", "mirror", "-c", str(cfg), "--site", "eastus", "--source", "exchange")
            )
            dirs.append(base / f"agent{i:03d}" / "certs.d")
    else:
        from dnsctl.config.load import load

        spec = load(write_config(base, "spec", port, emulator, args.interval))
        readers = Readers(base, n, spec, args.interval)
        readers.start()
        dirs = readers.dirs
    try:
        east_url = f"http://{target('eastus')}:{port}"
        west_url = f"http://{target('westeurope')}:{port}"

        def all_first(url: str) -> bool:
            return all(first_host(d) == url for d in dirs)

        await wait_for(lambda: all(p.listening() for p in procs), 300, f"{n} agents' admin APIs")
        await wait_for(lambda: all_first(east_url), 300, f"{n} agents' files")
        # Steady state: the registry's requests and the exchange's reads over the window.
        # Reading every agent's counter takes a while: each count is timed at the middle of its reading.
        t0 = time.monotonic()
        reads_before = reads(procs, readers)
        t1 = time.monotonic()
        for s in servers:
            s.clear()
        started = time.monotonic()
        await asyncio.sleep(args.window)
        registry_rps = sum(len(s.requests) for s in servers) / (time.monotonic() - started)
        t2 = time.monotonic()
        reads_after = reads(procs, readers)
        reads_ps = (reads_after - reads_before) / ((time.monotonic() + t2) / 2 - (t0 + t1) / 2)
        # Failover: eastus stops; from the vantage's decision to every agent's file.
        east.set_behaviour("stopped")
        await wait_for(lambda: all_first(west_url), 120, "every agent on westeurope")
        since = decision_since(vantage)
        lags = [(d / "myregistry.azurecr.io" / "hosts.toml").stat().st_mtime - since for d in dirs]
        east.set_behaviour("healthy")
        await wait_for(lambda: all_first(east_url), 120, "every agent back on eastus")
        return {
            "agents": n,
            "how": "processes" if as_processes else "readers in one process",
            "exchange_rps": registry_rps,
            "reads_ps": reads_ps,
            "lag_max": max(lags),
            "lag_median": statistics.median(lags),
        }
    finally:
        for p in procs:
            p.stop()
        if readers is not None:
            await readers.stop()


def controller_rows() -> None:
    """`bench/sites_controller.py`'s figures: 1,000 profiles x 3 endpoints x 3 sites, one vantage each."""
    rows = sites_controller.measure()
    print("\none controller per site, bench.sites_controller.measure():")
    for label, figure in rows:
        print(f"  {label}: {figure}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--interval", type=float, default=1.0, help="probe and read interval, seconds")
    parser.add_argument("--window", type=float, default=10.0, help="steady-state window, seconds")
    parser.add_argument("--max-processes", type=int, default=10, help="more agents than this are readers")
    parser.add_argument("--no-controller", action="store_true", help="skip bench/sites_controller.py")
    args = parser.parse_args()

    port = common_free_port(list(REPLICAS.values()))
    servers = [RegistryServer(ip, port, name=target(n)).start() for n, ip in REPLICAS.items()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dnsctl-sites-") as tmp, AzureEmulator() as emulator:
        root = Path(tmp)
        (root / "exchange").mkdir()
        emulator.add_zone(ZoneId(SUB, RG, ZONE))
        try:
            per_agent = await probing_rate(root, port, emulator, servers, args)
            cfg = write_config(root, "vantage", port, emulator, args.interval)
            vantage = Proc(cfg.parent / "log", "run", "-c", str(cfg), "--site", "eastus")
            try:
                decision = root / "exchange" / "eastus.decision.json"
                await wait_for(decision.is_file, 60, "the decision")
                await wait_for(vantage.listening, 60, "the vantage's admin API")
                for n in args.sizes:
                    rows.append(await measure_size(n, root, port, emulator, servers, vantage, args))
                    print(f"  measured {n} agent(s)", file=sys.stderr, flush=True)
            finally:
                vantage.stop()
        finally:
            for s in servers:
                s.stop()
    print(
        f"interval {args.interval:g} s, window {args.window:g} s; monitor http /v2/ (1 request a probe); "
        f"one probing agent measured at {per_agent:.2f} requests/s, times the number of agents"
    )
    print(
        "| agents | run as | registry req/s, probing locally | registry req/s, reading the exchange "
        "| exchange reads/s | verdict -> every agent's hosts.toml (median) |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['agents']:,} | {r['how']} | {per_agent * r['agents']:.1f} | {r['exchange_rps']:.1f} "
            f"| {r['reads_ps']:.1f} | {r['lag_max']:.2f} s ({r['lag_median']:.2f} s) |"
        )
    if not args.no_controller:
        controller_rows()


if __name__ == "__main__":
    asyncio.run(main())
