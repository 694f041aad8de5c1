"""Config documents for the loader tests: a valid base, a path editor, and a problem collector."""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Any

import yaml

from dnsctl.config.load import load
from dnsctl.core.model import DnsctlSpec
from dnsctl.errors import ConfigError, Problem

_BASE: dict[str, Any] = {
    "profiles": [
        {
            "name": "myregistry",
            "fqdn": "myregistry.azurecr.io",
            "monitor": {"interval": "10s", "timeout": "5s"},
            "endpoints": [
                {
                    "name": "eastus",
                    "target": "myregistry.eastus.geo.azurecr.io",
                    "priority": 1,
                    "addresses": ["10.1.0.5"],
                },
                {
                    "name": "westeurope",
                    "target": "myregistry.westeurope.geo.azurecr.io",
                    "priority": 2,
                    "addresses": ["10.2.0.5"],
                },
            ],
            "azure": {
                "subscription_id": "00000000-0000-0000-0000-000000000000",
                "resource_group": "rg-private-dns",
                "zone": "privatelink.azurecr.io",
                "record": "myregistry",
            },
        }
    ],
    "resolver": {
        "listen": ["127.0.0.1:5353"],
        "upstreams": ["127.0.0.53"],
        "views": [
            {"name": "westeurope-vnet", "clients": ["10.2.0.0/16"], "prefer": {"myregistry": ["westeurope"]}}
        ],
        "zones": [{"name": "lab.internal", "records": [{"name": "@", "type": "A", "value": "10.0.0.1"}]}],
    },
    "admin": {"listen": "127.0.0.1:9153"},
}

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def base() -> dict[str, Any]:
    """A valid document: one profile with two endpoints, Azure publishing, a resolver with a view."""
    return copy.deepcopy(_BASE)


def put(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set `value` at a path like 'profiles[0].monitor.fall', creating mappings on the way."""
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(path)]
    node: Any = doc
    for here, after in itertools.pairwise(steps):
        if isinstance(here, str) and here not in node:
            node[here] = [] if isinstance(after, int) else {}
        node = node[here]
    last = steps[-1]
    if isinstance(last, int) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return doc


def edited(changes: dict[str, Any]) -> dict[str, Any]:
    doc = base()
    for path, value in changes.items():
        put(doc, path, value)
    return doc


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "dnsctl.yaml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def sourced(path: Path) -> list[Problem]:
    """The problems `load` reports for `path`, with their sources; [] when it loads."""
    try:
        load(path)
    except ConfigError as e:
        for p in e.problems:
            # Each comes from a line of the file, the file as a whole, or a DNSCTL_* variable.
            assert re.fullmatch(rf"{re.escape(str(path))}(:\d+)?|DNSCTL_\w+", p.source), p
        return e.problems
    return []


def problems(path: Path) -> list[str]:
    """The problems `load` reports for `path` as `location: message`, without their sources."""
    return [f"{p.location}: {p.message}" if p.location else p.message for p in sourced(path)]


def load_ok(path: Path) -> DnsctlSpec:
    try:
        return load(path)
    except ConfigError as e:
        raise AssertionError("\n".join(e.lines)) from None
