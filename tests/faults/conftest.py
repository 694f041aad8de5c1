"""Fixtures for the fault-injection tests: live HTTPS replicas, the Azure emulator, upstream DNS processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ZONE_ID, common_free_port
from tests.faults.kit import PROFILES, REGIONS, Replicas, WatchedEmulator
from tests.resolver.conftest import upstream  # noqa: F401  (the same fixture, shared)
from tests.support.registry import RegistryPki, RegistryServer


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    """One HTTPS registry per region, each with a certificate for every profile's name in that region."""
    pki = RegistryPki(tmp_path / "pki")
    port = common_free_port(list(REGIONS.values()))
    servers: dict[str, RegistryServer] = {}
    try:
        for region, ip in REGIONS.items():
            names = [f"{profile}.{region}.geo.azurecr.io" for profile in PROFILES]
            servers[region] = RegistryServer(ip, port, tls=pki.server_context(*names), name=names[0]).start()
        yield Replicas(port, pki.ca_file, servers)
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def emulator() -> Iterator[WatchedEmulator]:
    emu = WatchedEmulator()
    emu.start()
    try:
        emu.add_zone(ZONE_ID)
        yield emu
    finally:
        emu.release_answers()  # nothing left held by a test that failed while holding
        emu.stop()
