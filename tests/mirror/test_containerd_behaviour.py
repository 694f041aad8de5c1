"""What the installed containerd itself does with a hosts.toml (the facts the mirror agent is built on).

Checked against the real daemon, not the documentation: these differ between containerd versions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.mirror.conftest import IMAGE, Lab, target


def static_hosts(lab: Lab, tmp: Path, first: str, second: str, server: str) -> Path:
    d = tmp / "certs.d"
    (d / "myregistry.azurecr.io").mkdir(parents=True)
    (d / "myregistry.azurecr.io" / "hosts.toml").write_text(
        f'server = "http://{target(server)}:{lab.port}"\n'
        f'[host."http://{target(first)}:{lab.port}"]\n  capabilities = ["pull", "resolve"]\n'
        f'[host."http://{target(second)}:{lab.port}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    return d


def test_refused_hosts_fall_through_to_the_next_and_then_to_server(lab: Lab, tmp_path: Path) -> None:
    lab.heal()
    d = static_hosts(lab, tmp_path, "eastus", "westeurope", "southeastasia")
    try:
        lab.registries["eastus"].kill()
        before = lab.served()
        assert lab.containerd.pull(IMAGE, d).returncode == 0
        after = lab.served()
        assert after["westeurope"] == before["westeurope"] + 1
        lab.registries["westeurope"].kill()
        before = lab.served()
        run = lab.containerd.pull(IMAGE, d)
        assert run.returncode == 0, run.stderr
        # With every [host] refusing, this containerd tries the `server` line last.
        assert lab.served()["southeastasia"] == before["southeastasia"] + 1
    finally:
        lab.heal()


def test_a_hung_first_host_hangs_the_pull(lab: Lab, tmp_path: Path) -> None:
    lab.heal()
    d = static_hosts(lab, tmp_path, "eastus", "westeurope", "southeastasia")
    lab.registries["eastus"].freeze()
    try:
        # No per-host timeout: a static list with a frozen first mirror does not move on by itself.
        with pytest.raises(subprocess.TimeoutExpired):
            lab.containerd.pull(IMAGE, d, timeout=3)
    finally:
        lab.heal()
