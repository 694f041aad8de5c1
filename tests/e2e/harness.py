"""End-to-end harness: live replicas on loopback, the Azure emulator, and dnsctl as a process."""

from __future__ import annotations

import json
import os
import random
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dnsctl.emulator import AzureEmulator, ZoneId
from tests.support.waits import run_process

if TYPE_CHECKING:
    from tests.e2e.daemon import Daemon

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-private-dns"
ZONE = "privatelink.azurecr.io"
ZONE_ID = ZoneId(SUB, RG, ZONE)
TOKEN = "e2e-secret-token-value"
REPO = Path(__file__).resolve().parents[2]

REPLICAS = {
    "eastus": ("myregistry.eastus.geo.azurecr.io", "127.0.0.2"),
    "westeurope": ("myregistry.westeurope.geo.azurecr.io", "127.0.0.3"),
}


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def worker_slice(environ: Mapping[str, str]) -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker (PYTEST_XDIST_WORKER=gw<index>); (0, 1) when serial."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    except ValueError:
        return 0, 1
    return (index, count) if 0 <= index < count else (0, 1)


def port_pool(index: int, count: int) -> list[int]:
    """The ports worker `index` of `count` may hand out: every count-th port below the ephemeral range."""
    return list(range(max(1024, _ephemeral_floor() - 12000) + index, _ephemeral_floor(), count))


# Ports handed out come from below the kernel's ephemeral range: no outgoing connection or port-0 bind
# (a probe, an upstream query, a server the test starts) can take one between the choice and the bind,
# and none is handed out twice by this process. The parallel workers of a test run (pytest-xdist) each
# have a pool of their own, so no two of them hand out the same port either.
_PORTS = port_pool(*worker_slice(os.environ))
random.Random(os.getpid()).shuffle(_PORTS)
_HANDED: set[int] = set()


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def common_free_port(hosts: list[str]) -> int:
    """A port free for TCP and UDP on every host (a monitor port is per profile, shared by its endpoints)."""
    while _PORTS:
        port = _PORTS.pop()
        if port not in _HANDED and all(_bindable(host, port) for host in hosts):
            _HANDED.add(port)
            return port
    raise RuntimeError("no common free port")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def profile_config(
    port: int, ca_file: str, *, fall: int = 2, rise: int = 2, failback_hold: str = "0s", **azure: Any
) -> dict[str, Any]:
    return {
        "name": "myregistry",
        "fqdn": "myregistry.azurecr.io",
        "ttl": 30,
        "failback_hold": failback_hold,
        "monitor": {
            "protocol": "https",
            "port": port,
            "interval": "2s",
            "timeout": "1s",
            "fall": fall,
            "rise": rise,
            "ca_file": ca_file,
        },
        "endpoints": [
            {"name": name, "target": target, "priority": i + 1, "addresses": [ip]}
            for i, (name, (target, ip)) in enumerate(REPLICAS.items())
        ],
        "azure": {
            "subscription_id": SUB,
            "resource_group": RG,
            "zone": ZONE,
            "record": "myregistry",
            **azure,
        },
    }


def fast_probes(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile probed every 500 ms (timeout 400 ms): a failover within a second or two."""
    profile["monitor"].update(interval="500ms", timeout="400ms")
    return profile


@dataclass
class RunSetup:
    """`dnsctl run` against the emulator: its configuration file, admin API and environment."""

    cfg: Path
    admin_port: int
    env: dict[str, str]
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def daemon(self, log: str = "run.log") -> Daemon:
        from tests.e2e.daemon import Daemon  # the daemon module imports this one

        return Daemon(
            "run", "-c", str(self.cfg), admin_port=self.admin_port, env=self.env, log=self.directory / log
        )

    def start(self, log: str = "run.log") -> Daemon:
        return self.daemon(log).start()


def run_setup(
    directory: Path,
    emulator: AzureEmulator,
    profiles: list[dict[str, Any]],
    *,
    env: dict[str, str] | None = None,
    name: str = "run.yaml",
    **extra: Any,
) -> RunSetup:
    """The configuration of a `dnsctl run` with its admin API on a free loopback port (`extra` are
    top-level settings, e.g. resync_interval or notify)."""
    admin_port = free_port()
    cfg = write_config(
        directory / name, emulator, profiles, admin={"listen": f"127.0.0.1:{admin_port}"}, **extra
    )
    return RunSetup(cfg, admin_port, dict(env or {}), directory)


def write_config(path: Path, emulator: AzureEmulator, profiles: list[dict[str, Any]], **extra: Any) -> Path:
    doc = {"profiles": profiles, "azure": {"credential": "static", "base_url": emulator.base_url}, **extra}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def dnsctl(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Result:
    environ = {**os.environ, "DNSCTL_AZURE_TOKEN": TOKEN, **(env or {})}
    proc = run_process([sys.executable, "-m", "dnsctl", *args], timeout=timeout, env=environ, cwd=REPO)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def cname_of(emulator: AzureEmulator, name: str = "myregistry") -> str | None:
    rs = emulator.record_set(ZONE_ID, "CNAME", name)
    if rs is None:
        return None
    return str(rs["properties"]["cnameRecord"]["cname"])


def writes(emulator: AzureEmulator) -> list[Any]:
    return [r for r in emulator.request_log() if r.method in ("PUT", "PATCH", "DELETE")]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`."""
    return common_free_port([host])
