"""`dnsctl history --state-file` through the real CLI: filters, JSON, and bad input without a traceback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from dnsctl.core import codec
from dnsctl.core.history import HistoryEntry
from tests.core.factories import profile, spec
from tests.e2e.harness import dnsctl


def entry(t: float, name: str, old: str, new: str, kind: str) -> HistoryEntry:
    return HistoryEntry(t, name, None, old, new, kind, f"{kind} at {t:.0f}", (("eastus", "Degraded: x"),))


def state_file(tmp_path: Path) -> Path:
    a, b = profile(), profile(name="other")
    s = spec(a, b)
    st_a = replace(
        codec.decode(a, '{"e":{},"st":1,"v":1}').state,
        history=(entry(100, "myregistry", "eastus", "westeurope", "failover"),
                 entry(300, "myregistry", "westeurope", "eastus", "failback")),
    )  # fmt: skip
    st_b = replace(st_a, history=(entry(200, "other", "eastus", "westeurope", "failover"),))
    path = tmp_path / "state.json"
    path.write_text(codec.encode_document(s, {"myregistry": st_a, "other": st_b}))
    return path


def test_history_from_a_state_file_in_time_order_filtered_and_as_json(tmp_path: Path) -> None:
    path = state_file(tmp_path)
    r = dnsctl("history", "--state-file", str(path), "--json")
    assert r.code == 0, r.stderr
    got = [(e["time"], e["profile"], e["kind"]) for e in json.loads(r.stdout)["history"]]
    assert got == [
        ("1970-01-01T00:01:40Z", "myregistry", "failover"),
        ("1970-01-01T00:03:20Z", "other", "failover"),
        ("1970-01-01T00:05:00Z", "myregistry", "failback"),
    ]
    r = dnsctl("history", "myregistry", "-n", "1", "--state-file", str(path))
    assert r.code == 0, r.stderr
    assert "failback" in r.stdout and "westeurope -> eastus" in r.stdout and "failover" not in r.stdout
    assert "evidence: eastus Degraded: x" in r.stdout


def test_bad_input_is_named_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"myregistry": "{\\"h\\": 5, \\"v\\": 1}"}')
    for args, code, says in [
        (("--state-file", str(bad)), 1, "is not a dnsctl state file"),
        (("--state-file", str(tmp_path / "missing.json")), 1, "does not exist"),
        (("-n", "0", "--state-file", str(bad)), 2, "is not a count"),
    ]:
        r = dnsctl("history", *args)
        assert r.code == code and says in r.stderr, (args, r)
        assert "Traceback" not in r.stderr
