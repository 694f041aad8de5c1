"""What `plan` and `reconcile` print is what applies to the records (the real CLI, the emulator)."""

from __future__ import annotations

from pathlib import Path

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import REPLICAS, cname_of, dnsctl, profile_config, write_config

EAST = REPLICAS["eastus"][0]


def config_with_a_view(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas) -> str:
    # A resolver view that prefers westeurope: it steers `serve`'s answers, never the Azure record.
    resolver = {
        "views": [{"name": "branch", "clients": ["10.9.0.0/16"], "prefer": {"myregistry": ["westeurope"]}}]
    }
    profile = profile_config(replicas.port, replicas.ca_file)
    return str(write_config(tmp_path / "dnsctl.yaml", emulator, [profile], resolver=resolver))


def decision_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("decision:")]


def test_plan_and_reconcile_print_the_records_decision_not_a_views(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config_with_a_view(tmp_path, emulator, replicas)
    plan = dnsctl("plan", "-c", cfg)
    assert plan.code == 0, plan.stdout + plan.stderr
    assert decision_lines(plan.stdout) == ["decision: myregistry: eastus is Online and first by priority"]
    assert "view" not in plan.stdout

    first = dnsctl("reconcile", "-c", cfg)
    assert first.code == 0 and cname_of(emulator) == EAST
    assert decision_lines(first.stdout) == decision_lines(plan.stdout)
    # Nothing changes on the second run: the record's decision is still said, with its reason.
    again = dnsctl("reconcile", "-c", cfg)
    assert again.code == 0, again.stdout + again.stderr
    assert decision_lines(again.stdout) == ["decision: myregistry: eastus is Online and first by priority"]
    assert "view" not in again.stdout


def test_check_and_reconcile_json_name_the_health_the_same_way(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = str(
        write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file)])
    )
    check = dnsctl("check", "-c", cfg, "--json").json()
    reconcile = dnsctl("reconcile", "-c", cfg, "--json").json()
    assert "health" not in check and "health" not in reconcile
    assert (
        [p["name"] for p in check["profiles"]] == [p["name"] for p in reconcile["profiles"]] == ["myregistry"]
    )
    assert check["profiles"][0].keys() == reconcile["profiles"][0].keys()


def test_plan_says_dry_run_once(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas) -> None:
    cfg = str(
        write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file)])
    )
    plan = dnsctl("plan", "-c", cfg)
    assert plan.code == 0, plan.stdout + plan.stderr
    assert plan.stdout.count("dry run") == 1, plan.stdout
    assert plan.stdout.strip().splitlines()[-1] == "dry run: 1 change(s) would be made; nothing was changed"


def test_reconcile_says_the_records_decision_when_it_did_not_change(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = str(
        write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file)])
    )
    assert dnsctl("reconcile", "-c", cfg).code == 0
    again = dnsctl("reconcile", "-c", cfg)
    assert again.code == 0, again.stdout + again.stderr
    assert decision_lines(again.stdout) == ["decision: myregistry: eastus is Online and first by priority"]
