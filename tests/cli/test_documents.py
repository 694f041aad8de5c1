"""The documents dnsctl reports: typed, rendered in one place, read back, one exit-code function."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.compose import build_engine
from dnsctl.config.load import load
from dnsctl.controller import reports
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import MirrorReport, Report
from dnsctl.core.plan import Plan
from dnsctl.documents import status
from dnsctl.documents.jsonable import from_json, to_object
from dnsctl.documents.status import DriftDoc, LeadershipDoc, PublishedDoc, StateDoc, StatusDoc, health_doc
from dnsctl.emulator import AzureEmulator
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.azure import AzureTarget
from dnsctl.targets.azure_auth import StaticTokenCredential
from dnsctl.targets.mirror_files import FileResult, Runtime, WriteOutcome
from tests.cli.test_status_output import scene
from tests.faults.conftest import emulator, replicas  # noqa: F401  (the same fixtures, shared)
from tests.faults.kit import Replicas, config, profile
from tests.support.json_at import json_obj
from tests.support.waits import run_process

PACKAGE = Path(__file__).resolve().parents[2] / "dnsctl"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("area", ["controller", "documents", "core", "engine.py", "compose.py"])
def test_nothing_below_the_command_line_imports_it(area: str) -> None:
    root = PACKAGE / area
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    offenders = [
        f"{p.relative_to(PACKAGE)}: {m}"
        for p in files
        for m in sorted(imports(p))
        if m == "dnsctl.cli" or m.startswith("dnsctl.cli.")
    ]
    assert offenders == []


def test_the_command_line_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n >= 400} == {}
    assert sizes["main.py"] < 100  # parsing and errors to exit codes, nothing else


def test_the_documents_are_typed_and_frozen() -> None:
    for module in (status, reports):
        for cls in vars(module).values():
            if not (
                isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
            ):
                continue
            hints = " ".join(str(f.type) for f in dataclasses.fields(cls))
            assert "Any" not in hints, cls.__name__
            if cls.__name__.endswith("Doc"):
                assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]


def test_a_status_document_reads_back_from_its_json() -> None:
    e = scene()
    base = health_doc(e.spec, e.states, isolated=True)
    [p] = base.profiles
    doc = dataclasses.replace(
        base,
        profiles=(
            dataclasses.replace(
                p,
                published=PublishedDoc("myregistry", "CNAME x ttl 30", "etag-1", True),
                drift=DriftDoc(
                    "2026-01-01T00:00:00Z", "myregistry", "CNAME y ttl 30", "CNAME x ttl 30", True
                ),
            ),
        ),
        state=StateDoc(
            kind="record-metadata", problem=None, warnings=(), read=True, pending={"p": "a drain"}
        ),
        leadership=LeadershipDoc(True, True, "azure-blob", "me", 0, None),
        consecutive_errors=0,
        last_error=None,
    )
    wire = json.loads(json.dumps(to_object(doc)))
    assert from_json(StatusDoc, wire) == doc
    # What the document does not have is left out, not null: `check` shows no controller's parts.
    assert "leadership" not in to_object(base) and "history" not in json_obj(base, "profiles", 0)


def test_a_history_entry_says_from_and_to() -> None:
    entry = status.HistoryDoc(
        "t", "p", None, "eastus", "westeurope", "failover", "why", {"eastus": "Degraded"}
    )
    assert to_object(entry) == {
        "time": "t",
        "profile": "p",
        "view": None,
        "from": "eastus",
        "to": "westeurope",
        "kind": "failover",
        "reason": "why",
        "evidence": {"eastus": "Degraded"},
    }


def test_one_exit_code_for_both_report_families(tmp_path: Path) -> None:
    def written(outcome: WriteOutcome) -> FileResult:
        return FileResult("p", Runtime.CONTAINERD, tmp_path / "hosts.toml", outcome)

    assert exit_code(Report(Plan(()))) is ExitCode.CONVERGED
    assert exit_code(Report(Plan((), waiting=("p",)))) is ExitCode.DEGRADED
    assert exit_code(Report(Plan(()), errors=[reports.ReportError("read failed")])) is ExitCode.FAILED
    assert exit_code(MirrorReport([written(WriteOutcome.WRITTEN)])) is ExitCode.CONVERGED
    assert exit_code(MirrorReport(waiting=["p"])) is ExitCode.DEGRADED
    assert exit_code(MirrorReport([written(WriteOutcome.REFUSED)])) is ExitCode.REFUSED
    assert (
        exit_code(MirrorReport([written(WriteOutcome.FAILED), written(WriteOutcome.REFUSED)]))
        is ExitCode.FAILED
    )


async def test_a_failed_read_keeps_its_transient_flag(
    tmp_path: Path,
    emulator: AzureEmulator,  # noqa: F811
    replicas: Replicas,  # noqa: F811
) -> None:
    spec = load(config(tmp_path / "dnsctl.yaml", emulator, [profile("myregistry", replicas, fall=1)]))
    emulator.inject_error(1000, status=503, applies_to="read")
    target = AzureTarget(spec, StaticTokenCredential("test-token"), retry_total=0, clock=SystemClock())
    try:
        report = await reconcile_once(build_engine(spec), target, MetadataStore())
    finally:
        await target.close()
    [error] = report.errors
    assert error.transient and "503" in error.message, error
    assert exit_code(report) is ExitCode.FAILED


class _NotAStatus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"profiles": "nothing here", "isolated": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_a_status() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAStatus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_status_from_an_answer_that_is_not_a_status_is_a_clear_error(
    not_a_status: str, tmp_path: Path
) -> None:
    out = run_process(
        [sys.executable, "-m", "dnsctl", "status", "--url", not_a_status],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "not a dnsctl status document" in out.stderr and "profiles: expected a list" in out.stderr
