"""The deployment kit's files, read once, and small helpers over Kubernetes objects."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dnsctl.config.values import parse_host_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATION = KUBERNETES / "kustomization.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
SYSTEMD_UNIT = DEPLOY / "systemd" / "dnsctl-serve.service"
SYSTEMD_CONFIG = DEPLOY / "systemd" / "dnsctl-serve.yaml"
VNET_PINNING_CONFIG = REPO / "examples" / "vnet-pinning" / "dnsctl.yaml"
CRONJOB_CONFIG = REPO / "examples" / "cronjob" / "dnsctl.yaml"

# Shipped beside the base but deliberately not in kustomization.yaml: the one-shot alternative to the
# Deployment (the two must never write the same record together), and a Secret with a placeholder.
NOT_IN_KUSTOMIZATION = frozenset({"cronjob.yaml", "secret.example.yaml"})

Obj = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p != KUSTOMIZATION)


@functools.cache
def documents(path: Path) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None)


def kustomization() -> Obj:
    doc = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def one(kind: str, name: str | None = None) -> Obj:
    """The single object of `kind` (and `name`) across every manifest file."""
    found = [
        doc
        for path in manifest_files()
        for doc in documents(path)
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(workload: Obj) -> Obj:
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    return dict(template["spec"])


def pod_labels(workload: Obj) -> dict[str, str]:
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    return dict(template["metadata"]["labels"])


def container(workload: Obj, name: str = "dnsctl") -> Obj:
    matching = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    assert len(matching) == 1, f"no single container {name!r}"
    return dict(matching[0])


def selects(match_labels: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(match_labels) and all(labels.get(k) == v for k, v in match_labels.items())


def configmap_config() -> str:
    """The dnsctl.yaml that the ConfigMap carries."""
    text = one("ConfigMap")["data"]["dnsctl.yaml"]
    assert isinstance(text, str)
    return text


def admin_port() -> int:
    """The port of admin.listen in the ConfigMap's dnsctl.yaml."""
    doc = yaml.safe_load(configmap_config())
    return parse_host_port(doc["admin"]["listen"], None).port
