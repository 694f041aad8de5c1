"""A site published only to its node agents (`mirror: true`) or its resolver clients (`clients:`): no
Azure zone. Its vantage (`dnsctl run --site S`, a real process) still probes the replica stand-ins and
publishes its verdicts and its decision; `mirror --once --source exchange` writes hosts.toml from it."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import yaml

from dnsctl.controller.exchange import DirectoryExchange, decision_name
from tests.e2e.daemon import Daemon
from tests.e2e.harness import TOKEN, common_free_port, dnsctl, free_port
from tests.support.registry import RegistryServer

SITES = ("eastus", "westeurope")
ADDRESSES = {"x": "127.0.0.111", "y": "127.0.0.112"}
WAIT = 60.0  # generous: other processes share the CPU


def target(name: str) -> str:
    return f"myregistry.{name}.geo.azurecr.io"


def write_config(tmp: Path, port: int) -> Path:
    doc: dict[str, Any] = {
        "sites": [
            {"name": "eastus", "region": "eastus", "mirror": True},  # its node agents only
            {"name": "westeurope", "region": "westeurope", "clients": ["10.2.0.0/16"]},  # its resolver
        ],
        "exchange": {"kind": "directory", "path": str(tmp / "exchange")},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {"protocol": "http", "port": port, "interval": "1s", "timeout": "0.5s", "fall": 1},
                "endpoints": [
                    {"name": n, "target": target(n), "priority": i + 1, "addresses": [ip]}
                    for i, (n, ip) in enumerate(ADDRESSES.items())
                ],
            }
        ],
        "mirror": {"containerd": {"hosts_dir": str(tmp / "certs.d")}},
    }
    path = tmp / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def decided(exchange: Path) -> tuple[str, ...] | None:
    """The mirror order in site eastus's decision document, read through the real exchange code."""
    got = asyncio.run(DirectoryExchange(exchange, SITES).read_decision("eastus"))
    mine = got.decision.profile("myregistry") if got.decision is not None else None
    return mine.mirror if mine is not None else None


def hosts(tmp: Path) -> list[str]:
    path = tmp / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    return list(tomllib.loads(path.read_text()).get("host", {})) if path.exists() else []


def test_a_site_without_a_zone_is_valid_and_its_vantage_publishes_its_decision(tmp_path: Path) -> None:
    (tmp_path / "exchange").mkdir()
    port = common_free_port(list(ADDRESSES.values()))
    servers = {n: RegistryServer(ip, port).start() for n, ip in ADDRESSES.items()}
    cfg = write_config(tmp_path, port)
    url = {n: f"http://{target(n)}:{port}" for n in ADDRESSES}
    try:
        got = dnsctl("validate", "-c", str(cfg))
        assert got.code == 0, got.stderr
        admin = free_port()
        with Daemon(
            "run",
            "-c",
            str(cfg),
            "--site",
            "eastus",
            admin_port=admin,
            env={"DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{admin}", "DNSCTL_ADMIN_TOKEN": TOKEN},
            log=tmp_path / "vantage.log",
        ) as vantage:
            exchange = tmp_path / "exchange"
            vantage.wait_until(lambda: decided(exchange) == ("x", "y"), WAIT, "eastus's decision")
            assert (exchange / "eastus.json").is_file()  # its verdicts too
            assert servers["x"].requests and servers["y"].requests  # it probes

            got = dnsctl("mirror", "-c", str(cfg), "--site", "eastus", "--source", "exchange", "--once")
            assert got.code == 0, got.stderr
            assert hosts(tmp_path) == [url["x"], url["y"]]

            servers["x"].set_behaviour("stopped")
            vantage.wait_until(lambda: decided(exchange) == ("y",), WAIT, "eastus to move off x")
            got = dnsctl("mirror", "-c", str(cfg), "--site", "eastus", "--source", "exchange", "--once")
            assert got.code == 0, got.stderr
            assert hosts(tmp_path) == [url["y"]]
            assert (exchange / decision_name("eastus")).stat().st_size < 4096  # one small read
    finally:
        for s in servers.values():
            s.stop()
