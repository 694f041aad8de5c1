"""Real runtime fixtures: three docker-registry replicas with the same image, containerd, /etc/hosts names."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import TOKEN, common_free_port
from tests.support.oci import Containerd, EtcHosts, Registry, ensure_runtime, push_image
from tests.support.system_packages import ensure_command
from tests.support.token_server import TokenServer

REPLICAS = {"eastus": "127.0.0.41", "westeurope": "127.0.0.42", "southeastasia": "127.0.0.43"}
IMAGE = "myregistry.azurecr.io/app:1"
AUTH_REPLICA = ("authreg", "127.0.0.44")  # a replica with token auth; its token server on .45
TLS_REPLICA = ("tlsreg", "127.0.0.46")  # a replica serving HTTPS with a certificate from a test CA
# The global name, where a runtime goes when every mirror failed: a loopback address where nothing
# listens, so that no test traffic ever leaves the machine.
GLOBAL_NAME = ("myregistry.azurecr.io", "127.0.0.47")
AAD_TOKEN = "aad-access-token-for-the-test"


def target(name: str) -> str:
    return f"{name}.mirror.test"


@dataclass
class Lab:
    port: int
    registries: dict[str, Registry]
    containerd: Containerd
    root: Path

    def served(self) -> dict[str, int]:
        return {n: r.manifest_gets("app", "1") for n, r in self.registries.items()}

    def heal(self) -> None:
        """Every replica running and answering (a test may have killed or frozen one)."""
        for r in self.registries.values():
            if r.proc is None:
                r.start()
            else:
                r.resume()

    def config(self, tmp: Path, admin_port: int, **profile_extra: object) -> Path:
        doc = {
            "profiles": [
                {
                    "name": "myregistry",
                    "fqdn": "myregistry.azurecr.io",
                    "failback_hold": "3s",
                    "monitor": {
                        "protocol": "http",
                        "port": self.port,
                        "interval": "0.5s",
                        "timeout": "0.3s",
                        "fall": 2,
                        "rise": 2,
                    },
                    "endpoints": [
                        {"name": n, "target": target(n), "priority": i + 1} for i, n in enumerate(REPLICAS)
                    ],
                    **profile_extra,
                }
            ],
            "admin": {"listen": f"127.0.0.1:{admin_port}"},
            "mirror": {
                "containerd": {"hosts_dir": str(tmp / "certs.d")},
                "crio": {"enabled": True, "registries_dir": str(tmp / "registries.conf.d")},
            },
        }
        path = tmp / "dnsctl.yaml"
        path.write_text(yaml.safe_dump(doc))
        return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    ensure_runtime()
    root = tmp_path_factory.mktemp("runtime")
    port = common_free_port(list(REPLICAS.values()))
    registries: dict[str, Registry] = {}
    ctrd = Containerd(root / "containerd")
    try:
        names = {target(n): ip for n, ip in REPLICAS.items()}
        names[target(AUTH_REPLICA[0])] = AUTH_REPLICA[1]
        names[target(TLS_REPLICA[0])] = TLS_REPLICA[1]
        names[GLOBAL_NAME[0]] = GLOBAL_NAME[1]
        with EtcHosts(names):
            for name, ip in REPLICAS.items():
                registries[name] = Registry(root / name, ip, port=port).start()
                push_image(registries[name].url, "app", "1")
            ctrd.start()
            yield Lab(port, registries, ctrd, root)
    finally:
        ctrd.stop()
        for r in registries.values():
            r.stop()


@dataclass
class TokenLab:
    registry: Registry
    tokens: TokenServer

    def heal(self) -> None:
        self.tokens.mode = "ok"
        self.tokens.anonymous = True
        if self.tokens._server is None:
            self.tokens.start()


@pytest.fixture(scope="package")
def token_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenLab]:
    ensure_command("docker-registry")
    root = tmp_path_factory.mktemp("token-auth")
    tokens = TokenServer(root / "tokens", "127.0.0.45", users={"puller": "s3cret"}, aad_token=AAD_TOKEN)
    tokens.start()
    registry = Registry(root / "registry", AUTH_REPLICA[1], auth=tokens.registry_auth())
    try:
        registry.start()
        push = tokens.token("repository:app:pull,push", "pusher")
        push_image(registry.url, "app", "1", headers={"Authorization": f"Bearer {push}"})
        yield TokenLab(registry, tokens)
    finally:
        registry.stop()
        tokens.stop()


def hosts(tmp: Path) -> list[str]:
    path = tmp / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text()).get("host", {}))


def url(lab: Lab, name: str) -> str:
    return f"http://{target(name)}:{lab.port}"


@pytest.fixture
def agent(lab: Lab, tmp_path: Path) -> Iterator[Daemon]:
    lab.heal()
    port = free_port()
    cfg = lab.config(tmp_path, port)
    env = {"DNSCTL_ADMIN_TOKEN": TOKEN}
    with Daemon("mirror", "-c", str(cfg), admin_port=port, env=env, log=tmp_path / "dnsctl.log") as d:
        d.wait_until(lambda: hosts(tmp_path) == [url(lab, n) for n in lab.registries], 10, "the first file")
        yield d
    lab.heal()
