"""An HTTPS replica with a certificate from a private CA: hosts.toml's `ca` is what lets containerd pull."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import trustme
import yaml

from tests.e2e.harness import REPO
from tests.mirror.conftest import IMAGE, TLS_REPLICA, Lab, target
from tests.support.oci import Registry, push_image
from tests.support.waits import run_process


def test_a_private_ca_passes_through_to_containerd(lab: Lab, tmp_path: Path) -> None:
    name, ip = TLS_REPLICA
    ca = trustme.CA()
    leaf = ca.issue_cert(target(name))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    registry = Registry(tmp_path / "registry", ip, tls=(cert, key)).start()
    try:
        push_image(f"https://{ip}:{registry.port}", "app", "1", verify=False)

        def agent_once(with_ca: bool) -> dict[str, object]:
            profile: dict[str, object] = {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {
                    "protocol": "https",
                    "port": registry.port,
                    "ca_file": str(ca_file),
                    "interval": "2s",
                    "timeout": "1s",
                },
                "endpoints": [{"name": name, "target": target(name), "priority": 1}],
            }
            if with_ca:
                profile["mirror"] = {"ca": str(ca_file)}
            cfg = tmp_path / "dnsctl.yaml"
            cfg.write_text(
                yaml.safe_dump(
                    {
                        "profiles": [profile],
                        "mirror": {"containerd": {"hosts_dir": str(tmp_path / "certs.d")}},
                    }
                )
            )
            run = run_process(
                [sys.executable, "-m", "dnsctl", "mirror", "--once", "-c", str(cfg)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, run.stdout + run.stderr
            doc = tomllib.loads((tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml").read_text())
            hosts: dict[str, object] = doc["host"]
            return hosts

        without = agent_once(with_ca=False)
        assert list(without) == [f"https://{target(name)}:{registry.port}"]
        refused = lab.containerd.pull(IMAGE, tmp_path / "certs.d")
        assert refused.returncode != 0
        assert "certificate" in refused.stderr or "x509" in refused.stderr, refused.stderr

        with_ca = agent_once(with_ca=True)
        assert with_ca[f"https://{target(name)}:{registry.port}"] == {
            "capabilities": ["pull", "resolve"],
            "ca": str(ca_file),
        }
        before = registry.manifest_gets("app", "1")
        pulled = lab.containerd.pull(IMAGE, tmp_path / "certs.d")
        assert pulled.returncode == 0, pulled.stderr
        assert registry.manifest_gets("app", "1") > before
    finally:
        registry.stop()
