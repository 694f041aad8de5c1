"""Fixtures for the Azure Private DNS emulator: plain and TLS emulators, a raw ARM client, the real SDK."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import trustme
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient

from dnsctl.emulator import AzureEmulator
from tests.emulator.helpers import SUBSCRIPTION, ZONE_ID, FakeCredential


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def cert_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("cert")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = directory / "chain.pem", directory / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return str(chain), str(key)


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    """A plain-http emulator holding the test zone."""
    with AzureEmulator() as emu:
        emu.add_zone(ZONE_ID)
        yield emu


@pytest.fixture
def tls_emulator(server_tls: ssl.SSLContext) -> Iterator[AzureEmulator]:
    """An https emulator (trustme CA) holding the test zone."""
    with AzureEmulator(tls=server_tls) as emu:
        emu.add_zone(ZONE_ID)
        yield emu


@pytest.fixture
def arm(emulator: AzureEmulator) -> Iterator[httpx.Client]:
    """A raw ARM client for the plain emulator, with a bearer token."""
    with httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": "Bearer test"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
async def sdk(tls_emulator: AzureEmulator, ca_path: str) -> AsyncIterator[PrivateDnsManagementClient]:
    """The real async SDK pointed at the https emulator."""
    client = PrivateDnsManagementClient(
        FakeCredential(),
        SUBSCRIPTION,
        base_url=tls_emulator.base_url,
        connection_verify=ca_path,
    )
    async with client:
        yield client
