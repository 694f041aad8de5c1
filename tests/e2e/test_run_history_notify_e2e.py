"""`dnsctl run` against the emulator with a loopback webhook receiver: a failover is written with its
history in the record's metadata (kept short there), notified once, and a hand edit of the record is
notified as drift."""

from __future__ import annotations

import json
from pathlib import Path

from dnsctl.core.codec import METADATA_HISTORY
from dnsctl.core.plan import STATE_KEY
from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import REPLICAS, ZONE_ID, cname_of, dnsctl, fast_probes, profile_config, run_setup
from tests.support.webhook_receiver import WebhookReceiver

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]


def test_run_keeps_the_history_in_the_record_and_notifies_failover_and_drift(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    profile = fast_probes(profile_config(replicas.port, replicas.ca_file, fall=2, rise=1, failback_hold="0s"))
    with WebhookReceiver() as receiver:
        setup = run_setup(
            tmp_path,
            emulator,
            [profile],
            resync_interval="1s",
            notify={"webhooks": [{"url": receiver.url("/run-hook"), "events": ["failover", "drift"]}]},
        )
        d = setup.start()
        try:
            d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
            d.wait_until(lambda: cname_of(emulator) == EAST, 20, "the first write")
            replicas.set("eastus", "stopped")
            d.wait_until(lambda: cname_of(emulator) == WEST, 30, "the failover write")

            (failover,) = receiver.wait_for(1)
            assert (failover["event"], failover["from"], failover["to"]) == (
                "failover",
                "eastus",
                "westeurope",
            )
            rs = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
            assert rs is not None
            stored = json.loads(rs["properties"]["metadata"][STATE_KEY])
            assert 1 <= len(stored["h"]) <= METADATA_HISTORY
            assert (stored["h"][-1]["k"], stored["h"][-1]["f"], stored["h"][-1]["n"]) == (
                "failover",
                "eastus",
                "westeurope",
            )

            # A hand edit of the owned record: drift, notified (the resync puts it back).
            emulator.seed_record_set(
                ZONE_ID,
                "CNAME",
                "myregistry",
                {
                    "ttl": 30,
                    "cnameRecord": {"cname": "manual.example.com"},
                    "metadata": rs["properties"]["metadata"],
                },
            )
            bodies = receiver.wait_for(2)
            drift = bodies[1]
            assert drift["event"] == "drift" and drift["profile"] == "myregistry"
            assert "manual.example.com" in drift["to"] and WEST in drift["from"]

            shown = dnsctl("history", "--url", setup.url, "--json")
            assert shown.code == 0, shown.stderr
            assert json.loads(shown.stdout)["history"][-1]["kind"] == "failover"
            assert d.terminate() == 0
        finally:
            d.kill()
    assert "Traceback" not in d.log()
