"""What is at a mirror file's path is read the way the state file is: a FIFO, a link to /dev/zero or a file
far larger than any hosts.toml is refused with its reason (exit 3), never read nor replaced; the agent says
so on /readyz and still stops on SIGTERM. Real `dnsctl mirror` processes against registries on loopback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPO, common_free_port
from tests.mirror.conftest import free_port
from tests.mirror.test_mirror_once import HOSTS, config
from tests.support.registry import RegistryServer
from tests.support.waits import run_process

MEMORY_LIMIT = 2 * 1024**3  # a regression that reads /dev/zero dies here instead of eating the machine


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def once(cfg: Path) -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", "mirror", "--once", "-c", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,  # a hang on the FIFO fails the test here
        check=False,
        preexec_fn=_limit_memory,
    )


@pytest.fixture
def registries() -> Iterator[tuple[int, dict[str, RegistryServer]]]:
    port = common_free_port(list(HOSTS.values()))
    servers = {name: RegistryServer(ip, port, name=f"{name}.lab.test").start() for name, ip in HOSTS.items()}
    try:
        yield port, servers
    finally:
        for s in servers.values():
            s.stop()


def hosts_path(tmp_path: Path) -> Path:
    path = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = hosts_path(tmp_path)
    os.mkfifo(path)
    yield path


def test_once_refuses_a_fifo_at_hosts_toml_with_exit_3(
    tmp_path: Path, fifo: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    run = once(config(tmp_path, port))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "not a regular file (a FIFO)" in run.stdout
    assert "refused" in run.stderr and "Traceback" not in run.stderr
    assert fifo.is_fifo()  # left where it is
    # The CRI-O drop-in, a plain file, is still written.
    assert (tmp_path / "registries.conf.d" / "dnsctl-myregistry.azurecr.io.conf").is_file()


def test_once_refuses_a_link_to_dev_zero_with_exit_3(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    path = hosts_path(tmp_path)
    path.symlink_to("/dev/zero")
    run = once(config(tmp_path, port))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "not a regular file (a device)" in run.stdout
    assert "Traceback" not in run.stderr
    assert path.is_symlink()


def test_once_refuses_a_file_larger_than_any_hosts_toml(
    tmp_path: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    path = hosts_path(tmp_path)
    big = "# managed-by: dnsctl (profile myregistry)\n" + "#" * (2 * 1024 * 1024) + "\n"
    path.write_text(big)
    run = once(config(tmp_path, port))
    assert run.returncode == 3, run.stdout + run.stderr
    assert "is larger than 1048576 bytes" in run.stdout
    assert path.read_text() == big


def test_the_agent_with_a_fifo_is_not_ready_with_the_reason_and_stops_on_sigterm(
    tmp_path: Path, fifo: Path, registries: tuple[int, dict[str, RegistryServer]]
) -> None:
    port, _ = registries
    cfg = config(tmp_path, port)
    doc = yaml.safe_load(cfg.read_text())
    admin_port = free_port()
    doc["admin"] = {"listen": f"127.0.0.1:{admin_port}"}
    cfg.write_text(yaml.safe_dump(doc))
    d = Daemon("mirror", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "dnsctl.log")
    with d:
        response = d.wait_until(
            lambda: (r := d.get("/readyz")).status_code == 503 and "not a regular file" in r.text and r,
            30,
            "/readyz to say why the hosts.toml is not kept",
        )
        assert str(fifo) in response.text and "FIFO" in response.text
        # Still running and still refusing on later rounds (the writer is not stuck).
        status = d.status()
        files = status["profiles"][0]["mirror_files"]
        assert {f["runtime"]: f["outcome"] for f in files} == {"containerd": "refused", "crio": "written"}
        started = time.monotonic()
        code = d.terminate(timeout=20)  # raises TimeoutExpired if SIGTERM cannot stop it
        assert code == 0, d.log()[-3000:]
        assert time.monotonic() - started < 20
    assert fifo.is_fifo()
