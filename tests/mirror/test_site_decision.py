"""A site's decision for node agents: what a vantage derives from its state, what an agent writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dnsctl.controller.exchange import DirectoryExchange
from dnsctl.controller.vantage import Vantage
from dnsctl.core.mirror import ProfileDecision, decision_of, mirror_order, order_from, site_decisions
from dnsctl.core.model import WhenAllDown
from dnsctl.core.sites import ExchangeKind, ExchangeSpec, SiteSpec, SitesSpec
from tests.core.factories import PROFILE, Engine, endpoint, profile, spec
from tests.support.clock import ManualClock

ALL = {"eastus": True, "westeurope": True, "southeastasia": True}


def three(**kw: object) -> Engine:
    p = profile(endpoint("eastus", 1), endpoint("westeurope", 2), endpoint("southeastasia", 3), **kw)  # type: ignore[arg-type]
    return Engine(spec(p))


def test_the_decision_lists_the_mirror_order_and_an_agent_writes_the_same_hosts() -> None:
    e = three()
    assert decision_of(e.spec.profiles[0], e.states[PROFILE]) is None  # no verdicts: nothing to follow
    e.round(ALL)
    for _ in range(3):
        e.round({"eastus": False, "westeurope": True, "southeastasia": True})
    p = e.spec.profiles[0]
    d = decision_of(p, e.states[PROFILE])
    assert d is not None
    assert (d.endpoints, d.mirror, d.keep) == (("westeurope",), ("westeurope", "southeastasia"), False)
    # The agent, with the same configuration, writes exactly what probing locally would have.
    assert order_from(p, d) == mirror_order(p, e.states[PROFILE])


def test_keep_last_with_everything_down_tells_agents_to_keep_their_file() -> None:
    e = three(when_all_down=WhenAllDown.KEEP_LAST)
    e.round(ALL)
    for _ in range(3):
        e.round(dict.fromkeys(ALL, False))
    d = decision_of(e.spec.profiles[0], e.states[PROFILE])
    assert d is not None and d.keep
    assert order_from(e.spec.profiles[0], d).keep_existing


def test_a_decision_naming_an_endpoint_the_agent_does_not_know_is_refused() -> None:
    p = three().spec.profiles[0]
    with pytest.raises(ValueError, match="elsewhere"):
        order_from(p, ProfileDecision(PROFILE, ("elsewhere",), ("elsewhere",), "r"))


def test_a_vantage_publishes_its_sites_decision_next_to_its_report(tmp_path: Path) -> None:
    e = three()
    e.round(ALL)
    sites = SitesSpec(
        (SiteSpec("eastus"), SiteSpec("westeurope")), ExchangeSpec(ExchangeKind.DIRECTORY, path="x")
    )
    exchange = DirectoryExchange(tmp_path, sites.names)
    v = Vantage("eastus", sites, exchange, ManualClock(), interval=10.0, config="c", profiles=e.spec.profiles)
    asyncio.run(v.exchange_round(e.states))
    got = asyncio.run(exchange.read_decision("eastus")).decision
    assert got is not None
    assert got.config_hash == "c" and got.profiles == site_decisions(e.spec.profiles, e.states)
    assert got.profile(PROFILE) is not None
    assert got.profiles[0].mirror == ("eastus", "westeurope", "southeastasia")
