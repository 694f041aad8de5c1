"""A zone shared by every site (one `azure:` record with sites) follows the quorum: three real
`dnsctl run --site` processes, the emulator holding the shared zone, replicas behind per-site addresses.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.store import ZoneId
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, ZONE, dnsctl, writes
from tests.sites.test_sites_e2e import SITES, WAIT, X, Y, _all_fresh, config, evidence, servers, vantage
from tests.support.registry import RegistryServer

__all__ = ["servers"]  # the fixture, shared with test_sites_e2e

SHARED = ZoneId(SUB, "rg-shared", ZONE)


def shared_config(
    tmp_path: Path, emulator: AzureEmulator, servers: dict[tuple[str, str], RegistryServer]
) -> Path:
    path = config(tmp_path, emulator, servers)
    doc = yaml.safe_load(path.read_text())
    doc["profiles"][0]["azure"] = {  # one record in a configuration with sites: shared by every site
        "subscription_id": SUB,
        "resource_group": "rg-shared",
        "zone": ZONE,
        "record": "myregistry",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def shared_cname(emulator: AzureEmulator) -> str | None:
    rs = emulator.record_set(SHARED, "CNAME", "myregistry")
    return None if rs is None else str(rs["properties"]["cnameRecord"]["cname"])


def shared_writes(emulator: AzureEmulator) -> list[object]:
    return [w for w in writes(emulator) if "/resourceGroups/rg-shared/" in w.path]


def shared_lines(d: Daemon) -> list[str]:
    return list(d.status()["sites"]["shared"])


def test_a_shared_zone_moves_only_when_a_quorum_of_vantages_says_so(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    with AzureEmulator() as emulator:
        emulator.add_zone(SHARED)
        cfg = shared_config(tmp_path, emulator, servers)
        checked = dnsctl("validate", "-c", str(cfg))
        assert checked.code == 0, checked.stderr
        assert (
            "shared: shared by every site: myregistry (privatelink.azurecr.io/myregistry); an endpoint is "
            "down for it when 2 of 3 fresh vantages say so; written by the vantage of site eastus"
        ) in checked.stdout
        vantages: dict[str, Daemon] = {}
        try:
            for s in SITES:
                vantages[s] = vantage(cfg, s, tmp_path / f"{s}.log").start()
            east, west, _ = (vantages[s] for s in SITES)
            east.wait_until(lambda: shared_cname(emulator) == X, WAIT, "the shared zone's first write")
            for d in vantages.values():
                d.wait_until(_all_fresh(d), WAIT, "every vantage fresh")
            assert shared_lines(east)[0].startswith("myregistry -> x: this vantage writes")
            assert shared_lines(west) == ["this vantage does not write them"]

            # One vantage (the writer's own) sees x down: its site's view, not the shared zone's.
            emulator.reset_request_log()
            servers[("x", "eastus")].set_behaviour("stopped")
            east.wait_until(
                lambda: any(
                    e.startswith("myregistry/x: down for site eastus") and "Online for 2 of 3" in e
                    for e in evidence(east)
                ),
                WAIT,
                "eastus to see x down",
            )
            # Several more rounds of the shared writer on that evidence (three intervals): nothing moves.
            since = _last_seen(east)
            east.wait_until(lambda: _last_seen(east) >= since + 1.5, WAIT, "three more intervals")
            assert shared_cname(emulator) == X
            assert shared_writes(emulator) == []
            assert shared_lines(east)[0].startswith("myregistry -> x: this vantage writes")

            # A second vantage agrees: 2 of 3 is the quorum, the shared zone moves off x.
            servers[("x", "westeurope")].set_behaviour("stopped")
            east.wait_until(lambda: shared_cname(emulator) == Y, WAIT, "the shared zone to move off x")
            assert len(shared_writes(emulator)) == 1
            assert (
                "reason=x Degraded after 1 failure (quorum: down for 2 of 3 vantages (eastus, westeurope))"
                in east.log()
            )

            for s in ("eastus", "westeurope"):
                servers[("x", s)].set_behaviour("healthy")
            east.wait_until(lambda: shared_cname(emulator) == X, WAIT, "the shared zone back on x")
            shown = dnsctl("status", "--url", east.admin)
            assert shown.code == 0, shown.stderr
            assert "shared: shared by every site: myregistry" in shown.stdout
            assert "shared: myregistry -> x: this vantage writes" in shown.stdout
        finally:
            for d in vantages.values():
                d.kill()


def _last_seen(d: Daemon) -> float:
    """The time of the vantage's own last report, as its status shows it."""
    seen = next(v["last_seen"] for v in d.status()["sites"]["vantages"] if v["name"] == "eastus")
    return datetime.fromisoformat(str(seen).replace("Z", "+00:00")).timestamp()
