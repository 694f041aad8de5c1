"""Pull time through containerd with the preferred replica hung, and what the registry probe costs.

    python bench/mirror_pull.py [--repeat 5] [--cap 15] [--probes 200] [--json FILE]

Needs root and the Debian packages containerd and docker-registry (installed with apt-get when missing).
Starts, on loopback: three docker-registry replicas (127.0.0.61-63, each holding the same small image),
containerd with its own root and socket, and names for the replicas in /etc/hosts (removed at the end).

1. Pull with the preferred replica frozen (SIGSTOP: it accepts connections, never answers):
   - a static hosts.toml listing the three replicas (containerd's own fallback): each pull is stopped
     after --cap seconds when it has not finished;
   - the hosts.toml `dnsctl mirror` keeps (interval 1 s, timeout 0.5 s, fall 2): the time until it
     rewrote the file after the freeze, then the pull time.
   Median (and max) of --repeat pulls each.
2. Probe cost against a docker-registry with token auth: the `/v2/` probe (protocol https/http) next
   to the registry probe with a cached token and with a fresh one (a new prober each time); median
   latency over --probes probes and the HTTP requests each costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from dnsctl.core.model import EndpointSpec, MonitorProtocol, MonitorSpec, ProfileSpec, RegistryProbeSpec  # noqa: E402
from dnsctl.probes.http import HttpProber  # noqa: E402
from dnsctl.probes.registry import RegistryProber  # noqa: E402
from dnsctl.process.clock import SystemClock  # noqa: E402
from tests.support.oci import Containerd, EtcHosts, Registry, free_port, push_image  # noqa: E402
from tests.support.token_server import TokenServer  # noqa: E402

REPLICAS = {"eastus": "127.0.0.61", "westeurope": "127.0.0.62", "southeastasia": "127.0.0.63"}
IMAGE = "myregistry.azurecr.io/app:1"


def target(name: str) -> str:
    return f"{name}.bench-mirror.test"


def ensure_packages() -> None:
    missing = [
        p
        for p, b in (("containerd", "containerd"), ("docker-registry", "docker-registry"))
        if not shutil.which(b)
    ]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True)


def timed_pull(ctrd: Containerd, hosts_dir: Path, cap: float) -> float | None:
    started = time.monotonic()
    try:
        run = ctrd.pull(IMAGE, hosts_dir, timeout=cap)
    except subprocess.TimeoutExpired:
        return None
    took = time.monotonic() - started
    return took if run.returncode == 0 else None


def summary(values: list[float | None], cap: float) -> dict[str, Any]:
    done = [v for v in values if v is not None]
    failed = len(values) - len(done)
    if failed * 2 > len(values):
        return {
            "median": None,
            "max": None,
            "timed_out": failed,
            "text": f"> {cap:g} s (timed out {failed}/{len(values)})",
        }
    padded = sorted([*done, *([cap] * failed)])
    med, mx = statistics.median(padded), max(padded)
    return {"median": med, "max": mx, "timed_out": failed, "text": f"{med:.2f} s ({mx:.2f})"}


def static_hosts(root: Path, port: int) -> Path:
    d = root / "static-certs.d"
    (d / "myregistry.azurecr.io").mkdir(parents=True, exist_ok=True)
    lines = ['server = "https://myregistry.azurecr.io"\n']
    for name in REPLICAS:
        lines.append(f'[host."http://{target(name)}:{port}"]\n  capabilities = ["pull", "resolve"]\n')
    (d / "myregistry.azurecr.io" / "hosts.toml").write_text("".join(lines))
    return d


def first_host(hosts_dir: Path) -> str | None:
    path = hosts_dir / "myregistry.azurecr.io" / "hosts.toml"
    if not path.exists():
        return None
    hosts = list(tomllib.loads(path.read_text()).get("host", {}))
    return hosts[0] if hosts else None


def agent_config(root: Path, port: int, admin_port: int) -> Path:
    doc = {
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "failback_hold": "2s",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": "1s",
                    "timeout": "0.5s",
                    "fall": 2,
                    "rise": 2,
                    # Each round freezes the same replica again: not flapping worth damping here.
                    "flap_threshold": 100,
                },
                "endpoints": [
                    {"name": n, "target": target(n), "priority": i + 1} for i, n in enumerate(REPLICAS)
                ],
            }
        ],
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        "mirror": {"containerd": {"hosts_dir": str(root / "agent-certs.d")}},
    }
    path = root / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_for(check: Any, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def pull_benchmark(root: Path, repeat: int, cap: float) -> dict[str, Any]:
    ensure_packages()
    port = free_port(REPLICAS["eastus"])
    registries = {n: Registry(root / n, ip, port=port) for n, ip in REPLICAS.items()}
    ctrd = Containerd(root / "containerd")
    out: dict[str, Any] = {}
    # The global name (containerd's last resort) on a loopback address where nothing listens.
    names = {target(n): ip for n, ip in REPLICAS.items()} | {"myregistry.azurecr.io": "127.0.0.66"}
    with EtcHosts(names):
        try:
            for r in registries.values():
                r.start()
                push_image(r.url, "app", "1")
            ctrd.start()
            east = registries["eastus"]
            static = static_hosts(root, port)
            print(
                f"static hosts.toml, eastus frozen: {repeat} pulls, each stopped after {cap:g} s", flush=True
            )
            east.freeze()
            out["static"] = summary([timed_pull(ctrd, static, cap) for _ in range(repeat)], cap)
            east.resume()
            print(f"  {out['static']['text']}", flush=True)

            admin = free_port("127.0.0.1")
            cfg = agent_config(root, port, admin)
            log = (root / "agent.log").open("wb")
            agent = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", "mirror", "-c", str(cfg)], cwd=REPO, stdout=log, stderr=log
            )
            try:
                agent_dir = root / "agent-certs.d"
                east_url = f"http://{target('eastus')}:{port}"
                if not wait_for(lambda: first_host(agent_dir) == east_url, 20):
                    raise SystemExit("dnsctl mirror did not write its first file")
                detections: list[float] = []
                pulls: list[float | None] = []
                print(f"dnsctl-kept hosts.toml, eastus frozen: {repeat} rounds", flush=True)
                for _ in range(repeat):
                    east.freeze()
                    frozen = time.monotonic()
                    if not wait_for(lambda: first_host(agent_dir) not in (None, east_url), 20):
                        raise SystemExit("dnsctl mirror did not move eastus down")
                    detections.append(time.monotonic() - frozen)
                    pulls.append(timed_pull(ctrd, agent_dir, cap))
                    east.resume()
                    if not wait_for(lambda: first_host(agent_dir) == east_url, 60):
                        raise SystemExit("dnsctl mirror did not fail back")
                out["dnsctl"] = summary(pulls, cap)
                out["dnsctl_rewrite"] = {
                    "median": statistics.median(detections),
                    "max": max(detections),
                    "text": f"{statistics.median(detections):.2f} s ({max(detections):.2f})",
                }
                print(
                    f"  rewrite after freeze {out['dnsctl_rewrite']['text']}, pull {out['dnsctl']['text']}",
                    flush=True,
                )
            finally:
                agent.terminate()
                agent.wait(15)
                log.close()
        finally:
            ctrd.stop()
            for r in registries.values():
                r.stop()
    return out


async def probe_cost(root: Path, probes: int) -> dict[str, Any]:
    tokens = TokenServer(root / "tokens", "127.0.0.65").start()
    registry = Registry(root / "token-registry", "127.0.0.64", auth=tokens.registry_auth()).start()
    try:
        push = tokens.token("repository:app:pull,push", "pusher")
        push_image(registry.url, "app", "1", headers={"Authorization": f"Bearer {push}"})

        def profile(protocol: MonitorProtocol) -> ProfileSpec:
            return ProfileSpec(
                name="p",
                fqdn="myregistry.azurecr.io",
                endpoints=(EndpointSpec("e", "registry.bench-mirror.test", 1, addresses=("127.0.0.64",)),),
                monitor=MonitorSpec(
                    protocol=protocol,
                    port=registry.port,
                    timeout=2.0,
                    registry=RegistryProbeSpec("app", "1", plain_http=True, token_hosts=(tokens.host,)),
                ),
            )

        v2 = profile(MonitorProtocol.HTTP)
        reg = profile(MonitorProtocol.REGISTRY)
        http = HttpProber(clock=SystemClock())
        cached = RegistryProber(clock=SystemClock())
        results: dict[str, list[float]] = {"v2": [], "registry_cached": [], "registry_fresh": []}
        for _ in range(probes):
            for name, prober, p in (
                ("v2", http, v2),
                ("registry_cached", cached, reg),
                ("registry_fresh", RegistryProber(clock=SystemClock()), reg),
            ):
                r = await prober.probe(p, p.endpoints[0], 0.0)
                if not r.ok:
                    raise SystemExit(f"{name} probe failed: {r.describe()}")
                results[name].append(r.latency)
        requests = {"v2": 1, "registry_cached": 2, "registry_fresh": 3}
        return {
            name: {"median_ms": statistics.median(v) * 1000, "requests": requests[name]}
            for name, v in results.items()
        }
    finally:
        registry.stop()
        tokens.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cap", type=float, default=15.0, help="seconds after which a pull is stopped")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the replicas, containerd and the /etc/hosts lines are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="dnsctl-mirror-bench-") as tmp:
        root = Path(tmp)
        pulls = pull_benchmark(root, args.repeat, args.cap)
        cost = asyncio.run(probe_cost(root, args.probes))
    print()
    print("| pull of myregistry.azurecr.io/app:1, eastus frozen | median (max) |")
    print("|---|---|")
    print(f"| static hosts.toml (containerd's own fallback) | {pulls['static']['text']} |")
    print(
        f"| hosts.toml kept by dnsctl mirror: rewrite after the freeze | {pulls['dnsctl_rewrite']['text']} |"
    )
    print(f"| hosts.toml kept by dnsctl mirror: the pull after | {pulls['dnsctl']['text']} |")
    print()
    print("| probe | median latency | HTTP requests |")
    print("|---|---|---|")
    for name, label in (
        ("v2", "`/v2/` (http)"),
        ("registry_cached", "registry, token cached"),
        ("registry_fresh", "registry, new token"),
    ):
        c = cost[name]
        print(f"| {label} | {c['median_ms']:.2f} ms | {c['requests']} |")
    if args.json:
        args.json.write_text(json.dumps({"pulls": pulls, "probe_cost": cost}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
