"""Fixtures for the HA lease tests: a real Azurite (plain, and TLS with OAuth) and lease factories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from dnsctl.config.values import parse_blob_url
from dnsctl.controller.blob_lease import AzureBlobLease
from dnsctl.core.model import AzureSpec, DnsctlSpec, HaSpec, LeaseKind
from dnsctl.process.clock import SystemClock
from tests.ha.azurite import Azurite, AzuriteUnavailable, ensure_azurite

MakeLease = Callable[..., AzureBlobLease]


@pytest.fixture(scope="session")
def azurite_binary() -> Path:
    try:
        return ensure_azurite()
    except AzuriteUnavailable as e:
        problem = str(e)
    pytest.fail(f"Azurite is needed for tests/ha: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def azurite(azurite_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Plain-http Azurite with shared-key auth; tests share it, each on its own container."""
    yield from _running(Azurite(azurite_binary, tmp_path_factory.mktemp("azurite")))


@pytest.fixture(scope="session")
def azurite_oauth(
    azurite_binary: Path, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Azurite]:
    """Azurite over TLS (trustme CA) that checks bearer tokens (issuer, audience, lifetime)."""
    workdir = tmp_path_factory.mktemp("azurite-oauth")
    cert = ca.issue_cert("127.0.0.1")
    chain, key = workdir / "chain.pem", workdir / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    yield from _running(Azurite(azurite_binary, workdir, cert=(str(chain), str(key)), oauth=True))


def _running(azurite: Azurite) -> Iterator[Azurite]:
    try:
        azurite.start()
    except AzuriteUnavailable as e:
        problem = str(e)
    else:
        problem = ""
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield azurite
    finally:
        azurite.stop()


def lease_spec(blob_url: str, duration: float = 15.0, azure: AzureSpec | None = None) -> DnsctlSpec:
    return DnsctlSpec(
        profiles=(),
        azure=azure or AzureSpec(),
        ha=HaSpec(lease=LeaseKind.AZURE_BLOB, blob=parse_blob_url(blob_url), lease_duration=int(duration)),
    )


@pytest.fixture
def blob_url(azurite: Azurite) -> str:
    """A blob of this test's own (container and blob do not exist yet)."""
    return azurite.blob_url(f"ha-{uuid.uuid4().hex[:12]}", "dnsctl/leader")


@pytest.fixture
async def make_lease(azurite: Azurite) -> AsyncIterator[MakeLease]:
    """Build AzureBlobLease instances (Azurite's connection string by default); all closed at the end."""
    made: list[AzureBlobLease] = []

    def make(url: str, duration: float = 15.0, **kwargs: Any) -> AzureBlobLease:
        kwargs.setdefault("connection_string", azurite.connection_string)
        kwargs.setdefault("clock", SystemClock())
        lease = AzureBlobLease(lease_spec(url, duration, kwargs.pop("azure", None)), **kwargs)
        made.append(lease)
        return lease

    yield make
    for lease in made:
        await lease.release()
