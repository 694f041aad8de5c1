"""Render the kit's kustomizations: with `kubectl kustomize` where kubectl is installed, else with `build`.

`build` implements only the part of kustomize that the kit uses (resources, namespace, images,
configMapGenerator from files, and the ConfigMap name references in pod specs), and refuses any
other field, so that a kustomization needing more cannot pass unnoticed. Where kubectl is present,
a test checks that `build` gives what kubectl gives.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.waits import run_process

Obj = dict[str, Any]

SUPPORTED = frozenset({"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "images"})
_GENERATOR_FIELDS = frozenset({"name", "files", "options"})
_GENERATOR_OPTIONS = frozenset({"labels"})
_CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})


class Unsupported(Exception):
    """The kustomization uses a field this renderer does not implement."""


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render(root: Path) -> list[Obj]:
    tool = kubectl()
    if tool is None:
        return build(root)
    out = run_process(
        [tool, "kustomize", str(root)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc is not None]


def build(root: Path) -> list[Obj]:
    k = yaml.safe_load((root / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(k) - SUPPORTED
    if unknown:
        raise Unsupported(f"{root}: {', '.join(sorted(unknown))}")
    objects: list[Obj] = []
    for entry in k.get("resources", []):
        path = root / entry
        if path.is_dir():
            objects += build(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    renamed = {}
    for gen in k.get("configMapGenerator", []):
        cm = _config_map(root, gen)
        renamed[gen["name"]] = cm["metadata"]["name"]
        objects.append(cm)
    namespace = k.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in _CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        for pod in _pod_specs(obj):
            _rename_config_maps(pod, renamed)
            for image in k.get("images", []):
                _set_image(pod, image)
    return objects


def _config_map(root: Path, gen: Obj) -> Obj:
    if set(gen) - _GENERATOR_FIELDS or set(gen.get("options", {})) - _GENERATOR_OPTIONS:
        raise Unsupported(f"{root}: configMapGenerator {gen['name']}: {sorted(gen)}")
    data = {}
    for spec in gen["files"]:
        key, _, rel = spec.rpartition("=")
        data[key or Path(rel).name] = (root / rel).read_text(encoding="utf-8")
    metadata: Obj = {"name": f"{gen['name']}-{config_map_hash(data)}"}
    labels = gen.get("options", {}).get("labels")
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix: Go's JSON of kind, name and data (kustomize 5 hashes before naming)."""
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escape)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _pod_specs(obj: Obj) -> Iterator[Obj]:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec and "spec" in spec["template"]:
        yield spec["template"]["spec"]


def _rename_config_maps(pod: Obj, renamed: dict[str, str]) -> None:
    for volume in pod.get("volumes", []):
        ref = volume.get("configMap")
        if ref is not None and ref.get("name") in renamed:
            ref["name"] = renamed[ref["name"]]
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref is not None and ref.get("name") in renamed:
                ref["name"] = renamed[ref["name"]]
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref is not None and ref.get("name") in renamed:
                ref["name"] = renamed[ref["name"]]


def _set_image(pod: Obj, image: Obj) -> None:
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def by_identity(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    """Objects keyed by (kind, name), with the rendering's own key order and comments gone."""
    return {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
