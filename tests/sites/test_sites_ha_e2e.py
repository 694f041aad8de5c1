"""Scenario 5: two `dnsctl run --site eastus` share site eastus's lease on Azurite; the holder is
killed (SIGKILL) while eastus's path to replica x breaks: the standby finishes the same decision,
with exactly one write to eastus's zone and none to the others."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.ha.azurite import Azurite
from tests.ha.conftest import azurite, azurite_binary
from tests.sites.test_shared_zone_e2e import _last_seen
from tests.sites.test_sites_e2e import SITES, X, Y, _holds, cname, config, servers, writes_to, zone
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
                port = free_port()
                daemons[name] = Daemon(
                    "run",
                    "-c",
                    str(path),
                    "--site",
                    site,
                    admin_port=port,
                    env={**env, "DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{port}"},
                    log=tmp_path / f"{name}.log",
                ).start()
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
