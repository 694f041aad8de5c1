"""One error tree: every DnsctlError is declared in errors.py, and each carries `hint` and `transient`."""

from __future__ import annotations

import ast
from pathlib import Path

import azure.core.exceptions
import pytest

from dnsctl import errors
from dnsctl.errors import (
    DnsctlError,
    LeaseError,
    LoopUnavailable,
    OperatorError,
    TargetError,
    UpstreamError,
)

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"


def error_classes_outside_errors(package: Path) -> list[str]:
    """Classes outside errors.py that derive (by name) from one of errors.py's DnsctlError classes."""
    tree_names = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, DnsctlError)
    }
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & tree_names:
                    found.append(f"{path.relative_to(package).as_posix()}: {node.name}")
    return found


def test_every_dnsctl_error_is_declared_in_errors_py() -> None:
    assert error_classes_outside_errors(PACKAGE) == []


def test_the_tree_check_sees_a_stray_error_class(tmp_path: Path) -> None:
    (tmp_path / "daemon.py").write_text("class LoopUnavailable(DnsctlError):\n    pass\n")
    assert error_classes_outside_errors(tmp_path) == ["daemon.py: LoopUnavailable"]


@pytest.mark.parametrize(
    "error",
    [
        DnsctlError("plain", hint="try this", transient=True),
        OperatorError("no such endpoint", hint="try this", transient=True),
        UpstreamError("no upstream answered", hint="try this", transient=True),
        LoopUnavailable("no uvloop", hint="try this", transient=True),
        TargetError("throttled", status=403, hint="try this", transient=True),
        LeaseError("held elsewhere", hint="try this", transient=True),
    ],
    ids=lambda e: type(e).__name__,
)
def test_hint_and_transient_can_be_given_to_any_error(error: DnsctlError) -> None:
    assert error.hint == "try this"
    assert error.transient is True


def test_hint_and_transient_default_per_class() -> None:
    assert OperatorError("no such endpoint").hint == ""
    assert OperatorError("no such endpoint").transient is False
    assert UpstreamError("no upstream answered").transient is True
    assert LeaseError("held", transient=False).transient is False
    assert TargetError("forbidden", status=403).transient is False
    assert TargetError("no connection").transient is True


def test_no_error_of_ours_shadows_an_azure_core_exception() -> None:
    ours = {name for name, value in vars(errors).items() if isinstance(value, type)}
    theirs = {
        name
        for name, value in vars(azure.core.exceptions).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert ours & theirs == set()
