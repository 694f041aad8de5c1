"""Fixtures for the end-to-end tests: two live HTTPS replicas (trustme) on 127.0.0.2/.3 and the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsctl.emulator import AzureEmulator
from tests.e2e.harness import REPLICAS, ZONE_ID, common_free_port
from tests.support.registry import RegistryPki, RegistryServer


@dataclass
class Replicas:
    port: int
    ca_file: str
    servers: dict[str, RegistryServer]

    def set(self, name: str, behaviour: str) -> None:
        self.servers[name].set_behaviour(behaviour)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    pki = RegistryPki(tmp_path / "pki")
    hosts = [ip for _, ip in REPLICAS.values()]
    port = common_free_port(hosts)
    servers = {}
    try:
        for name, (target, ip) in REPLICAS.items():
            servers[name] = RegistryServer(ip, port, tls=pki.server_context(target), name=target).start()
        yield Replicas(port, pki.ca_file, servers)
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator() as emu:
        emu.add_zone(ZONE_ID)
        yield emu
