"""The core stays pure: it imports no I/O library and reads no clock."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import dnsctl.core
from tests.support.waits import run_process

CORE = Path(dnsctl.core.__file__).parent
CORE_FILES = sorted(CORE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(("dnsctl", "core", *(parts[:-1] if parts[-1] == "__init__" else parts)))


FORBIDDEN_IMPORTS = ("httpx", "azure", "dnslib", "asyncio", "aiohttp", "pydantic", "socket")

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import dnsctl.core
names = [m.name for m in pkgutil.walk_packages(dnsctl.core.__path__, "dnsctl.core.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_importing_the_whole_core_pulls_in_no_io_library() -> None:
    done = run_process(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=CORE.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # Every module file was imported, so none escapes the check.
    assert set(report["imported"]) == {module_name(p) for p in CORE_FILES} - {"dnsctl.core"}
    leaked = sorted(m for m in report["modules"] if m.split(".")[0] in FORBIDDEN_IMPORTS)
    assert leaked == []


# Clock reads: module.attribute pairs, and names that would be clock reads if imported bare.
CLOCK_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}
CLOCK_MODULES = {"time", "datetime"}


def clock_reads(source: str) -> list[str]:
    """Every clock read, clock import or I/O import in `source`, as 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = node.value
            # time.time, datetime.now and also datetime.datetime.now
            base = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (base, node.attr) in CLOCK_CALLS:
                found.append(f"{node.lineno}: {base}.{node.attr}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in CLOCK_MODULES or top in FORBIDDEN_IMPORTS:
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            top = node.module.split(".")[0]
            if top in CLOCK_MODULES or top in FORBIDDEN_IMPORTS:
                found.append(f"{node.lineno}: from {node.module} import ...")
    return found


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_reads_no_clock(path: Path) -> None:
    assert clock_reads(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import time\nnow = time.time()\n",
        "import time as t\nt.monotonic()\n",
        "from datetime import datetime\ndatetime.now()\n",
        "import datetime\ndatetime.datetime.utcnow()\n",
        "from time import monotonic\n",
        "import asyncio\n",
        "from socket import socket\n",
    ],
)
def test_the_clock_check_catches_clock_reads(snippet: str) -> None:
    assert clock_reads(snippet) != []


def test_the_clock_check_leaves_plain_code_alone() -> None:
    assert clock_reads("from dataclasses import replace\nx = replace\nobj.now = 3\n") == []
