"""The declared contracts hold (tests/layering/contracts.py): libraries at their edges, the parts of dnsctl
importing only what they may, no module over 400 lines, no class name defined twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layering.contracts import (
    BEING_SPLIT,
    KNOWN_EDGE_OFFENDERS,
    LIBRARIES,
    MAX_LINES,
    NOT_YET_SPLIT,
    PACKAGE,
    UNITS,
    duplicate_class_names,
    edge_offenders,
    imported_modules,
    library_offenders,
    library_rule,
    long_modules,
    modules,
    reexport_aliases,
    rel,
    unit_of,
)


def test_every_third_party_import_is_declared_and_at_its_edge() -> None:
    assert library_offenders() == []


def test_every_part_of_dnsctl_imports_only_what_it_may() -> None:
    assert edge_offenders(known=KNOWN_EDGE_OFFENDERS) == []


def test_every_part_of_dnsctl_is_declared() -> None:
    assert {unit_of(rel(p)) for p in modules()} <= set(UNITS)


def test_no_module_is_over_the_limit() -> None:
    over = {m: n for m, n in long_modules().items() if m not in BEING_SPLIT | NOT_YET_SPLIT}
    assert over == {}, f"modules over {MAX_LINES} lines"


def test_the_allow_lists_name_only_current_offenders() -> None:
    # Once a module is split or an import removed, its entry goes.
    assert sorted((BEING_SPLIT | NOT_YET_SPLIT) - set(long_modules())) == []
    stale = {
        (path, unit)
        for path, unit in KNOWN_EDGE_OFFENDERS
        if not any(o.startswith(f"{path}:") and f"may not import {unit})" in o for o in edge_offenders())
    }
    assert stale == set()


def test_no_class_name_is_defined_twice() -> None:
    assert duplicate_class_names() == {}


# The checks themselves, on a throwaway package: each catches what it is for.


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "dnsctl"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if path.parent != root and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
    return root


def test_the_checks_catch_offenders(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "core/plan.py": "import httpx\nclass Change: ...\n",
            "probes/http.py": "def f():\n    from dnsctl.targets import azure\n",
            "targets/azure.py": "import dns.resolver\nimport somelib\n",
            "resolver/engine.py": "from ..controller import run\n",
            "controller/run.py": "from dnsctl import cli\n" + "x = 1\n" * MAX_LINES,
            "controller/base.py": "class Change: ...\n",
            "cli/__init__.py": "",
        },
    )
    assert library_offenders(root) == [
        "core/plan.py:1: httpx (only in cli/admin_client.py, controller/notify.py, "
        "emulator/control_client.py, probes/tls.py)",
        "targets/azure.py:1: dns.resolver (only in targets/rfc2136.py)",
        "targets/azure.py:2: somelib (not declared in LIBRARIES)",
    ]
    assert edge_offenders(root) == [
        "controller/run.py:1: dnsctl.cli (controller may not import cli)",
        "probes/http.py:2: dnsctl.targets (probes may not import targets)",
        "probes/http.py:2: dnsctl.targets.azure (probes may not import targets)",
        "resolver/engine.py:1: dnsctl.controller (resolver may not import controller)",
        "resolver/engine.py:1: dnsctl.controller.run (resolver may not import controller)",
    ]
    assert long_modules(root) == {"controller/run.py": MAX_LINES + 1}
    assert duplicate_class_names(root) == {"Change": ["controller/base.py:1", "core/plan.py:2"]}


def test_nothing_but_main_imports_the_command_line(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {"__main__.py": "from dnsctl.cli.main import main\n", "compose.py": "import dnsctl.cli.main\n"},
    )
    (root / "cli").mkdir()
    (root / "cli" / "__init__.py").write_text("")
    (root / "cli" / "main.py").write_text("")
    assert edge_offenders(root) == [
        "compose.py:1: dnsctl.cli.main (compose may not import cli)",
    ]


@pytest.mark.parametrize(
    ("module", "rule"),
    [
        ("azure.mgmt.privatedns.aio", "azure.mgmt"),
        ("azure.core.exceptions", "azure.core"),
        ("dns.message", "dns"),
        ("dnslib", "dnslib"),
        ("dnslibrary", None),
    ],
)
def test_the_most_specific_library_rule_decides(module: str, rule: str | None) -> None:
    assert library_rule(module) == rule


def test_the_import_reader_sees_relative_and_from_package_imports() -> None:
    names = {m for _, m in imported_modules(PACKAGE / "probes" / "http.py")}
    assert "dnsctl" in names and "dnsctl.__version__" not in names  # a name, not a module
    found = {m for _, m in imported_modules(PACKAGE / "cli" / "commands.py")}
    assert {"dnsctl", "dnsctl.compose"} <= found
    assert "azure.mgmt" in LIBRARIES


def test_no_name_is_reexported_under_an_alias() -> None:
    assert reexport_aliases() == []


def test_the_alias_check_catches_a_reexport(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "core/routing.py": "from dnsctl.core.decision import Decision as Decision\nimport json as js\n",
            "core/model.py": "import ipaddress as ipaddress\nfrom dnsctl.core import state as core_state\n",
        },
    )
    assert reexport_aliases(root) == [
        "core/model.py:1: ipaddress as ipaddress (a re-export alias)",
        "core/routing.py:1: Decision as Decision (a re-export alias)",
    ]
