"""Restarts on a manual clock: the engine restored from a store keeps drains, manual failback and a
running failback_hold exactly, and a restart without history never flips DNS. Nothing sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsctl.core.model import DnsctlSpec, EndpointSpec, Failback, MonitorSpec, Override, ProfileSpec
from dnsctl.core.plan import MANAGED_BY, PROFILE_KEY, Published, ReadRecord, RecordValue
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.engine import Engine
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import FileStore, MetadataStore, StateStore
from tests.reconcile.scripted import ScriptedProber
from tests.support.clock import ManualClock

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
HOLD = 300.0


def make_spec(failback: Failback = Failback.AUTO) -> DnsctlSpec:
    return DnsctlSpec(
        profiles=(
            ProfileSpec(
                name="myregistry",
                fqdn="myregistry.azurecr.io",
                endpoints=(EndpointSpec("eastus", EAST, 1), EndpointSpec("westeurope", WEST, 2)),
                monitor=MonitorSpec(fall=1, rise=1, interval=10, timeout=5),
                failback=failback,
                failback_hold=HOLD,
                azure=AzureRecordSpec("sub", "rg", "privatelink.azurecr.io", "myregistry"),
            ),
        )
    )


class Process:
    """One dnsctl process: an engine on the shared clock, started from what `store` holds."""

    def __init__(
        self, spec: DnsctlSpec, clock: ManualClock, prober: ScriptedProber, store: StateStore
    ) -> None:
        self.spec, self.store = spec, store
        self.engine = Engine(spec, prober, clock)
        self.engine.restore(store.load(spec, {}).states)

    async def round(self) -> str:
        outcome = await self.engine.round()
        self.store.save(self.spec, outcome.states)
        d = self.engine.states["myregistry"].decision
        assert d is not None
        return d.endpoints[0]

    def reason(self) -> str:
        d = self.engine.states["myregistry"].decision
        assert d is not None
        return d.reason


class MetadataRoundTrip:
    """The metadata store, with the record as the place the history travels (as `run` uses it)."""

    def __init__(self) -> None:
        self.inner = MetadataStore()
        self.record: Published | None = None

    def load(self, spec: DnsctlSpec, published: object) -> object:
        return self.inner.load(spec, {"myregistry": self.record} if self.record else {})

    def save(self, spec: DnsctlSpec, states: dict[str, object]) -> None:
        p = spec.profiles[0]
        text = self.inner.record_state(p, states["myregistry"])  # type: ignore[arg-type]
        assert text is not None
        md = {MANAGED_BY: "dnsctl", PROFILE_KEY: "myregistry", "dnsctl-state": text}
        value = RecordValue(RecordType.CNAME, (EAST,), 30)
        self.record = Published(
            "privatelink.azurecr.io/myregistry", {RecordType.CNAME: ReadRecord(value, "e", md)}
        )

    def record_state(self, profile: object, st: object) -> None:
        return None

    def describe(self) -> dict[str, object]:
        return {}


def stores(tmp_path: Path) -> dict[str, StateStore]:
    return {
        "file": FileStore(tmp_path / "state.json", clock=SystemClock()),
        "metadata": MetadataRoundTrip(),  # type: ignore[dict-item]
    }


@pytest.mark.parametrize("where", ["file", "metadata"])
async def test_a_running_failback_hold_continues_across_a_restart(tmp_path: Path, where: str) -> None:
    spec, clock, prober = make_spec(), ManualClock(), ScriptedProber()
    store = stores(tmp_path)[where]
    first = Process(spec, clock, prober, store)
    assert await first.round() == "eastus"
    prober.down.add("eastus")
    clock.advance(10)
    assert await first.round() == "westeurope"
    prober.down.clear()
    clock.advance(10)
    assert await first.round() == "westeurope"  # eastus Online again: the hold starts now
    clock.advance(100)
    assert await first.round() == "westeurope"

    clock.advance(50)  # down for 50 s, then a new process from the stored state
    second = Process(spec, clock, prober, store)
    assert await second.round() == "westeurope"
    assert "failback to it in 150s" in second.reason(), "the hold goes on from where it was"
    clock.advance(149)
    assert await second.round() == "westeurope"
    clock.advance(1)
    assert await second.round() == "eastus"


@pytest.mark.parametrize("where", ["file", "metadata"])
async def test_a_drain_and_a_manual_failback_survive_restarts(tmp_path: Path, where: str) -> None:
    spec, clock, prober = make_spec(Failback.MANUAL), ManualClock(), ScriptedProber()
    store = stores(tmp_path)[where]
    first = Process(spec, clock, prober, store)
    assert await first.round() == "eastus"
    first.engine.set_override("myregistry", "eastus", Override.DOWN)
    store.save(spec, first.engine.snapshot())

    second = Process(spec, clock, prober, store)
    assert second.engine.states["myregistry"].overrides == {"eastus": Override.DOWN}
    for _ in range(3):
        clock.advance(10)
        assert await second.round() == "westeurope"
    second.engine.set_override("myregistry", "eastus", None)  # undrained: failback is manual
    store.save(spec, second.engine.snapshot())
    clock.advance(HOLD * 2)

    third = Process(spec, clock, prober, store)
    for _ in range(3):
        clock.advance(10)
        assert await third.round() == "westeurope"
    assert "failback is manual" in third.reason()
    third.engine.request_failback("myregistry")
    assert third.engine.states["myregistry"].decision.endpoints == ("eastus",)  # type: ignore[union-attr]


async def test_a_restart_without_history_never_flips_and_the_hold_starts_over() -> None:
    spec, clock, prober = make_spec(), ManualClock(), ScriptedProber()
    engine = Engine(spec, prober, clock)
    published = {
        "myregistry": Published(
            "privatelink.azurecr.io/myregistry",
            {
                RecordType.CNAME: ReadRecord(
                    RecordValue(RecordType.CNAME, (WEST,), 30),
                    "e",
                    {MANAGED_BY: "dnsctl", PROFILE_KEY: "myregistry"},
                )
            },
        )
    }
    engine.restore({}, published)
    await engine.round()
    d = engine.states["myregistry"].decision
    assert d is not None and d.endpoints == ("westeurope",)
    clock.advance(HOLD - 1)
    await engine.round()
    assert engine.states["myregistry"].decision.endpoints == ("westeurope",)  # type: ignore[union-attr]
    clock.advance(1)
    await engine.round()
    assert engine.states["myregistry"].decision.endpoints == ("eastus",)  # type: ignore[union-attr]


def test_nobody_assigns_the_engine_state_from_outside() -> None:
    engine = Engine(make_spec(), ScriptedProber(), ManualClock())
    with pytest.raises(AttributeError):
        engine.states = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine.states["myregistry"] = engine.states["myregistry"]  # type: ignore[index]
    snap = engine.snapshot()
    snap.clear()
    assert set(engine.states) == {"myregistry"}
