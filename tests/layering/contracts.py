"""dnsctl's import and shape contracts, declared in one place and checked by reading the source (AST).

- LIBRARIES: where each third-party library may be imported (every library dnsctl imports is declared).
- UNITS: which parts of dnsctl each part may import (the edges among themselves, the core at the bottom).
- MAX_LINES: no module over 400 lines.
- Class names are unique across the package.
- No name is re-exported under an alias (`from x import A as A`): importers import from where it lives.

Run `python -m tests.layering.contracts` to list every current offender, allow-lists ignored.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"

# library (a top-level name or a dotted prefix) -> the places (relative to dnsctl/; a trailing "/" is a
# whole package) allowed to import it. The most specific prefix that matches an import decides.
LIBRARIES: dict[str, set[str]] = {
    "aiohttp": {"controller/admin.py"},
    "apscheduler": {"controller/scheduling.py"},
    "azure.core": {
        "targets/azure.py",
        "targets/azure_auth.py",
        "targets/azure_retry.py",
        "controller/blob_lease.py",
        "controller/exchange_blob.py",
    },
    "azure.identity": {"targets/azure_auth.py"},
    "azure.mgmt": {"targets/azure.py", "targets/azure_records.py"},
    "azure.storage": {"controller/blob_lease.py", "controller/exchange_blob.py"},
    "dns": {"targets/rfc2136.py"},  # dnspython: RFC 2136 updates (and the tests' DNS client)
    "dnslib": {"resolver/", "demo/scenario.py"},
    "h11": {"probes/"},
    "httpx": {
        "probes/tls.py",  # the TLS context the probes share (httpx's own CA loading)
        "cli/admin_client.py",
        "controller/notify.py",
        "emulator/control_client.py",
    },
    "prometheus_client": {"controller/", "resolver/metrics.py"},
    "pydantic": {"config/"},
    "pydantic_settings": {"config/schema.py"},
    "uvloop": {"process/daemon.py"},
    "yaml": {"config/document.py", "interop/private_traffic_manager.py"},
}

# The parts of dnsctl: a package (its directory) or a top-level module. Each may import itself and the
# parts listed; `__init__` is dnsctl/__init__.py (the version).
_BASE = {"__init__", "core", "errors", "process"}
UNITS: dict[str, set[str]] = {
    "__init__": set(),
    "core": set(),  # pure: nothing of dnsctl's but itself (see tests/core/test_core_layering.py)
    "errors": set(),
    "process": {"core", "errors", "documents"},
    "documents": {"core", "errors"},  # typed status and report documents: pure values
    "config": _BASE,
    "probes": _BASE,  # never targets, the resolver or the controllers
    "targets": _BASE,
    "resolver": _BASE,  # never the controllers
    "emulator": _BASE,  # a stand-in for Azure: nothing of the controller's
    "interop": _BASE | {"config"},
    "engine": _BASE | {"probes"},
    "controller": _BASE | {"documents", "engine", "probes", "resolver", "targets"},
    "compose": _BASE | {"controller", "engine", "probes", "targets"},
    "demo": _BASE | {"compose", "config", "controller", "engine", "probes", "resolver", "targets"},
    "cli": _BASE
    | {
        "compose",
        "config",
        "controller",
        "demo",
        "documents",
        "emulator",
        "engine",
        "interop",
        "probes",
        "resolver",
        "targets",
    },
    "__main__": {"cli"},  # the only importer of the command line
}

# Imports that break UNITS, each with the work that removes it (none today).
KNOWN_EDGE_OFFENDERS: set[tuple[str, str]] = set()

MAX_LINES = 400
# Modules allowed over MAX_LINES while a split is under way (none today).
BEING_SPLIT: set[str] = set()
# Over MAX_LINES with no split under way yet: listed so that none grows unnoticed.
NOT_YET_SPLIT: set[str] = set()


def modules(package: Path = PACKAGE) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def rel(path: Path, package: Path = PACKAGE) -> str:
    return path.relative_to(package).as_posix()


def unit_of(rel_path: str) -> str:
    """`probes/http.py` -> `probes`; `compose.py` -> `compose`."""
    first = rel_path.split("/")[0]
    return first.removesuffix(".py")


def imported_modules(path: Path, package: Path = PACKAGE) -> Iterator[tuple[int, str]]:
    """Every absolute module name `path` imports (function-level imports included), with its line.

    `from dnsctl import compose` is `dnsctl.compose` when dnsctl/compose.py exists; relative imports are
    resolved against the module's own package.
    """
    here = path.relative_to(package.parent).with_suffix("").parts[:-1]  # the module's own package
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                candidate = package.parent.joinpath(*module.split("."), alias.name)
                if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
                    yield node.lineno, f"{module}.{alias.name}"


def dnsctl_unit(module: str) -> str | None:
    """The part of dnsctl a module name belongs to (`dnsctl` alone is `__init__`); None outside dnsctl."""
    names = module.split(".")
    if names[0] != "dnsctl":
        return None
    return names[1] if len(names) > 1 else "__init__"


def library_rule(module: str) -> str | None:
    """The most specific LIBRARIES key that covers `module`, if any."""
    keys = [k for k in LIBRARIES if module == k or module.startswith(k + ".")]
    return max(keys, key=len) if keys else None


def _placed(rel_path: str, places: set[str]) -> bool:
    return any(rel_path == p or (p.endswith("/") and rel_path.startswith(p)) for p in places)


def library_offenders(package: Path = PACKAGE) -> list[str]:
    """Third-party imports outside their declared places, and libraries declared nowhere."""
    found = []
    for path in modules(package):
        r = rel(path, package)
        for line, module in imported_modules(path, package):
            top = module.split(".")[0]
            if not top or top == "dnsctl" or top == "__future__" or top in sys.stdlib_module_names:
                continue
            rule = library_rule(module)
            if rule is None:
                found.append(f"{r}:{line}: {module} (not declared in LIBRARIES)")
            elif not _placed(r, LIBRARIES[rule]):
                found.append(
                    f"{r}:{line}: {module} (only in {', '.join(sorted(LIBRARIES[rule])) or 'tests'})"
                )
    return found


def edge_offenders(package: Path = PACKAGE, known: set[tuple[str, str]] | None = None) -> list[str]:
    """Imports of one part of dnsctl by another that UNITS does not allow (minus `known` ones)."""
    found = []
    for path in modules(package):
        r = rel(path, package)
        mine = unit_of(r)
        allowed = UNITS.get(mine)
        for line, module in imported_modules(path, package):
            other = dnsctl_unit(module)
            if other is None or other == mine:
                continue
            if allowed is None:
                found.append(f"{r}:{line}: {module} ({mine} is not declared in UNITS)")
            elif other not in allowed and (r, other) not in (known or set()):
                found.append(f"{r}:{line}: {module} ({mine} may not import {other})")
    return sorted(set(found))


def long_modules(package: Path = PACKAGE) -> dict[str, int]:
    """Modules over MAX_LINES, with their length."""
    out = {}
    for path in modules(package):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            out[rel(path, package)] = n
    return out


def duplicate_class_names(package: Path = PACKAGE) -> dict[str, list[str]]:
    """Class names defined more than once in the package, with where (`path:line`)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in modules(package):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                seen[node.name].append(f"{rel(path, package)}:{node.lineno}")
    return {name: places for name, places in sorted(seen.items()) if len(places) > 1}


def reexport_aliases(package: Path = PACKAGE) -> list[str]:
    """Imports that re-export a name under itself (`import a as a`, `from x import A as A`), with where."""
    found = []
    for path in modules(package):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found += [
                    f"{rel(path, package)}:{node.lineno}: {a.name} as {a.asname} (a re-export alias)"
                    for a in node.names
                    if a.asname == a.name
                ]
    return found


def main() -> int:
    problems = [
        *library_offenders(),
        *edge_offenders(),
        *(f"{m}: {n} lines (over {MAX_LINES})" for m, n in long_modules().items()),
        *(
            f"class {name} defined {len(p)} times: {', '.join(p)}"
            for name, p in duplicate_class_names().items()
        ),
        *reexport_aliases(),
    ]
    print("\n".join(problems) or "no offenders")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
