"""Replication awareness (`registry.watch`): a replica without the current one's watched digests lags."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.core.decision import Decision
from dnsctl.core.model import ProfileSpec
from dnsctl.core.results import ProbeResult

from .factories import Engine, endpoint, fail, monitor, ok, profile, spec

NEW, OLD = "sha256:" + "1" * 64, "sha256:" + "0" * 64


def three() -> ProfileSpec:
    return profile(
        endpoint("eastus", 1),
        endpoint("westeurope", 2),
        endpoint("southeastasia", 3),
        monitor_spec=monitor(fall=1, rise=1),
        failback_hold=0.0,
    )


def seen(name: str, at: float, digest: str | None) -> ProbeResult:
    r = ok(name, at)
    return r if digest is None else replace(r, digests=(("app:1", digest),))


def round_(eng: Engine, **digests: str | None) -> Decision:
    """One round: each named endpoint answers with that digest for app:1 (None: down)."""
    results = [seen(n, eng.now, d) if d is not None else fail(n, eng.now) for n, d in digests.items()]
    eng.feed(results)
    d = eng.decision()
    assert d is not None
    return d


def test_a_lagging_replica_is_skipped_as_failover_target() -> None:
    eng = Engine(spec(three()))
    assert round_(eng, eastus=NEW, westeurope=OLD, southeastasia=NEW).primary == "eastus"
    d = round_(eng, eastus=None, westeurope=OLD, southeastasia=NEW)
    # westeurope is next by priority, but serves the old digest: southeastasia has the new one.
    assert d.primary == "southeastasia"
    assert "westeurope lags behind eastus (app:1)" in d.reason and "not chosen until caught up" in d.reason


def test_a_replica_that_lacks_the_reference_altogether_lags() -> None:
    eng = Engine(spec(three()))
    round_(eng, eastus=NEW, westeurope="", southeastasia=NEW)
    assert round_(eng, eastus=None, westeurope="", southeastasia=NEW).primary == "southeastasia"


def test_with_every_candidate_lagging_failover_happens_and_says_so() -> None:
    eng = Engine(spec(three()))
    round_(eng, eastus=NEW, westeurope=OLD, southeastasia=OLD)
    d = round_(eng, eastus=None, westeurope=OLD, southeastasia=OLD)
    assert d.primary == "westeurope"  # availability first
    assert (
        "the target lags: westeurope lags behind eastus (app:1); no up-to-date replica is Online" in d.reason
    )


def test_failback_waits_for_the_preferred_replica_to_catch_up() -> None:
    eng = Engine(spec(three()))
    round_(eng, eastus=NEW, westeurope=NEW, southeastasia=NEW)
    assert round_(eng, eastus=None, westeurope=NEW, southeastasia=NEW).primary == "westeurope"
    # eastus is back, but answers the old digest (restored from an older state): no failback yet.
    d = round_(eng, eastus=OLD, westeurope=NEW, southeastasia=NEW)
    assert d.primary == "westeurope"
    assert "eastus lags behind westeurope (app:1): not chosen until caught up" in d.reason
    again = round_(eng, eastus=OLD, westeurope=NEW, southeastasia=NEW)
    assert again.reason == d.reason  # a steady state, not a growing reason
    assert round_(eng, eastus=NEW, westeurope=NEW, southeastasia=NEW).primary == "eastus"


def test_the_only_online_replica_is_chosen_although_it_lags() -> None:
    eng = Engine(spec(three()))
    round_(eng, eastus=NEW, westeurope=None, southeastasia=None)
    eng.feed([ok("eastus", eng.now), fail("westeurope", eng.now), ok("southeastasia", eng.now)])
    d = round_(eng, eastus=None, westeurope=None, southeastasia=OLD)
    # westeurope is down; southeastasia lags but is the only one Online.
    assert d.primary == "southeastasia" and "the target lags" in d.reason
