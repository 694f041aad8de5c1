"""The refusals of issue 26 that the other sites tests do not cover: each with its clear message."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import dnsctl

from .documents import base, problems, write
from .test_config_sites import sited


def test_a_quorum_of_no_vantage_is_refused(tmp_path: Path) -> None:
    doc = sited()
    doc["quorum"] = 0
    (problem,) = problems(write(tmp_path, doc))
    assert problem == "quorum: 0 is not a number of vantages: give 1 or more, or 'majority'"


def test_per_site_addresses_without_sites_are_refused(tmp_path: Path) -> None:
    doc = base()
    doc["profiles"][0]["endpoints"][0]["addresses"] = {"eastus": ["10.1.0.5"]}
    (problem,) = problems(write(tmp_path, doc))
    assert problem.startswith(
        "profiles[0].endpoints[0].addresses.eastus: 'eastus' is not a site (sites: none declared)"
    )


def test_site_on_a_configuration_without_sites_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, base())
    for command in ("run", "plan"):
        done = dnsctl(command, "-c", str(path), "--site", "eastus")
        assert done.code == 2, (command, done.stderr)
        assert "--site: 'eastus' names no site: the configuration declares no sites:" in done.stderr
        assert "Traceback" not in done.stderr
