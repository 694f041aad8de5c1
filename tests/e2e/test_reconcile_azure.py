"""`dnsctl plan` / `dnsctl reconcile` as processes, against the Azure emulator and live HTTPS replicas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.harness import (
    TOKEN,
    ZONE_ID,
    cname_of,
    dnsctl,
    profile_config,
    write_config,
    writes,
)

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"


def config(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas, **kw: Any) -> str:
    path = write_config(
        tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file, **kw)]
    )
    return str(path)


def test_plan_prints_the_change_and_changes_nothing(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas)
    r = dnsctl("plan", "-c", cfg)
    assert r.code == 0, r.stderr
    assert "create" in r.stdout and EAST in r.stdout and "dry run" in r.stdout
    assert writes(emulator) == [] and cname_of(emulator) is None
    doc = dnsctl("plan", "-c", cfg, "--json").json()
    assert doc["changes"][0]["action"] == "create" and doc["changes"][0]["after"]["values"] == [EAST]


def test_failover_and_failback_across_runs(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas, fall=2, rise=2, failback_hold="6s")
    assert dnsctl("reconcile", "-c", cfg).code == 0
    assert cname_of(emulator) == EAST
    # Steady state: one list call per run, no write.
    emulator.reset_request_log()
    assert dnsctl("reconcile", "-c", cfg).code == 0
    log = emulator.request_log()
    assert [(e.method, e.kind) for e in log] == [("GET", "read")]
    assert "/aLL" in log[0].path or "/all" in log[0].path.lower()

    replicas.set("eastus", "stopped")
    # The run probes again until the count settles (history in the records: counts are not kept
    # across runs, which would cost a write per record per run): fall=2 failures, one write.
    emulator.reset_request_log()
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0 and cname_of(emulator) == WEST
    [applied] = r.json()["results"]
    assert applied["action"] == "update" and "eastus Degraded after 2 failures" in applied["reason"]
    assert "refused" in applied["reason"]
    assert "dns change: profile=myregistry" in r.stderr  # the audit line
    assert [e.kind for e in emulator.request_log()] == ["read", "write"]

    replicas.set("eastus", "healthy")
    r = dnsctl(
        "reconcile", "-c", cfg, "--json"
    )  # rise=2 within the run: Online, failback_hold has not passed
    assert cname_of(emulator) == WEST
    assert "failback to it in" in r.json()["profiles"][0]["decision"]["reason"]
    # The hold is measured from the Online-since time stored with the record: moving that time back
    # 8 s is what 8 s of waiting would do, without waiting (the process reads the real clock).
    backdate_online_since(emulator, "eastus", 8)
    assert dnsctl("reconcile", "-c", cfg).code == 0
    assert cname_of(emulator) == EAST


def backdate_online_since(emulator: AzureEmulator, endpoint: str, seconds: int) -> None:
    rs = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert rs is not None
    props = rs["properties"]
    state = json.loads(props["metadata"]["dnsctl-state"])
    assert state["e"][endpoint]["s"] == "O"
    state["e"][endpoint]["t"] -= seconds
    metadata = {**props["metadata"], "dnsctl-state": json.dumps(state, separators=(",", ":"), sort_keys=True)}
    emulator.seed_record_set(
        ZONE_ID,
        "CNAME",
        "myregistry",
        {"ttl": props["ttl"], "cnameRecord": props["cnameRecord"], "metadata": metadata},
    )


def test_all_replicas_down_keeps_the_record_and_exits_4(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas, fall=1)
    assert dnsctl("reconcile", "-c", cfg).code == 0
    replicas.set("eastus", "503")
    replicas.set("westeurope", "stopped")
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 4, r.stdout + r.stderr
    assert cname_of(emulator) == EAST
    assert "degraded: myregistry" in r.stderr


def test_a_concurrent_edit_gets_412_then_re_read_no_lost_update(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas, fall=1)
    assert dnsctl("reconcile", "-c", cfg).code == 0
    replicas.set("eastus", "stopped")
    before = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert before is not None
    emulator.inject_concurrent_write(
        ZONE_ID,
        "CNAME",
        "myregistry",
        properties={"metadata": {**before["properties"]["metadata"], "team": "x"}},
    )
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0, r.stderr
    assert r.json()["conflicts_retried"] == 1
    assert [e.status for e in writes(emulator)][-2:] == [412, 200]
    after = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert after is not None
    assert after["properties"]["cnameRecord"]["cname"] == WEST
    assert after["properties"]["metadata"]["team"] == "x", "the concurrent writer's change was kept"


def test_a_429_storm_is_honoured_and_converges(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas)
    emulator.inject_throttle(times=2, retry_after=1, applies_to="any")
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 0, r.stderr
    assert cname_of(emulator) == EAST
    statuses = [e.status for e in emulator.request_log()]
    assert statuses.count(429) == 2 and statuses[-1] in (200, 201)


def test_an_unowned_record_is_refused_with_a_clear_message(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    emulator.seed_record_set(
        ZONE_ID, "CNAME", "myregistry", {"ttl": 300, "cnameRecord": {"cname": "other.example"}}
    )
    cfg = config(tmp_path, emulator, replicas)
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 3
    assert "not managed by dnsctl" in r.stdout and "adopt: true" in r.stdout
    assert cname_of(emulator) == "other.example" and writes(emulator) == []


def test_adopting_an_existing_a_record(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas) -> None:
    emulator.seed_record_set(
        ZONE_ID, "A", "myregistry", {"ttl": 3600, "aRecords": [{"ipv4Address": "10.9.9.9"}]}
    )
    cfg = config(tmp_path, emulator, replicas, record_type="A", adopt=True)
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0, r.stderr
    assert r.json()["results"][0]["action"] == "adopt"
    rs = emulator.record_set(ZONE_ID, "A", "myregistry")
    assert rs is not None
    assert rs["properties"]["aRecords"] == [{"ipv4Address": "127.0.0.2"}]
    assert rs["properties"]["metadata"]["managed-by"] == "dnsctl"


def test_type_switch_a_to_cname_needs_allow_type_change(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    emulator.seed_record_set(
        ZONE_ID,
        "A",
        "myregistry",
        {
            "ttl": 30,
            "aRecords": [{"ipv4Address": "127.0.0.2"}],
            "metadata": {"managed-by": "dnsctl", "dnsctl-profile": "myregistry"},
        },
    )
    cfg = config(tmp_path, emulator, replicas)
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 3 and "allow_type_change" in r.stdout
    assert emulator.record_set(ZONE_ID, "A", "myregistry") is not None

    cfg = config(tmp_path, emulator, replicas, allow_type_change=True)
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0, r.stderr
    assert [x["action"] for x in r.json()["results"]] == ["delete", "create"]
    assert emulator.record_set(ZONE_ID, "A", "myregistry") is None
    assert cname_of(emulator) == EAST


def test_a_missing_zone_fails_with_exit_1_and_says_which(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    emulator.remove_zone(ZONE_ID)
    r = dnsctl("reconcile", "-c", config(tmp_path, emulator, replicas))
    assert r.code == 1
    assert "privatelink.azurecr.io was not found" in r.stderr


def test_the_token_never_reaches_output(tmp_path: Path, emulator: AzureEmulator, replicas: Replicas) -> None:
    r = dnsctl("--log-level", "debug", "reconcile", "-c", config(tmp_path, emulator, replicas))
    assert r.code == 0
    assert TOKEN not in r.stdout + r.stderr


ROLE = "grant the identity the role 'Private DNS Zone Contributor'"


def test_a_403_on_reading_the_zone_names_the_missing_role(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    # A missing role assignment is a 403 (AuthorizationFailed), not a 401: the hint must say which role.
    cfg = config(tmp_path, emulator, replicas)
    emulator.inject_error(100, status=403, applies_to="read")
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code != 0 and "Traceback" not in r.stderr, r.stderr
    assert "not allowed to read zone" in r.stderr and "HTTP 403" in r.stderr, r.stderr
    assert ROLE in r.stderr, r.stderr
    assert cname_of(emulator) is None


def test_a_403_on_writing_the_record_names_the_missing_role(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, replicas)
    emulator.inject_error(100, status=403, applies_to="write")
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code != 0 and "Traceback" not in r.stderr, r.stderr
    [failed] = r.json()["results"]
    assert failed["outcome"] == "failed" and "HTTP 403" in failed["error"], failed
    assert ROLE in failed["hint"], failed
    assert [w.status for w in writes(emulator)] == [403]
    text = dnsctl("reconcile", "-c", cfg)
    assert ROLE in text.stdout + text.stderr, text
