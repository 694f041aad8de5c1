"""The modules of the decision path (engine, controllers, the core's state and routing, the state store)
stay small enough to read: none over 400 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

import dnsctl

ROOT = Path(dnsctl.__file__).parent
DECISION_PATH = (
    "engine.py",
    "controller/base.py",
    "controller/run.py",
    "controller/serve.py",
    "controller/mirror.py",
    "controller/reconcile.py",
    "controller/drift.py",
    "controller/scheduling.py",
    "core/state.py",
    "core/restore.py",
    "core/routing.py",
    "core/decision.py",
    "core/mirror.py",
    "process/state_store.py",
)


@pytest.mark.parametrize("module", DECISION_PATH)
def test_a_decision_path_module_stays_under_400_lines(module: str) -> None:
    lines = len((ROOT / module).read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"dnsctl/{module} has {lines} lines"
