"""Real outages with real replicas (dnsctl as a process): replicas down versus the controller cut off,
endpoints with a dead address, a whole region failing over in one pass, honest exit codes, bounded
Azure waits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import (
    REPLICAS,
    ZONE_ID,
    cname_of,
    dnsctl,
    free_port,
    profile_config,
    write_config,
    writes,
)
from tests.support.registry import RegistryServer

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]
FQDN = "myregistry.azurecr.io"
# Not the profile's own name: a fallback to itself would be a CNAME loop (validation refuses it).
FALLBACK = "myregistry-fallback.example.com"
CANARY_HOST = "127.0.0.4"
DEAD_ADDRESS = "127.0.0.5"  # nothing listens there: every probe is refused


@pytest.fixture
def canary(replicas: Replicas) -> Iterator[RegistryServer]:
    """A TCP canary outside the endpoint set (a plain HTTP server on 127.0.0.4)."""
    with RegistryServer(CANARY_HOST, replicas.port) as server:
        yield server


def fallback_profile(replicas: Replicas, **kw: Any) -> dict[str, Any]:
    doc = profile_config(replicas.port, replicas.ca_file, fall=1, rise=1, **kw)
    doc["when_all_down"] = "fallback"
    doc["fallback"] = FALLBACK
    doc["monitor"]["timeout"] = "500ms"
    return doc


def config(tmp_path: Path, emulator: AzureEmulator, profiles: list[dict[str, Any]], **extra: Any) -> str:
    return str(write_config(tmp_path / "dnsctl.yaml", emulator, profiles, **extra))


def guard(canaries: list[str]) -> dict[str, Any]:
    return {"isolation_guard": {"canaries": canaries}}


# --- replicas down versus the controller cut off -------------------------------------------------------


def test_every_replica_answering_503_is_an_outage_the_fallback_is_written(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, [fallback_profile(replicas)])
    assert dnsctl("reconcile", "-c", cfg).code == 0
    assert cname_of(emulator) == EAST
    # No canary is configured: validate says the guard could hold the fallback back.
    v = dnsctl("validate", "-c", cfg)
    assert v.code == 0 and "isolation_guard.canaries" in v.stderr and "warning" in v.stderr

    replicas.set("eastus", "503")
    replicas.set("westeurope", "503")
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 4, r.stdout + r.stderr
    assert cname_of(emulator) == FALLBACK
    assert "isolation guard" not in r.stderr.lower()
    assert r.stdout.strip().splitlines()[-1].startswith("degraded: 1 change(s) applied")
    assert f"fallback to {FALLBACK}" in r.stdout


def test_every_replica_silent_but_a_canary_answers_the_fallback_is_written(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas, canary: RegistryServer
) -> None:
    cfg = config(
        tmp_path, emulator, [fallback_profile(replicas)], **guard([f"{CANARY_HOST}:{replicas.port}"])
    )
    assert dnsctl("reconcile", "-c", cfg).code == 0
    assert "warning" not in dnsctl("validate", "-c", cfg).stderr
    replicas.set("eastus", "blackhole")
    replicas.set("westeurope", "blackhole")
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 4, r.stdout + r.stderr
    assert cname_of(emulator) == FALLBACK
    doc = r.json()
    assert doc["profiles"][0]["decision"]["kind"] == "all-down"
    assert {e["reason"] for e in doc["profiles"][0]["endpoints"]} == {"connect-timeout"}
    assert canary.wait_for_connections(1) >= 1


def test_every_replica_and_the_canary_silent_the_guard_keeps_the_record(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas, canary: RegistryServer
) -> None:
    cfg = config(
        tmp_path, emulator, [fallback_profile(replicas)], **guard([f"{CANARY_HOST}:{replicas.port}"])
    )
    assert dnsctl("reconcile", "-c", cfg).code == 0
    before = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    replicas.set("eastus", "blackhole")
    replicas.set("westeurope", "blackhole")
    canary.set_behaviour("blackhole")
    emulator.reset_request_log()
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 4, r.stdout + r.stderr
    after = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert before is not None and after is not None
    # The record is kept as it is; only the health history stored with it may be written.
    assert after["properties"]["cnameRecord"] == before["properties"]["cnameRecord"] == {"cname": EAST}
    assert after["properties"]["ttl"] == before["properties"]["ttl"]
    assert len(writes(emulator)) <= 1
    assert "isolation guard" in r.stderr and "isolation guard holds the last answer" in r.stdout


def serve_config(replicas: Replicas, dns_port: int, admin_port: int, **extra: Any) -> dict[str, Any]:
    profile = fallback_profile(replicas)
    del profile["azure"]
    profile["monitor"]["interval"] = "500ms"
    profile["monitor"]["timeout"] = "400ms"
    return {
        "profiles": [profile],
        "resolver": {"listen": [f"127.0.0.1:{dns_port}"]},
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        **extra,
    }


def query(port: int, qtype: str) -> tuple[str, list[str]]:
    r = dns.query.udp(dns.message.make_query(FQDN, qtype), "127.0.0.1", port=port, timeout=2)
    cnames = [str(rr.target).rstrip(".") for s in r.answer if s.rdtype == dns.rdatatype.CNAME for rr in s]
    addresses = [rr.address for s in r.answer if s.rdtype == dns.rdatatype.A for rr in s]
    return (cnames[0] if cnames else ""), addresses


def test_serve_answers_with_the_fallback_when_every_replica_answers_503(
    tmp_path: Path, replicas: Replicas
) -> None:
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    doc = serve_config(replicas, dns_port, admin_port)
    doc["profiles"][0]["fqdn"] = "global.lab.internal"
    cfg.write_text(yaml.safe_dump(doc))

    def cname() -> str:
        q = dns.message.make_query("global.lab.internal", "CNAME")
        r = dns.query.udp(q, "127.0.0.1", port=dns_port, timeout=2)
        return next((str(rr.target).rstrip(".") for s in r.answer for rr in s), "")

    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: cname() == EAST, 15, "the first answer")
        replicas.set("eastus", "503")
        replicas.set("westeurope", "503")
        d.wait_until(lambda: cname() == FALLBACK, 15, "the fallback answer")
        status = d.status()
        assert status["isolated"] is False
        assert status["profiles"][0]["decision"]["kind"] == "all-down"
        assert d.terminate() == 0


# --- an endpoint with a dead and a live address ---------------------------------------------------------


def two_address_profile(replicas: Replicas, **azure: Any) -> dict[str, Any]:
    doc = profile_config(replicas.port, replicas.ca_file, fall=2, rise=1, **azure)
    doc["endpoints"][0]["addresses"] = [DEAD_ADDRESS, "127.0.0.2"]
    doc["monitor"]["timeout"] = "500ms"
    return doc


def test_a_dead_address_is_neither_published_nor_answered(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, [two_address_profile(replicas, record_type="A")])
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0, r.stdout + r.stderr
    rs = emulator.record_set(ZONE_ID, "A", "myregistry")
    assert rs is not None and rs["properties"]["aRecords"] == [{"ipv4Address": "127.0.0.2"}]
    east = r.json()["profiles"][0]["endpoints"][0]
    assert east["status"] == "Online"
    by_address = {a["address"]: a for a in east["addresses"]}
    assert by_address["127.0.0.2"]["status"] == "Online"
    assert by_address[DEAD_ADDRESS]["ok"] is False and by_address[DEAD_ADDRESS]["reason"] == "refused"

    check = dnsctl("check", "-c", cfg, "--json")
    assert check.code == 0
    [ep] = [e for e in check.json()["profiles"][0]["endpoints"] if e["name"] == "eastus"]
    assert {a["address"]: a["status"] for a in ep["addresses"]} == {
        DEAD_ADDRESS: "Degraded",
        "127.0.0.2": "Online",
    }

    # The resolver answers with the live address only, and /status shows both.
    dns_port, admin_port = free_port(), free_port()
    doc = serve_config(replicas, dns_port, admin_port)
    doc["profiles"] = [two_address_profile(replicas)]
    del doc["profiles"][0]["azure"]
    serve_cfg = tmp_path / "serve.yaml"
    serve_cfg.write_text(yaml.safe_dump(doc))
    with Daemon("serve", "-c", str(serve_cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: query(dns_port, "A") == (EAST, ["127.0.0.2"]), 15, "the live address only")
        east = d.status()["profiles"][0]["endpoints"][0]
        assert east["status"] == "Online"
        assert {a["address"] for a in east["addresses"]} == {DEAD_ADDRESS, "127.0.0.2"}
        assert d.terminate() == 0


# --- a region fails over in one pass; configuration edits still meet the limit ----------------------------


def region_profiles(replicas: Replicas, n: int, renamed: set[int] | None = None) -> list[dict[str, Any]]:
    profiles = []
    for i in range(n):
        doc = profile_config(replicas.port, replicas.ca_file, fall=1, rise=1, record=f"reg{i:02d}")
        doc["name"] = f"reg{i:02d}"
        doc["fqdn"] = f"reg{i:02d}.azurecr.io"
        doc["monitor"]["verify_tls"] = False  # twenty names, one certificate per replica
        del doc["monitor"]["ca_file"]
        for ep in doc["endpoints"]:
            region = "eastus" if ep["name"] == "eastus" else "westeurope"
            suffix = "2" if renamed and i in renamed and region == "westeurope" else ""
            ep["target"] = f"reg{i:02d}.{region}{suffix}.geo.azurecr.io"
        profiles.append(doc)
    return profiles


def test_twenty_profiles_fail_over_in_one_reconcile_but_six_retargets_are_refused(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, region_profiles(replicas, 20))
    first = dnsctl("reconcile", "-c", cfg)
    assert first.code == 3 and "20 configuration changes" in first.stdout + first.stderr
    assert dnsctl("reconcile", "-c", cfg, "--force").code == 0  # twenty new records: configuration
    assert cname_of(emulator, "reg07") == "reg07.eastus.geo.azurecr.io"

    replicas.set("eastus", "503")
    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 0, r.stdout + r.stderr
    doc = r.json()
    assert len(doc["results"]) == 20 and {c["origin"] for c in doc["changes"]} == {"health"}
    assert doc["summary"] == "converged: 20 change(s) applied"
    assert all(
        cname_of(emulator, f"reg{i:02d}") == f"reg{i:02d}.westeurope.geo.azurecr.io" for i in range(20)
    )

    # A configuration edit renames the target six profiles point at: that is not failover.
    cfg = config(tmp_path, emulator, region_profiles(replicas, 20, renamed={1, 3, 5, 7, 9, 11}))
    plan = dnsctl("plan", "-c", cfg)
    assert "config" in plan.stdout and "ORIGIN" in plan.stdout
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 3, r.stdout + r.stderr
    assert "6 configuration changes" in r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("refused: nothing was changed")
    assert cname_of(emulator, "reg05") == "reg05.westeurope.geo.azurecr.io"
    assert dnsctl("reconcile", "-c", cfg, "--force").code == 0
    assert cname_of(emulator, "reg05") == "reg05.westeurope2.geo.azurecr.io"


# --- honest outcomes ------------------------------------------------------------------------------------


# fall 1: Degraded verdicts at once; fall 2: verdicts after two rounds within the run; nothing to publish.
@pytest.mark.parametrize("fall", [1, 2])
def test_a_fresh_record_with_every_endpoint_down_exits_4_and_says_so(
    fall: int, tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    replicas.set("eastus", "503")
    replicas.set("westeurope", "503")
    cfg = config(tmp_path, emulator, [profile_config(replicas.port, replicas.ca_file, fall=fall)])
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 4, r.stdout + r.stderr
    assert "No changes" not in r.stdout
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("degraded:") and "nothing is published" in last and "no record was created" in last
    assert writes(emulator) == [] and cname_of(emulator) is None


def test_a_failed_read_is_not_reported_as_no_changes(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    emulator.remove_zone(ZONE_ID)
    r = dnsctl(
        "reconcile", "-c", config(tmp_path, emulator, [profile_config(replicas.port, replicas.ca_file)])
    )
    assert r.code == 1
    assert "No changes" not in r.stdout and r.stdout.strip().splitlines()[-1].startswith("read failed:")


# --- bounded Azure waits ---------------------------------------------------------------------------------


def test_a_day_long_retry_after_fails_the_call_at_once(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = config(tmp_path, emulator, [profile_config(replicas.port, replicas.ca_file)])
    emulator.inject_throttle(times=100, retry_after=86400, applies_to="any")
    started = time.monotonic()
    r = dnsctl("reconcile", "-c", cfg, timeout=30)
    assert r.code == 1, r.stdout + r.stderr
    assert time.monotonic() - started < 15
    assert "86400s (Retry-After)" in r.stdout + r.stderr and "max_retry_after" in r.stdout + r.stderr


def test_the_pass_ends_at_azure_deadline_even_when_waits_are_allowed(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    deadline = 3.0
    cfg = config(
        tmp_path,
        emulator,
        [profile_config(replicas.port, replicas.ca_file)],
        azure={
            "credential": "static",
            "base_url": emulator.base_url,
            "max_retry_after": "24h",
            "deadline": f"{deadline}s",
        },
    )
    emulator.inject_throttle(times=100, retry_after=86400, applies_to="any")
    started = time.monotonic()
    r = dnsctl("reconcile", "-c", cfg, timeout=60)
    elapsed = time.monotonic() - started
    assert r.code == 1, r.stdout + r.stderr
    # Far below the day-long Retry-After: the deadline ended it. The margin is the process's own start
    # (interpreter, imports, the first probes), which takes seconds on a loaded machine.
    assert elapsed < deadline + 20, elapsed
    assert "azure.deadline (3s)" in r.stdout + r.stderr
