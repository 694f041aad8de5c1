"""Every dnsctl configuration the kit carries passes `dnsctl validate`, run as the CLI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy import kit
from tests.support.waits import run_process


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    # Without the caller's DNSCTL_* variables, which would override the file under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    # As deployed: the admin API off loopback needs its token (a Secret in Kubernetes).
    env["DNSCTL_ADMIN_TOKEN"] = "token-from-the-secret"
    return run_process(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=kit.REPO,
        timeout=60,
        check=False,
    )


@pytest.fixture
def configmap_file(tmp_path: Path) -> Path:
    path = tmp_path / "dnsctl.yaml"
    path.write_text(kit.configmap_config(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "path",
    [kit.SYSTEMD_CONFIG, kit.VNET_PINNING_CONFIG, kit.CRONJOB_CONFIG],
    ids=lambda p: str(p.relative_to(kit.REPO)),
)
def test_config_file_is_valid(path: Path) -> None:
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize("overlay", sorted(kit.OVERLAYS))
def test_configmap_config_is_valid(overlay: str, tmp_path: Path) -> None:
    path = tmp_path / "dnsctl.yaml"
    path.write_text(kit.configmap_config(overlay), encoding="utf-8")
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_would_catch_a_broken_configmap(configmap_file: Path) -> None:
    doc = yaml.safe_load(configmap_file.read_text(encoding="utf-8"))
    doc["ha"]["lease_duration"] = "5m"  # Azure Blob leases last 15 to 60 seconds
    configmap_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = validate(configmap_file)
    assert result.returncode == 2
    assert "ha.lease_duration" in result.stdout + result.stderr


def test_each_overlays_configmap_carries_its_example_verbatim() -> None:
    for overlay, example in kit.OVERLAY_CONFIGS.items():
        assert kit.configmap_config(overlay) == example.read_text(encoding="utf-8")


def test_deployment_config_is_highly_available_and_reachable_in_the_pod() -> None:
    doc = yaml.safe_load(kit.configmap_config())
    assert doc["azure"]["credential"] == "workload"
    assert doc["ha"]["lease"] == "azure-blob"
    assert doc["ha"]["blob_url"].startswith("https://")
    assert doc["admin"]["listen"].startswith("0.0.0.0:")
    assert all(p.get("azure") for p in doc["profiles"])


def test_cronjob_example_keeps_state_in_record_metadata() -> None:
    doc = yaml.safe_load(kit.CRONJOB_CONFIG.read_text(encoding="utf-8"))
    assert doc["azure"]["credential"] == "workload"
    assert all(p.get("azure") for p in doc["profiles"])
    # The CronJob passes no --state-file: the health history must live in the record's metadata.
    assert "--state-file" not in kit.container(kit.one("CronJob"))["args"]


def test_systemd_config_serves_the_vnet_on_port_53() -> None:
    doc = yaml.safe_load(kit.SYSTEMD_CONFIG.read_text(encoding="utf-8"))
    resolver = doc["resolver"]
    assert all(listen.endswith(":53") for listen in resolver["listen"])
    assert "168.63.129.16" in resolver["upstreams"]
    assert resolver["allow"] and not {"0.0.0.0/0", "::/0"} & set(resolver["allow"])
    assert "azure" not in doc and all("azure" not in p for p in doc["profiles"])
