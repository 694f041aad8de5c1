"""Scenario 5: two `dnsctl run --site eastus` share site eastus's lease on Azurite; the holder is
killed (SIGKILL) while eastus's path to replica x breaks: the standby finishes the same decision,
with exactly one write to eastus's zone and none to the others."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.daemon import Daemon
from tests.ha.azurite import Azurite
from tests.ha.conftest import azurite, azurite_binary
from tests.sites.test_shared_zone_e2e import SHARED, _last_seen, shared_cname, shared_config, shared_writes
from tests.sites.test_sites_e2e import SITES, X, Y, _holds, cname, config, servers, vantage, writes_to, zone
from tests.support.registry import RegistryServer

__all__ = ["azurite", "azurite_binary", "servers"]  # fixtures shared with tests/ha and test_sites_e2e

WAIT = 90.0  # a takeover waits for the killed holder's lease to expire (15 s), under CPU load


def test_the_standby_of_a_site_finishes_the_decision_of_a_killed_holder(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer], azurite: Azurite
) -> None:
    with AzureEmulator() as emulator:
        for s in SITES:
            emulator.add_zone(zone(s))
        path = config(tmp_path, emulator, servers)
        doc = yaml.safe_load(path.read_text())
        blob_url = azurite.blob_url(f"ha-{uuid.uuid4().hex[:12]}", "dnsctl/leader")
        doc["ha"] = {"lease": "azure-blob", "blob_url": blob_url, "lease_duration": "15s"}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {"DNSCTL_HA_CONNECTION_STRING": azurite.connection_string}
        daemons: dict[str, Daemon] = {}
        try:
            for name, site in (
                ("eastus-1", "eastus"),
                ("eastus-2", "eastus"),
                ("westeurope", "westeurope"),
                ("southeastasia", "southeastasia"),
            ):
                daemons[name] = vantage(path, site, tmp_path / f"{name}.log", env=env).start()
            one, two = daemons["eastus-1"], daemons["eastus-2"]
            for s in SITES:
                d = daemons["eastus-1" if s == "eastus" else s]
                d.wait_until(_holds(emulator, s, X), WAIT, f"site {s}'s first write")
            # Each site's replicas elect their own writer: every site wrote, one eastus process holds.
            one.wait_until(
                lambda: one.status()["leadership"]["held"] != two.status()["leadership"]["held"],
                WAIT,
                "one eastus holder",
            )
            holder, standby = (one, two) if one.status()["leadership"]["held"] else (two, one)
            emulator.reset_request_log()

            # (5) eastus's path to x breaks and its lease holder dies at once.
            servers[("x", "eastus")].set_behaviour("stopped")
            holder.kill()
            standby.wait_until(
                lambda: cname(emulator, "eastus") == Y, WAIT, "the standby to move eastus off x"
            )
            standby.wait_until(
                lambda: standby.status()["leadership"]["held"] is True, WAIT, "the standby to hold the lease"
            )
            # A few more rounds (three intervals) on the new holder: no second write.
            since = _last_seen(standby)
            standby.wait_until(lambda: _last_seen(standby) >= since + 1.5, WAIT, "three more intervals")
            eastus_writes = [w for w in writes_to(emulator, "eastus") if w.method in ("PUT", "PATCH")]
            assert len(eastus_writes) == 1, eastus_writes
            dns_changes = [
                line
                for d in (holder, standby)
                for line in d.log().splitlines()
                if "dns change:" in line and f"after=CNAME {Y}" in line
            ]
            assert len(dns_changes) == 1, dns_changes
            assert writes_to(emulator, "westeurope") == [] and writes_to(emulator, "southeastasia") == []
            assert cname(emulator, "westeurope") == X and cname(emulator, "southeastasia") == X
        finally:
            for d in daemons.values():
                d.kill()


def test_with_a_lease_one_vantage_writes_the_shared_zone_and_another_takes_over(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer], azurite: Azurite
) -> None:
    with AzureEmulator() as emulator:
        emulator.add_zone(SHARED)
        path = shared_config(tmp_path, emulator, servers)
        doc = yaml.safe_load(path.read_text())
        blob_url = azurite.blob_url(f"ha-{uuid.uuid4().hex[:12]}", "dnsctl/leader")
        doc["ha"] = {"lease": "azure-blob", "blob_url": blob_url, "lease_duration": "15s"}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        daemons: dict[str, Daemon] = {}
        try:
            for s in SITES:
                env = {"DNSCTL_HA_CONNECTION_STRING": azurite.connection_string}
                daemons[s] = vantage(path, s, tmp_path / f"{s}.log", env=env).start()
            east = daemons["eastus"]
            east.wait_until(lambda: shared_cname(emulator) == X, WAIT, "the shared zone's first write")
            writers = _writers(daemons)
            east.wait_until(lambda: len(_writers(daemons)) == 1, WAIT, "one writer of the shared zone")
            (writer,) = _writers(daemons)
            rule = daemons[writer].status()["sites"]["shared_rule"]
            assert "written by the vantage holding the lease" in rule and "leader.all" in rule, rule
            assert len(shared_writes(emulator)) == 1, writers

            # The writer dies while a quorum sees x down: another vantage takes over and moves the zone.
            emulator.reset_request_log()
            for s in SITES:
                servers[("x", s)].set_behaviour("stopped")
            daemons[writer].kill()
            rest = {s: d for s, d in daemons.items() if s != writer}
            east = next(iter(rest.values()))
            east.wait_until(lambda: shared_cname(emulator) == Y, WAIT, "the shared zone to move off x")
            east.wait_until(lambda: len(_writers(rest)) == 1, WAIT, "a new writer")
            assert len(shared_writes(emulator)) == 1
        finally:
            for d in daemons.values():
                d.kill()


def _writers(daemons: dict[str, Daemon]) -> list[str]:
    """The vantages whose status says they write the shared zone now."""
    return [
        s
        for s, d in daemons.items()
        if any(": this vantage writes" in line for line in d.status()["sites"]["shared"])
    ]
