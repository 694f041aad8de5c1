"""Each library stays at its edge: who may import the Azure SDKs, dnslib, httpx, the scheduler, the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.layering.contracts import LIBRARIES, PACKAGE

# library prefix -> the modules (relative to dnsctl/) allowed to import it: declared in contracts.py
ALLOWED = LIBRARIES


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def allowed(rel: str, places: set[str]) -> bool:
    return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in places)


@pytest.mark.parametrize("library", sorted(ALLOWED))
def test_library_is_imported_only_at_its_edge(library: str) -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        uses = {m for m in imports(path) if m == library or m.startswith(library + ".")}
        if uses and not allowed(rel, ALLOWED[library]):
            offenders.append(f"{rel}: {', '.join(sorted(uses))}")
    assert offenders == []


def test_the_check_itself_sees_imports() -> None:
    assert "azure.mgmt.privatedns.aio" in imports(PACKAGE / "targets" / "azure.py")
    assert not allowed("core/plan.py", ALLOWED["dnslib"])
