"""`dnsctl run` as a process against the emulator and live replicas: failover, drift, operators, restart."""

from __future__ import annotations

from pathlib import Path

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import (
    REPLICAS,
    ZONE_ID,
    cname_of,
    dnsctl,
    fast_probes,
    profile_config,
    run_setup,
    writes,
)

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]
ADMIN_TOKEN = "admin-secret-for-tests"


def test_run_controller(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas) -> None:
    profile = fast_probes(profile_config(replicas.port, replicas.ca_file, fall=2, rise=1, failback_hold="0s"))
    env = {"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN}
    setup = run_setup(tmp_path, emulator, [profile], env=env, resync_interval="1s")
    admin_port = setup.admin_port
    start = setup.start

    d = start()
    try:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        d.wait_until(lambda: cname_of(emulator) == EAST, 10, "the first write")

        # A replica dies: the record moves, with one DNS write.
        emulator.reset_request_log()
        replicas.set("eastus", "stopped")
        d.wait_until(lambda: cname_of(emulator) == WEST, 15, "the failover write")
        dns_writes = [w for w in writes(emulator) if w.status == 200]
        assert len(dns_writes) >= 1
        status = d.status()
        pub = status["profiles"][0]["published"]
        assert pub["value"] == f"CNAME {WEST} ttl 30" and pub["etag"]
        assert status["leadership"]["held"] is True
        metrics = d.get("/metrics").text
        assert 'dnsctl_dns_writes_total{action="update",profile="myregistry",result="applied"}' in metrics
        assert 'dnsctl_failovers_total{profile="myregistry"} 1.0' in metrics

        # Drift: someone edits the owned record by hand; the resync puts it back.
        current = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
        assert current is not None
        emulator.seed_record_set(
            ZONE_ID,
            "CNAME",
            "myregistry",
            {
                "ttl": 30,
                "cnameRecord": {"cname": "manual.example.com"},
                "metadata": current["properties"]["metadata"],
            },
        )
        d.wait_until(lambda: cname_of(emulator) == WEST, 10, "drift to be corrected")
        assert "drift: privatelink.azurecr.io/myregistry was changed outside dnsctl" in d.log()
        assert 'dnsctl_drift_detected_total{owned="true",profile="myregistry"}' in d.get("/metrics").text

        # Recovery, then an operator drain through the CLI; mutating calls need the token.
        replicas.set("eastus", "healthy")
        d.wait_until(lambda: cname_of(emulator) == EAST, 10, "the failback")
        assert d.post("/v1/profiles/myregistry/endpoints/eastus/drain").status_code in (401, 403)
        url = f"http://127.0.0.1:{admin_port}"
        r = dnsctl("drain", "myregistry", "eastus", "--url", url, env=env)
        assert r.code == 0, r.stderr
        assert "drained" in r.stdout
        d.wait_until(lambda: cname_of(emulator) == WEST, 10, "the drain to move the record")
        assert "operator action: drain myregistry/eastus" in d.log()

        # SIGTERM is clean, and the drain survives a restart (kept with the record's state).
        assert d.terminate() == 0
        d = start()
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness after restart")
        doc = d.status()
        assert doc["profiles"][0]["overrides"] == {"eastus": "down"}
        assert cname_of(emulator) == WEST
        r = dnsctl("undrain", "myregistry", "eastus", "--url", url, env=env)
        assert r.code == 0, r.stderr
        d.wait_until(lambda: cname_of(emulator) == EAST, 10, "the undrain")
        st = dnsctl("status", "--url", url)
        assert st.code == 0 and "eastus" in st.stdout and "leadership: leader" in st.stdout
        assert d.terminate() == 0
    finally:
        d.kill()
