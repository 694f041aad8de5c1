"""Isolation canaries, bounded Azure waits, and the warning about all-down policies without canaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsctl.cli.main import main
from dnsctl.config.advice import advise
from dnsctl.core.model import CanarySpec

from .documents import edited, load_ok, problems, write


def test_canaries_parse_as_tcp_targets_or_urls(tmp_path: Path) -> None:
    doc = edited(
        {
            "isolation_guard.canaries": [
                "168.63.129.16:53",
                "https://management.azure.com/",
                "http://[::1]:8080/healthz",
            ]
        }
    )
    spec = load_ok(write(tmp_path, doc))
    assert spec.isolation_guard.canaries == (
        CanarySpec("168.63.129.16", 53),
        CanarySpec("management.azure.com", 443, "https", "/"),
        CanarySpec("::1", 8080, "http", "/healthz"),
    )
    assert str(spec.isolation_guard.canaries[2]) == "http://[::1]:8080/healthz"


def test_bad_canaries_and_deadline_are_reported_each_at_its_place(tmp_path: Path) -> None:
    doc = edited({"isolation_guard.canaries": ["168.63.129.16", "ftp://x.example/"], "azure.deadline": 0})
    found = problems(write(tmp_path, doc))
    assert any("isolation_guard.canaries[0]" in p and "needs a port" in p for p in found), found
    assert any("isolation_guard.canaries[1]" in p and "http(s) URL" in p for p in found), found
    assert any("azure.deadline" in p for p in found), found


def test_azure_waits_default_and_parse(tmp_path: Path) -> None:
    spec = load_ok(write(tmp_path, edited({})))
    assert (spec.azure.max_retry_after, spec.azure.deadline) == (60.0, 120.0)
    spec = load_ok(write(tmp_path, edited({"azure.max_retry_after": "5m", "azure.deadline": "30s"})))
    assert (spec.azure.max_retry_after, spec.azure.deadline) == (300.0, 30.0)


def test_validate_warns_about_an_all_down_policy_the_guard_would_hold_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    risky = {"profiles[0].when_all_down": "serve-first"}
    assert len(advise(load_ok(write(tmp_path, edited(risky))))) == 1
    assert advise(load_ok(write(tmp_path, edited({})))) == []  # keep-last
    with_canary = {**risky, "isolation_guard.canaries": ["168.63.129.16:53"]}
    assert advise(load_ok(write(tmp_path, edited(with_canary)))) == []
    guard_off = {**risky, "isolation_guard.enabled": False}
    assert advise(load_ok(write(tmp_path, edited(guard_off)))) == []
    path = write(tmp_path, edited(risky))
    assert main(["validate", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "serve-first" in err and "isolation_guard.canaries" in err
