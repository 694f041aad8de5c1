"""The deployment kit's files, read once, and small helpers over Kubernetes objects."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dnsctl.config.values import parse_host_port
from tests.deploy import kustomize

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = {"controller": KUBERNETES / "controller", "cronjob": KUBERNETES / "cronjob"}
SECRET_EXAMPLE = KUBERNETES / "secret.example.yaml"
# The node agent's kit (`dnsctl mirror`): on its own, in its own namespace, not an overlay of the base.
NODE_MIRROR = KUBERNETES / "node-mirror"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
SYSTEMD_UNIT = DEPLOY / "systemd" / "dnsctl-serve.service"
SYSTEMD_CONFIG = DEPLOY / "systemd" / "dnsctl-serve.yaml"
VNET_PINNING_CONFIG = REPO / "examples" / "vnet-pinning" / "dnsctl.yaml"
CRONJOB_CONFIG = REPO / "examples" / "cronjob" / "dnsctl.yaml"
# The dnsctl configuration each overlay turns into its ConfigMap, and the example it must equal.
OVERLAY_CONFIGS = {"controller": VNET_PINNING_CONFIG, "cronjob": CRONJOB_CONFIG}

Obj = dict[str, Any]


def manifest_files() -> list[Path]:
    """Every Kubernetes object file of the kit (not the kustomizations, not the dnsctl configs)."""
    return sorted(
        p for p in KUBERNETES.rglob("*.yaml") if p.name not in ("kustomization.yaml", "dnsctl.yaml")
    )


@functools.cache
def documents(path: Path) -> tuple[Obj, ...]:
    return tuple(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None)


def kustomization(root: Path) -> Obj:
    doc = yaml.safe_load((root / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@functools.cache
def rendered(overlay: str) -> tuple[Obj, ...]:
    """What `kubectl apply -k deploy/kubernetes/OVERLAY` would apply."""
    return tuple(kustomize.render(OVERLAYS[overlay]))


def one(kind: str, name: str | None = None, overlay: str | None = None) -> Obj:
    """The single object of `kind` (and `name`) that the overlays apply (or `overlay` alone applies).

    An object both overlays apply identically (the base's) counts once; the example Secret, which no
    overlay applies, is found too.
    """
    overlays = [overlay] if overlay else list(OVERLAYS)
    candidates = [doc for o in overlays for doc in rendered(o)] + list(documents(SECRET_EXAMPLE))
    found: list[Obj] = []
    for doc in candidates:
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name) and doc not in found:
            found.append(doc)
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


def configmap_config(overlay: str = "controller") -> str:
    """The dnsctl.yaml that the overlay's ConfigMap carries."""
    text = one("ConfigMap", overlay=overlay)["data"]["dnsctl.yaml"]
    assert isinstance(text, str)
    return text


def admin_port() -> int:
    """The port of admin.listen in the ConfigMap's dnsctl.yaml."""
    doc = yaml.safe_load(configmap_config())
    return parse_host_port(doc["admin"]["listen"], None).port
