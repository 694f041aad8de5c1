"""A site's decision document in the directory exchange: what node agents read instead of probing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from dnsctl.controller.exchange import (
    MAX_REPORT_BYTES,
    DecisionRead,
    DirectoryExchange,
    decode_decision,
    encode_decision,
)
from dnsctl.core.mirror import ProfileDecision, SiteDecision
from dnsctl.errors import ExchangeError

SITES = ("eastus", "westeurope")


def decision(site: str = "eastus", seq: int = 1, *, mirror: tuple[str, ...] = ("x", "y")) -> SiteDecision:
    return SiteDecision(
        site,
        seq,
        100.0 + seq,
        "cfg",
        (ProfileDecision("reg", mirror[:1], mirror, "x is first by priority"),),
    )


def read(ex: DirectoryExchange, site: str) -> DecisionRead:
    return asyncio.run(ex.read_decision(site))


def test_a_decision_round_trips() -> None:
    d = SiteDecision(
        "eastus",
        7,
        123.5,
        "abc",
        (
            ProfileDecision("reg", ("y",), ("y", "x"), "x Degraded", None, keep=False),
            ProfileDecision("other", ("z",), (), "all down", "global.example", keep=True),
        ),
    )
    assert decode_decision(encode_decision(d).encode(), "eastus") == d


def test_each_site_has_its_own_document(tmp_path: Path) -> None:
    ex = DirectoryExchange(tmp_path, SITES)
    asyncio.run(ex.publish_decision(decision("eastus", 1, mirror=("x", "y"))))
    asyncio.run(ex.publish_decision(decision("westeurope", 2, mirror=("y", "x"))))
    assert (tmp_path / "eastus.decision.json").is_file()
    east, west = read(ex, "eastus").decision, read(ex, "westeurope").decision
    assert east is not None and west is not None
    assert east.profile("reg") == ProfileDecision("reg", ("x",), ("x", "y"), "x is first by priority")
    assert west.seq == 2 and west.profiles[0].mirror == ("y", "x")


def test_never_written_is_neither_a_decision_nor_a_problem(tmp_path: Path) -> None:
    assert read(DirectoryExchange(tmp_path, SITES), "eastus") == DecisionRead()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not json \xff", "not a JSON decision"),
        (b"[1, 2]", "not an object"),
        (b'{"v": 2, "site": "eastus"}', "decision format 2 is not 1"),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON decision"),
        (encode_decision(decision("westeurope")).encode(), "names site 'westeurope', not 'eastus'"),
        (
            b'{"v":1,"site":"eastus","seq":1,"at":1,"config":"c","profiles":[{"profile":"reg","reason":"r",'
            b'"endpoints":["x"],"mirror":[]}]}',
            "lists no mirror and no fallback",
        ),
        (
            b'{"v":1,"site":"eastus","seq":1,"at":1,"config":"c","profiles":[{"profile":"reg","reason":"r",'
            b'"endpoints":["x"],"mirror":[3]}]}',
            "mirror is not a list of endpoint names",
        ),
        (b'{"v":1,"site":"eastus","seq":true,"at":1,"config":"c","profiles":[]}', "seq is not an integer"),
        (b'{"v":1,"site":"eastus","seq":1,"at":NaN,"config":"c","profiles":[]}', "at is not a time"),
    ],
)
def test_a_garbage_document_is_unreadable_and_said_why(tmp_path: Path, content: bytes, why: str) -> None:
    (tmp_path / "eastus.decision.json").write_bytes(content)
    got = read(DirectoryExchange(tmp_path, SITES), "eastus")
    assert got.decision is None
    assert got.problem is not None and why in got.problem


def test_an_oversize_or_fifo_document_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "eastus.decision.json"
    path.write_bytes(b" " * (MAX_REPORT_BYTES + 1))
    got = read(DirectoryExchange(tmp_path, SITES), "eastus")
    assert got.decision is None and got.problem is not None and "larger than" in got.problem
    path.unlink()
    os.mkfifo(path)
    got = read(DirectoryExchange(tmp_path, SITES), "eastus")
    assert got.decision is None and got.problem is not None and "not a regular file" in got.problem


def test_a_missing_exchange_directory_is_an_exchange_error(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError, match="does not exist"):
        read(DirectoryExchange(tmp_path / "gone", SITES), "eastus")
