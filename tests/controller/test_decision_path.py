"""One decision path: the engine hands a pass's decisions to a publisher as a batch, and the publisher
acts on that batch (never on a re-read of the engine); one place reads the stored state at start, and
one save path treats a failed save the same way in every mode."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.run import RunController
from dnsctl.controller.serve import ServeController
from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.model import DnsctlSpec, Override
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.state import ProfileState
from dnsctl.engine import Batch, Engine
from dnsctl.process.state_store import FileStore, Keeper
from dnsctl.targets.memory import MemoryTarget
from tests.core.factories import PROFILE, T0, monitor, ok, profile, spec
from tests.reconcile.scripted import ScriptedProber
from tests.support.clock import ManualClock

ZONE = "privatelink.azurecr.io"


def azure_spec(*names: str) -> DnsctlSpec:
    return spec(
        *(
            profile(
                name=n,
                monitor_spec=monitor(fall=1, rise=1),
                azure=AzureRecordSpec("sub", "rg", ZONE, n),
            )
            for n in names
        )
    )


def on(endpoint: str, **kw: object) -> ProfileState:
    decision = Decision(DecisionKind.ENDPOINT, (endpoint,), "handed over", T0)
    return ProfileState(started_at=T0, routing=RoutingState(decision), **kw)  # type: ignore[arg-type]


async def test_the_resolver_answers_from_the_batch_it_is_handed_not_from_the_engine() -> None:
    s = spec(profile())
    engine = Engine(s, prober=ScriptedProber(), clock=ManualClock(T0))
    ctl = ServeController(engine)
    await ctl.publish(Batch({PROFILE: on("westeurope")}, full=True))
    answer = ctl.steering.get(s.profiles[0].fqdn)
    assert answer is not None
    assert [t.target for t in answer.targets] == [s.profiles[0].endpoint("westeurope").target]
    assert engine.states[PROFILE].decision is None, "the engine itself has decided nothing"


async def test_every_decision_of_one_pass_is_written_from_one_zone_read() -> None:
    names = ("alpha", "bravo", "charlie")
    s = azure_spec(*names)
    clock = ManualClock(T0)
    target = MemoryTarget()
    engine = Engine(s, prober=ScriptedProber(), clock=clock)
    ctl = RunController(engine, target)
    assert await ctl._read_stored()
    reads = target.reads
    outcome = engine.feed([ok(ep, T0, profile=n) for n in names for ep in ("eastus", "westeurope")])
    batch = Batch.of(outcome)
    assert batch.changed() == list(names)
    await ctl.publish(batch)
    assert target.reads == reads + 1, "one listing for the whole pass, not one per profile"
    written = {key[1]: recs[RecordType.CNAME].value.values for key, recs in target.records.items()}
    assert written == {n: (s.profile(n).endpoint("eastus").target,) for n in names}
    ctl.scheduler.shutdown()


def test_a_batch_asks_for_what_changed_and_a_full_one_for_everything() -> None:
    s = azure_spec("alpha", "bravo")
    engine = Engine(s, prober=ScriptedProber(), clock=ManualClock(T0))
    first = engine.feed([ok(ep, T0, profile="alpha") for ep in ("eastus", "westeurope")], profiles=["alpha"])
    batch = Batch.of(first)
    assert batch.changed() == ["alpha"] and batch.probed == {"alpha"} and not batch.full
    assert Batch.of(first, full=True).full
    steady = engine.feed(
        [ok(ep, T0 + 10, profile="alpha") for ep in ("eastus", "westeurope")], profiles=["alpha"]
    )
    assert Batch.of(steady).changed() == [] and Batch.of(steady).touched() == ["alpha"]


async def test_the_engine_reads_the_stored_state_in_one_place(tmp_path: Path) -> None:
    s = spec(profile())
    path = tmp_path / "state.json"
    drained = replace(on("westeurope"), overrides={"eastus": Override.DOWN})
    engine = Engine(s, prober=ScriptedProber(), clock=ManualClock(T0))
    FileStore(path, clock=engine.clock).save(s, {PROFILE: drained})
    loaded = engine.load(FileStore(path, clock=engine.clock))
    assert set(loaded.states) == {PROFILE}
    assert engine.states[PROFILE].overrides == {"eastus": Override.DOWN}
    assert engine.states[PROFILE].decision is not None
    assert engine.states[PROFILE].decision.endpoints == ("westeurope",)
    fresh = Engine(s, prober=ScriptedProber(), clock=ManualClock(T0))
    assert fresh.load(None).states == {} and fresh.states[PROFILE].decision is None


def test_a_failed_save_is_said_once_counted_each_time_and_cleared_by_a_success(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = spec(profile())
    blocking = tmp_path / "not-a-directory"
    blocking.write_text("a file where the state file's directory should be\n")
    counted: list[int] = []
    keeper = Keeper(
        FileStore(blocking / "state.json", clock=ManualClock(T0)), on_error=lambda: counted.append(1)
    )
    with caplog.at_level(logging.ERROR):
        first = keeper.save(s, {PROFILE: on("eastus")})
        second = keeper.save(s, {PROFILE: on("westeurope")})
    assert first is not None and "cannot save the health history" in str(first)
    assert second is not None and str(second) == str(first) == keeper.error
    assert len(counted) == 2
    assert [r.getMessage() for r in caplog.records].count(str(first)) == 1, "said once, not every round"
    blocking.unlink()
    blocking.mkdir()
    assert keeper.save(s, {PROFILE: on("westeurope")}) is None
    assert keeper.error is None
    assert Keeper(None).save(s, {PROFILE: on("eastus")}) is None


async def test_a_one_shot_reconcile_treats_a_failed_save_like_the_controllers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = azure_spec(PROFILE)
    (tmp_path / "not-a-directory").write_text("a file where the state file's directory should be\n")
    store = FileStore(tmp_path / "not-a-directory" / "state.json", clock=ManualClock(T0))
    engine = Engine(s, prober=ScriptedProber(), clock=ManualClock(T0))
    with caplog.at_level(logging.ERROR):
        report = await reconcile_once(engine, MemoryTarget(), store)
    assert report.errors and "saving the health history" in report.errors[0].message
    assert report.errors[0].message in [r.getMessage() for r in caplog.records], (
        "logged, as `run` and `serve` do"
    )
    assert report.results, "the records are still written"
