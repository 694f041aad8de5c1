"""The vantage's exchange rounds: what it publishes, how often, and what it makes of the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dnsctl.controller.exchange import DirectoryExchange
from dnsctl.controller.vantage import Vantage
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.quorum import VantageState
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from dnsctl.core.state import ProfileState
from tests.support.clock import ManualClock

NAMES = ("eastus", "westeurope")
SITES = SitesSpec(tuple(SiteSpec(n) for n in NAMES), ExchangeSpec(ExchangeKind.DIRECTORY, path="x"))
STATES = {"reg": ProfileState(started_at=0.0, endpoints={"x": EndpointHealth(status=MonitorStatus.ONLINE)})}


def vantage(site: str, tmp_path: Path, clock: ManualClock) -> Vantage:
    return Vantage(site, SITES, DirectoryExchange(tmp_path, NAMES), clock, interval=10.0, config="c")


def test_a_vantage_exchanges_at_most_every_half_interval(tmp_path: Path) -> None:
    clock = ManualClock()
    v = vantage("eastus", tmp_path, clock)
    assert v.due()
    asyncio.run(v.exchange_round(STATES))
    assert not v.due()
    clock.advance(4.9)
    assert not v.due()
    clock.advance(0.1)
    assert v.due()


def test_a_vantage_sees_the_other_fresh_then_stale(tmp_path: Path) -> None:
    clock = ManualClock()
    east, west = vantage("eastus", tmp_path, clock), vantage("westeurope", tmp_path, clock)
    asyncio.run(west.exchange_round(STATES))
    health = asyncio.run(east.exchange_round(STATES))
    assert [v.state for v in health.vantages] == [VantageState.FRESH, VantageState.FRESH]
    clock.advance(30.1)  # more than 3 intervals since westeurope's report
    health = asyncio.run(east.exchange_round(STATES))
    assert health.vantage("westeurope").state is VantageState.STALE
    assert health.vantage("eastus").state is VantageState.FRESH
    doc = east.doc()
    assert [(d.name, d.state) for d in doc.vantages] == [("eastus", "fresh"), ("westeurope", "stale")]
    assert doc.evidence == ("reg/x: Online for site eastus and Online for 1 of 2 vantages",)


def test_an_unwritable_exchange_is_reported_and_the_vantage_keeps_its_own_verdicts(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    v = Vantage(
        "eastus", SITES, DirectoryExchange(tmp_path / "file", NAMES), ManualClock(), interval=10.0, config="c"
    )
    health = asyncio.run(v.exchange_round(STATES))
    assert health.vantage("eastus").state is VantageState.FRESH
    assert v.error is not None and "cannot write" in v.error
    assert v.doc().exchange_error == v.error
