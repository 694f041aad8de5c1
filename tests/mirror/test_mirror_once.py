"""`dnsctl mirror --once` as a real process against real HTTP registries on loopback: files and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import REPO, common_free_port
from tests.support.registry import RegistryServer
from tests.support.waits import run_process

HOSTS = {"eastus": "127.0.0.31", "westeurope": "127.0.0.32"}


@pytest.fixture
def registries() -> Iterator[tuple[int, dict[str, RegistryServer]]]:
    port = common_free_port(list(HOSTS.values()))
    servers = {name: RegistryServer(ip, port, name=f"{name}.lab.test").start() for name, ip in HOSTS.items()}
    try:
        yield port, servers
    finally:
        for s in servers.values():
            s.stop()


def config(tmp_path: Path, port: int, **profile_extra: object) -> Path:
    doc = {
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {"protocol": "http", "port": port, "interval": "2s", "timeout": "1s", "fall": 1},
                "endpoints": [
                    {"name": n, "target": f"{n}.lab.test", "addresses": [ip], "priority": i + 1}
                    for i, (n, ip) in enumerate(HOSTS.items())
                ],
                **profile_extra,
            }
        ],
        "mirror": {
            "containerd": {"hosts_dir": str(tmp_path / "certs.d")},
            "crio": {"enabled": True, "registries_dir": str(tmp_path / "registries.conf.d")},
        },
    }
    path = tmp_path / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def once(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", "mirror", "--once", "-c", str(cfg), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def hosts(tmp_path: Path) -> list[str]:
    doc = tomllib.loads((tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml").read_text())
    return list(doc["host"])


def test_once_writes_both_files_in_priority_order_and_exits_0(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    run = once(config(tmp_path, port), "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert {f["runtime"]: f["outcome"] for f in doc["files"]} == {"containerd": "written", "crio": "written"}
    assert hosts(tmp_path) == [f"http://eastus.lab.test:{port}", f"http://westeurope.lab.test:{port}"]
    crio = tomllib.loads((tmp_path / "registries.conf.d" / "dnsctl-myregistry.azurecr.io.conf").read_text())
    assert [m["location"] for m in crio["registry"][0]["mirror"]] == [
        f"eastus.lab.test:{port}",
        f"westeurope.lab.test:{port}",
    ]
    again = once(config(tmp_path, port))
    assert again.returncode == 0 and again.stdout.count("unchanged:") == 2


def test_once_with_the_preferred_replica_down_lists_the_other_first(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, servers = registries
    servers["eastus"].set_behaviour("503")
    run = once(config(tmp_path, port))
    assert run.returncode == 0, run.stderr
    assert hosts(tmp_path) == [f"http://westeurope.lab.test:{port}"]


def test_once_exits_4_when_no_replica_is_online(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, servers = registries
    for s in servers.values():
        s.set_behaviour("503")
    cfg = config(tmp_path, port, when_all_down="serve-first")
    # A 503 proves that the network works: the replicas are down, not us, so the all-down policy applies.
    run = once(cfg)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "isolation guard" not in run.stderr.lower()
    assert "degraded: myregistry" in run.stderr
    assert hosts(tmp_path) == [f"http://eastus.lab.test:{port}"]  # serve-first


def test_once_writes_nothing_when_every_replica_is_silent(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, servers = registries
    for s in servers.values():
        s.set_behaviour("blackhole")
    cfg = config(tmp_path, port, when_all_down="serve-first")
    # Every connect times out: the likelier cause is this node's own network, so nothing is written.
    run = once(cfg)
    assert run.returncode == 4, run.stdout + run.stderr
    assert "isolation guard" in run.stderr.lower()
    assert not (tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml").exists()
    doc = yaml.safe_load(cfg.read_text())
    doc["isolation_guard"] = {"enabled": False}
    cfg.write_text(yaml.safe_dump(doc))
    run = once(cfg)
    assert run.returncode == 4, run.stdout + run.stderr
    assert hosts(tmp_path) == [f"http://eastus.lab.test:{port}"]  # serve-first


def test_once_refuses_a_file_it_does_not_manage_with_exit_3(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    path = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    path.parent.mkdir(parents=True)
    path.write_text('server = "https://myregistry.azurecr.io"\n')
    run = once(config(tmp_path, port))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "not managed by dnsctl" in run.stdout + run.stderr
    assert path.read_text() == 'server = "https://myregistry.azurecr.io"\n'
    adopted = once(config(tmp_path, port, mirror={"adopt": True}))
    assert adopted.returncode == 0, adopted.stderr
    assert hosts(tmp_path)[0] == f"http://eastus.lab.test:{port}"


def test_once_exits_1_when_the_directory_cannot_be_written(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    (tmp_path / "certs.d").write_text("a file where the directory should be")
    run = once(config(tmp_path, port))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_a_bad_mirror_configuration_exits_2_with_every_problem(tmp_path: Path) -> None:
    doc = {
        "profiles": [
            {
                "name": "p",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {"protocol": "registry"},
                "mirror": {"capabilities": ["pull", "fly"]},
                "endpoints": [{"name": "e", "target": "e.lab.test", "priority": 1}],
            }
        ]
    }
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    run = once(cfg)
    assert run.returncode == 2
    assert "capabilities" in run.stderr
    assert "Traceback" not in run.stderr
