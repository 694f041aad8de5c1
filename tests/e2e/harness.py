"""End-to-end harness: live replicas on loopback, the Azure emulator, and dnsctl as a process."""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dnsctl.emulator import AzureEmulator, ZoneId
from dnsctl.emulator.http_server import ArmRequest, Reply
from tests.support.waits import ACTIVITY, run_process

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


class ObservedEmulator(AzureEmulator):
    """The emulator, telling the tests' waits each time it answered a request (a read or a write)."""

    def handle(self, request: ArmRequest) -> Reply:
        try:
            return super().handle(request)
        finally:
            ACTIVITY.bump()


def common_free_port(hosts: list[str]) -> int:
    """A port free on every host (the monitor port is per profile, shared by its endpoints)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        ok = True
        for host in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                    break
        if ok:
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
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")
