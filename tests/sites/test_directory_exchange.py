"""The directory verdict exchange: one file per vantage, written atomically, read by all; garbage is stale."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dnsctl.controller.exchange import MAX_REPORT_BYTES, DirectoryExchange, decode, encode
from dnsctl.core.health import MonitorStatus
from dnsctl.core.quorum import EndpointVerdict, VantageReport, VantageState, combine
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from dnsctl.errors import ExchangeError

VANTAGES = ("eastus", "westeurope", "southeastasia")
SITES = SitesSpec(tuple(SiteSpec(n) for n in VANTAGES), ExchangeSpec(ExchangeKind.DIRECTORY, path="x"))


def report(vantage: str, seq: int = 1, at: float = 100.0) -> VantageReport:
    return VantageReport(
        vantage,
        seq,
        at,
        "cfg",
        (
            EndpointVerdict(
                vantage, "reg", "eastus", MonitorStatus.DEGRADED, 90.0, "connect-timeout", answered=False
            ),
            EndpointVerdict(vantage, "reg", "westeurope", MonitorStatus.ONLINE, None, None),
        ),
    )


def test_a_report_round_trips() -> None:
    r = report("eastus", seq=7)
    assert decode(encode(r).encode(), "eastus") == r


def test_each_vantage_writes_its_file_and_reads_everyones(tmp_path: Path) -> None:
    async def go() -> None:
        for v in VANTAGES[:2]:
            await DirectoryExchange(tmp_path, VANTAGES).publish(report(v))
        await DirectoryExchange(tmp_path, VANTAGES).publish(report("eastus", seq=2))
        got = await DirectoryExchange(tmp_path, VANTAGES).read()
        assert set(got.reports) == {"eastus", "westeurope"}
        assert got.reports["eastus"].seq == 2
        assert got.problems == {}
        assert sorted(os.listdir(tmp_path)) == ["eastus.json", "westeurope.json"]

    asyncio.run(go())


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfe garbage", "not a JSON report"),
        (b"[1, 2]", "not a JSON report (not an object)"),
        (b'{"v": 99, "vantage": "westeurope"}', "report format 99 is not 1"),
        (encode(report("eastus")).encode(), "names vantage 'eastus', not 'westeurope'"),
        (
            encode(report("westeurope")).replace('"Degraded"', '"Sideways"').encode(),
            "is not a monitor status",
        ),
        (b"{" * 200_000, "not a JSON report"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON report (RecursionError)"),  # nested past the stack
    ],
)
def test_a_garbage_report_is_left_out_said_why_and_its_vantage_is_stale(
    tmp_path: Path, content: bytes, why: str
) -> None:
    async def go() -> None:
        ex = DirectoryExchange(tmp_path, VANTAGES)
        await ex.publish(report("eastus"))
        (tmp_path / "westeurope.json").write_bytes(content)
        got = await ex.read()
        assert set(got.reports) == {"eastus"}
        assert why in got.problems["westeurope"]
        health = combine(SITES, got.reports, now=100.0, interval=10.0)
        assert health.vantage("westeurope").state is VantageState.STALE

    asyncio.run(go())


def test_an_oversize_report_is_not_read(tmp_path: Path) -> None:
    with open(tmp_path / "westeurope.json", "wb") as f:
        f.truncate(MAX_REPORT_BYTES + 1)
    got = asyncio.run(DirectoryExchange(tmp_path, VANTAGES).read())
    assert got.reports == {}
    assert "larger than" in got.problems["westeurope"]


def test_a_fifo_in_place_of_a_report_never_blocks(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "westeurope.json")
    got = asyncio.run(DirectoryExchange(tmp_path, VANTAGES).read())
    assert "not a regular file" in got.problems["westeurope"]


def test_a_missing_directory_is_an_exchange_error(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError, match="does not exist"):
        asyncio.run(DirectoryExchange(tmp_path / "nope", VANTAGES).read())


def test_an_unwritable_directory_is_an_exchange_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ExchangeError, match="cannot write"):
        asyncio.run(DirectoryExchange(tmp_path / "file", VANTAGES).publish(report("eastus")))
