"""The Azure Blob verdict exchange against a real Azurite: one blob per vantage, ETag-conditional writes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.storage.blob.aio import ContainerClient

from dnsctl.config.sites import parse_exchange_url
from dnsctl.controller.exchange import MAX_REPORT_BYTES, encode
from dnsctl.controller.exchange_blob import BlobExchange
from dnsctl.core.health import MonitorStatus
from dnsctl.core.quorum import EndpointVerdict, VantageReport
from dnsctl.core.sites import ExchangeKind, ExchangeSpec
from dnsctl.errors import ExchangeError
from tests.ha.azurite import Azurite

VANTAGES = ("eastus", "westeurope", "southeastasia")


def report(vantage: str, seq: int) -> VantageReport:
    return VantageReport(
        vantage,
        seq,
        100.0 + seq,
        "cfg",
        (EndpointVerdict(vantage, "reg", "x", MonitorStatus.ONLINE),),
    )


def exchange(azurite: Azurite, container: str) -> BlobExchange:
    url = azurite.blob_url(container, "verdicts")
    spec = ExchangeSpec(ExchangeKind.AZURE_BLOB, url=url, location=parse_exchange_url(url))
    return BlobExchange(spec, VANTAGES, connection_string=azurite.connection_string)


def test_vantages_write_their_blobs_and_read_everyones(azurite: Azurite) -> None:
    container = f"x{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        east, west = exchange(azurite, container), exchange(azurite, container)
        try:
            await east.publish(report("eastus", 1))
            await west.publish(report("westeurope", 1))
            await east.publish(report("eastus", 2))
            got = await west.read()
            assert {n: r.seq for n, r in got.reports.items()} == {"eastus": 2, "westeurope": 1}
            assert got.problems == {}
            # A second process of the same site (a restart, a standby) writes over a blob it did not
            # write: the ETag it holds is stale, it re-reads it and writes.
            again = exchange(azurite, container)
            try:
                await again.publish(report("eastus", 3))
                await east.publish(report("eastus", 4))
            finally:
                await again.aclose()
            assert (await west.read()).reports["eastus"].seq == 4
        finally:
            await east.aclose()
            await west.aclose()

    asyncio.run(go())


def test_garbage_and_oversize_blobs_are_left_out(azurite: Azurite) -> None:
    container = f"x{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        ex = exchange(azurite, container)
        raw = ContainerClient.from_connection_string(azurite.connection_string, container)
        try:
            await ex.publish(report("eastus", 1))
            await raw.upload_blob("verdicts/westeurope.json", b"not json", overwrite=True)
            await raw.upload_blob(
                "verdicts/southeastasia.json", b" " * (MAX_REPORT_BYTES + 10), overwrite=True
            )
            got = await ex.read()
            assert set(got.reports) == {"eastus"}
            assert "not a JSON report" in got.problems["westeurope"]
            assert "larger than" in got.problems["southeastasia"]
            await raw.upload_blob("verdicts/westeurope.json", encode(report("eastus", 9)), overwrite=True)
            assert "names vantage 'eastus'" in (await ex.read()).problems["westeurope"]
        finally:
            await raw.close()
            await ex.aclose()

    asyncio.run(go())


def test_an_unreachable_account_is_an_exchange_error() -> None:
    url = "http://127.0.0.1:9/devstoreaccount1/dnsctl/verdicts"
    spec = ExchangeSpec(ExchangeKind.AZURE_BLOB, url=url, location=parse_exchange_url(url))
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )

    async def go() -> None:
        ex = BlobExchange(spec, VANTAGES, connection_string=conn)
        try:
            with pytest.raises(ExchangeError, match="cannot write"):
                await ex.publish(report("eastus", 1))
            with pytest.raises(ExchangeError, match="cannot read"):
                await ex.read()
        finally:
            await ex.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        (
            "https://acct.blob.core.windows.net/dnsctl/verdicts",
            ("https://acct.blob.core.windows.net", "dnsctl", "verdicts"),
        ),
        ("https://acct.blob.core.windows.net/dnsctl", ("https://acct.blob.core.windows.net", "dnsctl", "")),
        (
            "http://127.0.0.1:10000/devstoreaccount1/c/p/q",
            ("http://127.0.0.1:10000/devstoreaccount1", "c", "p/q"),
        ),
    ],
)
def test_exchange_urls(url: str, parsed: tuple[str, str, str]) -> None:
    assert parse_exchange_url(url) == parsed


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "https://acct.blob.core.windows.net/", "https://a.b/c?sig=secret"]
)
def test_bad_exchange_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_exchange_url(url)
    assert "secret" not in str(e.value)
