"""Configuration is validated once, by `dnsctl.config`: the edges get parsed values and never raise a
configuration error at run time (the command line, which checks its own flags, is the one exception)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"
# The configuration layer raises it; the command line raises it for its flags (--profile, --rounds, ...).
MAY_RAISE = ("config/", "cli/")


def raises_config_error(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", "")
            if name == "ConfigError":
                found.append(f"{rel}:{node.lineno}")
    return found


def test_no_edge_raises_a_configuration_error() -> None:
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.relative_to(PACKAGE).as_posix().startswith(MAY_RAISE)
        for hit in raises_config_error(path)
    ]
    assert found == [], "validate in dnsctl.config and hand the edge a parsed value instead"


def test_the_check_itself_sees_a_raise() -> None:
    sample = PACKAGE / "config" / "load.py"
    assert raises_config_error(sample), "the check no longer recognises `raise ConfigError(...)`"
