"""The node agent's kit (deploy/kubernetes/node-mirror): valid objects wired to the example config."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from dnsctl.config.load import load
from tests.deploy import kit, kustomize
from tests.deploy.test_kubernetes_manifests import KUBERNETES_VERSION
from tests.support.waits import run_process

EXAMPLE = kit.REPO / "examples" / "node-mirror" / "dnsctl.yaml"


def objects() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/kubernetes/node-mirror` applies."""
    return kustomize.render(kit.NODE_MIRROR)


def one(kind: str) -> dict[str, Any]:
    [found] = [o for o in objects() if o["kind"] == kind]
    return found


@pytest.mark.parametrize("obj", objects(), ids=lambda o: o["kind"])
def test_each_object_validates_against_the_kubernetes_schema(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_everything_lives_in_the_agents_own_namespace_which_allows_host_paths() -> None:
    ns = one("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    name = ns["metadata"]["name"]
    assert name != kit.one("Namespace")["metadata"]["name"]  # not the controller's restricted one
    assert all(o["metadata"].get("namespace") == name for o in objects() if o["kind"] != "Namespace")


# The DaemonSet sets the admin token from its Secret: the admin API listens off loopback.
AS_DEPLOYED = {"DNSCTL_ADMIN_TOKEN": "token-from-the-secret"}


def test_the_configuration_is_the_example_verbatim_and_valid() -> None:
    assert (kit.NODE_MIRROR / "dnsctl.yaml").read_text() == EXAMPLE.read_text()
    assert one("ConfigMap")["data"]["dnsctl.yaml"] == EXAMPLE.read_text()
    spec = load(EXAMPLE, AS_DEPLOYED)
    assert spec.mirror.containerd_hosts_dir == "/etc/containerd/certs.d"
    assert all(p.monitor.registry is not None for p in spec.profiles)


def test_the_daemonset_runs_mirror_non_root_on_a_read_only_root_with_the_hosts_dir_mounted() -> None:
    pod = one("DaemonSet")["spec"]["template"]["spec"]
    [main] = pod["containers"]
    assert main["args"][2:5] == ["mirror", "-c", "/etc/dnsctl/dnsctl.yaml"]
    assert main["image"].startswith("myregistry.azurecr.io/dnsctl:")
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    hosts_dir = load(EXAMPLE, AS_DEPLOYED).mirror.containerd_hosts_dir
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert volumes["containerd-hosts"]["hostPath"]["path"] == hosts_dir == mounts["containerd-hosts"]
    assert volumes["config"]["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    [init] = pod["initContainers"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    # The agent's user owns what the init container prepares: the pod's runAsUser.
    assert f"os.chown(path, {pod['securityContext']['runAsUser']}," in init["command"][2]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root (CI runs as root)")
def test_the_init_script_prepares_a_directory_per_profile_for_the_agent(tmp_path: Path) -> None:
    [init] = one("DaemonSet")["spec"]["template"]["spec"]["initContainers"]
    config = yaml.safe_load(EXAMPLE.read_text())
    config["mirror"]["containerd"]["hosts_dir"] = str(tmp_path / "certs.d")
    (tmp_path / "certs.d").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "dnsctl.yaml").write_text(yaml.safe_dump(config))
    script = (
        init["command"][2]
        .replace("/etc/dnsctl/dnsctl.yaml", str(tmp_path / "dnsctl.yaml"))
        .replace("/var/lib/dnsctl", str(tmp_path / "state"))
    )
    run_process([sys.executable, "-c", script], check=True, timeout=30, capture_output=False)
    made = tmp_path / "certs.d" / "myregistry.azurecr.io"
    assert made.is_dir() and made.stat().st_uid == 10001
    assert (tmp_path / "state").stat().st_uid == 10001
