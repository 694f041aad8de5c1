"""The writer of a zone shared by every site, seen from outside its `dnsctl run --site` process: its
readiness in `/readyz` and `/status`, its series in `/metrics` (labelled `site="all"`), and its history
in the `--state-file` (`PATH.all`). One real vantage process, the emulator holding the zones.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml

from dnsctl.core.plan import STATE_KEY
from dnsctl.emulator import AzureEmulator
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, ZONE
from tests.sites.test_shared_zone_e2e import SHARED, shared_cname, shared_lines
from tests.sites.test_sites_e2e import SITES, WAIT, X, cname, config, servers, vantage, zone
from tests.support.registry import RegistryServer

__all__ = ["servers"]  # the fixture, shared with test_sites_e2e


def own_and_shared_config(
    tmp_path: Path, emulator: AzureEmulator, servers: dict[tuple[str, str], RegistryServer]
) -> Path:
    """Every site's own record, and one more in a zone every site shares (`site: all`)."""
    path = config(tmp_path, emulator, servers)
    doc = yaml.safe_load(path.read_text())
    doc["profiles"][0]["azure"].append(
        {
            "site": "all",
            "subscription_id": SUB,
            "resource_group": "rg-shared",
            "zone": ZONE,
            "record": "myregistry",
        }
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def samples(d: Daemon, name: str) -> dict[str, float]:
    """The samples of one family in `/metrics`: the text of their labels -> value."""
    out: dict[str, float] = {}
    for line in d.get("/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line[len(name) :].rpartition(" ")
            out[labels.strip()] = float(value)
    return out


def readyz(d: Daemon) -> httpx.Response:
    return d.get("/readyz")


def test_the_shared_writer_reports_readiness_metrics_and_keeps_its_history_in_the_state_file(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    with AzureEmulator() as emulator:
        for s in SITES:
            emulator.add_zone(zone(s))  # the shared zone is missing: its writer cannot read its records
        cfg = own_and_shared_config(tmp_path, emulator, servers)
        state = tmp_path / "state.json"
        east = vantage(cfg, "eastus", tmp_path / "eastus.log", "--state-file", str(state)).start()
        try:
            east.wait_until(lambda: cname(emulator, "eastus") == X, WAIT, "the site's own write")
            # The site's own records are written; the shared writer cannot read its zone: not ready.
            r = east.wait_until(
                lambda: r if "shared publications" in (r := readyz(east)).text else None,
                WAIT,
                "the shared writer's problem in /readyz",
            )
            assert r.status_code == 503, r.text
            assert "shared publications: stored state not read yet (reading the records failed" in r.text
            assert any(line.startswith("not ready: stored state not read yet") for line in shared_lines(east))
            assert samples(east, "dnsctl_ready") == {"": 0.0, '{site="all"}': 0.0}
            assert samples(east, "dnsctl_state_read") == {"": 1.0, '{site="all"}': 0.0}
            assert samples(east, "dnsctl_state_read_errors_total")['{site="all"}'] >= 1

            # The zone appears: the shared writer reads it (its retry), writes, and the process is ready.
            emulator.add_zone(SHARED)
            east.wait_until(lambda: shared_cname(emulator) == X, WAIT, "the shared zone's first write")
            east.wait_until(lambda: readyz(east).status_code == 200, WAIT, "ready")
            assert not any(line.startswith("not ready") for line in shared_lines(east))
            writes = samples(east, "dnsctl_dns_writes_total")
            assert writes['{action="create",profile="myregistry",result="applied"}'] == 1.0  # the site's
            assert writes['{action="create",profile="myregistry",result="applied",site="all"}'] == 1.0
            assert samples(east, "dnsctl_leader") == {"": 1.0, '{site="all"}': 1.0}
            # (not its values here: a round running late under load may make either not ready a moment)
            assert set(samples(east, "dnsctl_ready")) == {"", '{site="all"}'}
            for family in ("dnsctl_endpoint_up", "dnsctl_reconcile_consecutive_errors"):  # same families
                assert any('site="all"' in labels for labels in samples(east, family)), family

            # With --state-file neither record carries history: the site's is in PATH, the shared in PATH.all.
            for z in (zone("eastus"), SHARED):
                rs = emulator.record_set(z, "CNAME", "myregistry")
                assert rs is not None
                assert STATE_KEY not in rs["properties"].get("metadata", {})
            east.wait_until(lambda: Path(f"{state}.all").is_file(), WAIT, "the shared history saved")
            assert "myregistry" in json.loads(Path(f"{state}.all").read_text())
            assert "myregistry" in json.loads(state.read_text())
        finally:
            east.kill()
