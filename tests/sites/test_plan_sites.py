"""`dnsctl plan` with sites: every site's records (and the shared ones), or one site's with --site."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.harness import SUB, ZONE, dnsctl, writes
from tests.sites.test_shared_writer_e2e import own_and_shared_config
from tests.sites.test_shared_zone_e2e import SHARED
from tests.sites.test_sites_e2e import SITES, X, Y, config, servers, zone
from tests.support.registry import RegistryServer

__all__ = ["servers"]  # the fixture, shared with test_sites_e2e


def test_plan_shows_each_sites_records_and_the_shared_ones(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    with AzureEmulator() as emulator:
        for s in SITES:
            emulator.add_zone(zone(s))
        emulator.add_zone(SHARED)
        path = own_and_shared_config(tmp_path, emulator, servers)
        servers[("x", "eastus")].set_behaviour("stopped")  # only eastus's path to x is broken

        done = dnsctl("plan", "-c", str(path))
        assert done.code == 0, done.stderr
        out = done.stdout
        heads = [line for line in out.splitlines() if line.startswith(("site ", "shared: "))]
        assert heads[:3] == ["site eastus:", "site westeurope:", "site southeastasia:"]
        assert heads[3].startswith(
            "shared: shared by every site: myregistry (privatelink.azurecr.io/myregistry)"
        )
        sections = {h: out.split(h, 1)[1] for h in heads}
        for h, body in sections.items():
            nxt = [o for o in heads if o != h and o in body]
            sections[h] = body.split(nxt[0], 1)[0] if nxt else body
        # eastus would write y (its path to x is broken); the others x; the shared zone x (1 of 3).
        assert f"CNAME {Y}" in sections["site eastus:"] and f"CNAME {X}" not in sections["site eastus:"]
        for h in ("site westeurope:", "site southeastasia:", heads[3]):
            assert f"CNAME {X}" in sections[h] and f"CNAME {Y}" not in sections[h], sections[h]
        assert writes(emulator) == []  # a plan changes nothing

        one = dnsctl("plan", "-c", str(path), "--site", "westeurope", "--json")
        assert one.code == 0, one.stderr
        got = json.loads(one.stdout)
        assert list(got["sites"]) == ["westeurope"]
        (change,) = got["sites"]["westeurope"]["changes"]
        assert change["action"] == "create" and X in json.dumps(change["after"])

        bad = dnsctl("plan", "-c", str(path), "--site", "northpole")
        assert bad.code == 2
        assert "--site: 'northpole' names no site (sites: eastus, westeurope, southeastasia)" in bad.stderr
        assert "Traceback" not in bad.stderr


def test_plan_reads_the_shared_history_from_the_state_file_dot_all(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    with AzureEmulator() as emulator:
        emulator.add_zone(zone("eastus"))
        emulator.add_zone(SHARED)
        path = config(tmp_path, emulator, servers)
        doc = yaml.safe_load(path.read_text())
        doc["profiles"][0]["azure"] = [
            {"site": s, "subscription_id": SUB, "resource_group": g, "zone": ZONE, "record": "myregistry"}
            for s, g in (("eastus", "rg-eastus"), ("all", "rg-shared"))
        ]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        state = tmp_path / "state.json"
        shared = tmp_path / "state.json.all"  # the shared publications' history (run --site writes it)
        shared.write_text("{not json")
        done = dnsctl("plan", "-c", str(path), "--state-file", str(state))
        said = done.stdout + done.stderr
        assert "state.json.all" in said, said  # read, found unusable, reported
        assert shared.read_text() == "{not json"  # and left where it is: a plan changes nothing
        assert writes(emulator) == []
