"""A private pull through a replica host: containerd authenticates against that host's token service.

The agent probes `/v2/` (its registry probe would send the Azure token to this plain-http token service,
which it never does: tests/probes/test_registry_realm.py); the node pulls with its own credentials.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import yaml

from tests.e2e.harness import REPO
from tests.mirror.conftest import AAD_TOKEN, AUTH_REPLICA, IMAGE, Lab, TokenLab, target
from tests.support.waits import run_process


def test_a_private_pull_through_the_mirror_needs_and_uses_credentials(
    lab: Lab, token_lab: TokenLab, tmp_path: Path
) -> None:
    token_lab.heal()
    token_lab.tokens.anonymous = False
    doc = {
        "azure": {"credential": "static"},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {
                    "protocol": "http",
                    "port": token_lab.registry.port,
                    "interval": "2s",
                    "timeout": "1s",
                },
                "endpoints": [{"name": AUTH_REPLICA[0], "target": target(AUTH_REPLICA[0]), "priority": 1}],
            }
        ],
        "mirror": {"containerd": {"hosts_dir": str(tmp_path / "certs.d")}},
    }
    cfg = tmp_path / "dnsctl.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    try:
        run = run_process(
            [sys.executable, "-m", "dnsctl", "mirror", "--once", "-c", str(cfg)],
            cwd=REPO,
            env={**os.environ, "DNSCTL_AZURE_TOKEN": AAD_TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert AAD_TOKEN not in run.stdout + run.stderr
        hosts = tomllib.loads((tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml").read_text())
        assert list(hosts["host"]) == [f"http://{target(AUTH_REPLICA[0])}:{token_lab.registry.port}"]

        anonymous = lab.containerd.pull(IMAGE, tmp_path / "certs.d")
        assert anonymous.returncode != 0  # the replica host wants credentials of its own
        assert "401" in anonymous.stderr or "unauthorized" in anonymous.stderr.lower(), anonymous.stderr
        before = token_lab.registry.manifest_gets("app", "1")
        pulled = lab.containerd.pull(IMAGE, tmp_path / "certs.d", user="puller:s3cret")
        assert pulled.returncode == 0, pulled.stderr
        assert token_lab.registry.manifest_gets("app", "1") > before
        assert "puller" in token_lab.tokens.issued
    finally:
        token_lab.heal()
