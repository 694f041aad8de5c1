"""Every replica frozen (SIGSTOP on real processes) behind a plain-HTTP monitor: the kernel still completes
TCP handshakes, but nothing comes back. That says nothing about the replicas: `check` says the guard
would take it for our own network, and `reconcile` keeps the record (exit 4) instead of moving it."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsctl.emulator import AzureEmulator
from tests.e2e.harness import REPLICAS, ZONE_ID, cname_of, common_free_port, dnsctl, write_config
from tests.support.registry import RegistryProcess

EAST = REPLICAS["eastus"][0]
FALLBACK = "myregistry-fallback.example.com"


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator() as emu:
        emu.add_zone(ZONE_ID)
        yield emu


@pytest.fixture
def processes() -> Iterator[tuple[int, list[RegistryProcess]]]:
    """Plain-HTTP replicas, each a process of its own (so that it can be frozen)."""
    hosts = [ip for _, ip in REPLICAS.values()]
    port = common_free_port(hosts)
    procs: list[RegistryProcess] = []
    try:
        for target, ip in REPLICAS.values():
            procs.append(RegistryProcess(ip, port, name=target).start())
        yield port, procs
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
            p.stop()


def profile(port: int) -> dict[str, Any]:
    return {
        "name": "myregistry",
        "fqdn": "myregistry.azurecr.io",
        "ttl": 30,
        # Without the guard, one round of timeouts would send the record to the fallback.
        "when_all_down": "fallback",
        "fallback": FALLBACK,
        "monitor": {
            "protocol": "http",
            "port": port,
            "interval": "2s",
            "timeout": "500ms",
            "fall": 1,
            "rise": 1,
        },
        "endpoints": [
            {"name": name, "target": target, "priority": i + 1, "addresses": [ip]}
            for i, (name, (target, ip)) in enumerate(REPLICAS.items())
        ],
        "azure": {
            "subscription_id": "00000000-0000-0000-0000-000000000000",
            "resource_group": "rg-private-dns",
            "zone": "privatelink.azurecr.io",
            "record": "myregistry",
        },
    }


def test_frozen_plain_http_replicas_are_nothing_came_back(
    tmp_path: Path, emulator: AzureEmulator, processes: tuple[int, list[RegistryProcess]]
) -> None:
    port, procs = processes
    cfg = str(write_config(tmp_path / "dnsctl.yaml", emulator, [profile(port)]))
    assert dnsctl("reconcile", "-c", cfg).code == 0
    assert cname_of(emulator) == EAST

    for p in procs:
        os.kill(p.pid, signal.SIGSTOP)

    check = dnsctl("check", "-c", cfg, "--json")
    assert check.code == 1, check.stdout + check.stderr
    doc = check.json()
    assert doc["isolated"] is True
    endpoints = doc["profiles"][0]["endpoints"]
    assert {e["reason"] for e in endpoints} == {"no-answer"}
    assert all("connected, nothing came back" in e["detail"] for e in endpoints)
    text = dnsctl("check", "-c", cfg)
    assert "isolation guard" in text.stderr and "likelier cause" in text.stderr

    r = dnsctl("reconcile", "-c", cfg, "--json")
    assert r.code == 4, r.stdout + r.stderr
    assert cname_of(emulator) == EAST, "the guard keeps the record: nothing came back from anyone"
    doc = r.json()
    assert doc["profiles"][0]["decision"]["kind"] == "frozen"
    assert "isolation guard holds the last answer" in doc["summary"]


def test_one_frozen_replica_is_still_down_when_the_other_answers(
    tmp_path: Path, emulator: AzureEmulator, processes: tuple[int, list[RegistryProcess]]
) -> None:
    port, procs = processes
    cfg = str(write_config(tmp_path / "dnsctl.yaml", emulator, [profile(port)]))
    assert dnsctl("reconcile", "-c", cfg).code == 0
    os.kill(procs[0].pid, signal.SIGSTOP)  # eastus
    r = dnsctl("reconcile", "-c", cfg)
    assert r.code == 0, r.stdout + r.stderr
    assert cname_of(emulator) == REPLICAS["westeurope"][0]
    assert "eastus Degraded after 1 failure (no-answer" in r.stdout
