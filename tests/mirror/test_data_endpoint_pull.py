"""A real pull through a data endpoint: containerd, `dnsctl mirror`, registry stand-ins that redirect blobs
(as ACR does) to a real docker-registry serving them as each replica's data endpoint.

A replica whose data endpoint is frozen still answers `/v2/` and its manifests; only the data-path probe
(`registry.blob`) sees it. It leaves hosts.toml, and the next pull succeeds quickly from the other one.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import TOKEN, common_free_port
from tests.mirror.conftest import free_port
from tests.support.oci import Containerd, EtcHosts, Registry, ensure_runtime, push_image, tiny_image
from tests.support.scripted_registry import ScriptedRegistry

FQDN = "deepreg.azurecr.io"
IMAGE = f"{FQDN}/app:1"
FRONTS = {"eastus": "127.0.0.81", "westeurope": "127.0.0.82"}
DATA = {"eastus": "127.0.0.83", "westeurope": "127.0.0.84"}
NOWHERE = "127.0.0.85"  # the global name: nothing listens, so no pull ever leaves the machine


def _realm(url: str) -> Callable[[int], str]:
    return lambda _n: url


def _redirect(prefix: str) -> Callable[[str], str]:
    return lambda digest: prefix + digest


def front(name: str) -> str:
    return f"{name}.deep.test"


def data_name(name: str) -> str:
    return f"{name}-data.deep.test"


@dataclass
class DeepLab:
    port: int
    fronts: dict[str, ScriptedRegistry]
    data: dict[str, Registry]
    containerd: Containerd

    def url(self, name: str) -> str:
        return f"http://{front(name)}:{self.port}"

    def config(self, tmp: Path, admin_port: int) -> Path:
        doc = {
            "profiles": [
                {
                    "name": "deepreg",
                    "fqdn": FQDN,
                    "failback_hold": "60s",
                    "monitor": {
                        "protocol": "registry",
                        "port": self.port,
                        "interval": "1s",
                        "timeout": "0.8s",
                        "fall": 2,
                        "rise": 2,
                        "registry": {
                            "repository": "app",
                            "reference": "1",
                            "plain_http": True,
                            "blob": "auto",
                            "data_endpoints": [
                                {"endpoint": n, "host": data_name(n), "addresses": [DATA[n]]} for n in FRONTS
                            ],
                        },
                    },
                    "endpoints": [
                        {"name": n, "target": front(n), "priority": i + 1} for i, n in enumerate(FRONTS)
                    ],
                }
            ],
            "admin": {"listen": f"127.0.0.1:{admin_port}"},
            "mirror": {"containerd": {"hosts_dir": str(tmp / "certs.d")}},
        }
        path = tmp / "dnsctl.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


def blob_gets(registry: Registry) -> int:
    return sum(
        1 for line in registry.log().splitlines() if "/v2/app/blobs/" in line and "response completed" in line
    )


def hosts(tmp: Path) -> list[str]:
    path = tmp / "certs.d" / FQDN / "hosts.toml"
    return list(tomllib.loads(path.read_text()).get("host", {})) if path.exists() else []


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeepLab]:
    ensure_runtime()
    root = tmp_path_factory.mktemp("deep")
    port = common_free_port(list(FRONTS.values()))
    config, layer, manifest = tiny_image()
    blobs = {config.digest: config.data, layer.digest: layer.data}
    fronts: dict[str, ScriptedRegistry] = {}
    data: dict[str, Registry] = {}
    ctrd = Containerd(root / "containerd")
    names = {front(n): ip for n, ip in FRONTS.items()} | {data_name(n): ip for n, ip in DATA.items()}
    try:
        with EtcHosts({**names, FQDN: NOWHERE}):
            for n in FRONTS:
                data[n] = Registry(root / f"{n}-data", DATA[n]).start()
                push_image(data[n].url, "app", "1")
                fronts[n] = ScriptedRegistry(FRONTS[n], port=port).start()
                fronts[n].realm = _realm(f"http://{front(n)}:{port}/oauth2/token")
                fronts[n].push("app", "1", manifest.data, blobs)
                fronts[n].blob_redirect = _redirect(f"http://{data_name(n)}:{data[n].port}/v2/app/blobs/")
            ctrd.start()
            yield DeepLab(port, fronts, data, ctrd)
    finally:
        ctrd.stop()
        for f in fronts.values():
            f.stop()
        for r in data.values():
            r.stop()


def test_a_replica_whose_data_endpoint_is_frozen_leaves_hosts_toml(deep: DeepLab, tmp_path: Path) -> None:
    port = free_port()
    cfg = deep.config(tmp_path, port)
    with Daemon(
        "mirror", "-c", str(cfg), admin_port=port, env={"DNSCTL_ADMIN_TOKEN": TOKEN}, log=tmp_path / "d.log"
    ) as d:
        d.wait_until(lambda: hosts(tmp_path) == [deep.url(n) for n in FRONTS], 15, "both replicas listed")
        before = blob_gets(deep.data["eastus"])
        run = deep.containerd.pull(IMAGE, tmp_path / "certs.d", timeout=20)
        assert run.returncode == 0, run.stderr
        assert blob_gets(deep.data["eastus"]) > before  # the layers came from eastus's data endpoint

        deep.data["eastus"].freeze()  # its /v2/ and manifests still answer: only the data path is dead
        try:
            d.wait_until(lambda: deep.url("eastus") not in hosts(tmp_path), 15, "eastus out of hosts.toml")
            assert hosts(tmp_path) == [deep.url("westeurope")]
            assert "data-endpoint" in d.get("/status").text
            before = blob_gets(deep.data["westeurope"])
            started = time.monotonic()
            run = deep.containerd.pull(IMAGE, tmp_path / "certs.d", timeout=20)
            took = time.monotonic() - started
            assert run.returncode == 0, run.stderr
            assert blob_gets(deep.data["westeurope"]) > before
            assert took < 2.0
        finally:
            deep.data["eastus"].resume()
