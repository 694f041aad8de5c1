"""`RunController` in-process against the in-memory target: nothing is written before the stored state is
read, a stored drain survives a read outage at start, and a hand edit is reported as drift before it is
put back, also right after a restart. The controller runs on a manual clock (run-through): the tests
wait for turns of the event loop, never for real time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import pytest

from dnsctl.controller.run import RunController
from dnsctl.core import codec
from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.model import DnsctlSpec, EndpointSpec, IsolationGuardSpec, MonitorSpec, Override, ProfileSpec
from dnsctl.core.plan import MANAGED_BY, PROFILE_KEY, STATE_KEY, Published, ReadRecord, RecordValue
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.state import ProfileState
from dnsctl.engine import Engine
from dnsctl.errors import OperatorError, TargetError
from dnsctl.targets.memory import MemoryTarget
from tests.reconcile.scripted import ScriptedProber
from tests.support.clock import ManualClock
from tests.support.json_at import json_at, json_obj
from tests.support.waits import turns_until

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
KEY = ("privatelink.azurecr.io", "myregistry")
SPEC = DnsctlSpec(
    profiles=(
        ProfileSpec(
            name="myregistry",
            fqdn="myregistry.azurecr.io",
            endpoints=(EndpointSpec("eastus", EAST, 1), EndpointSpec("westeurope", WEST, 2)),
            monitor=MonitorSpec(fall=1, rise=1, interval=0.2, timeout=0.1),
            failback_hold=0,
            azure=AzureRecordSpec("sub", "rg", "privatelink.azurecr.io", "myregistry"),
        ),
    ),
    isolation_guard=IsolationGuardSpec(enabled=False),
    resync_interval=3600,
)
PROFILE = SPEC.profiles[0]


class OutageTarget(MemoryTarget):
    """The in-memory target whose reads fail (like ARM answering 500) while `outage` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.outage = False
        self.failed_reads = 0

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        if self.outage:
            self.failed_reads += 1
            await asyncio.sleep(0)  # a failing call gives the loop a turn, as a real one would
            raise TargetError("reading zone privatelink.azurecr.io failed: HTTP 500: injected")
        return await super().read(profiles)


def stored(value: str, state: ProfileState) -> ReadRecord:
    md = {MANAGED_BY: "dnsctl", PROFILE_KEY: "myregistry", STATE_KEY: codec.encode(PROFILE, state)}
    return ReadRecord(RecordValue(RecordType.CNAME, (value,), 30), None, md)


def state_on(endpoint: str, **kw: object) -> ProfileState:
    decision = Decision(DecisionKind.ENDPOINT, (endpoint,), "stored", 1_699_999_000.0)
    return ProfileState(started_at=1_699_999_000.0, routing=RoutingState(decision), **kw)  # type: ignore[arg-type]


def record(target: MemoryTarget) -> ReadRecord:
    return target.records[KEY][RecordType.CNAME]


def sample(ctl: RunController, name: str, labels: dict[str, str] | None = None) -> float | None:
    return ctl.registry.get_sample_value(name, labels or {})


async def test_a_read_outage_at_start_writes_nothing_and_the_stored_drain_holds() -> None:
    target = OutageTarget()
    drained = state_on("westeurope", overrides={"eastus": Override.DOWN})
    target.put(KEY, RecordType.CNAME, stored(WEST, drained))
    target.outage = True
    prober = ScriptedProber()  # both replicas answer: only the drain keeps eastus out
    ctl = RunController(Engine(SPEC, prober, ManualClock()), target)
    await ctl.start()
    try:
        # The controller counts a failed read after the target has answered it: wait for its count.
        await turns_until(
            lambda: (sample(ctl, "dnsctl_state_read_errors_total") or 0) >= 5,
            5,
            "the read to be tried again and again",
        )
        assert target.failed_reads >= 5
        ready, why = ctl.ready()
        assert not ready and "stored state not read yet" in why and "HTTP 500" in why
        assert sample(ctl, "dnsctl_ready") == 0 and sample(ctl, "dnsctl_state_read") == 0
        assert (sample(ctl, "dnsctl_state_read_errors_total") or 0) >= 5
        assert json_at(ctl.status(), "state", "read") is False and ctl.alive()
        with pytest.raises(OperatorError, match="not yet"):
            await ctl.drain("myregistry", "westeurope")
        assert prober.calls == 0, "no probe before there is a state to feed"
        assert target.writes == 0

        target.outage = False
        await turns_until(lambda: ctl.ready()[0], 5, "readiness once the records are read")
        assert sample(ctl, "dnsctl_ready") == 1 and sample(ctl, "dnsctl_state_read") == 1
        await turns_until(lambda: ctl.scheduler.rounds >= 3, 5, "three probe rounds")
        await ctl.resync()
        assert record(target).value.values == (WEST,), "the drained endpoint never comes back by itself"
        st = codec.decode(PROFILE, (record(target).metadata or {})[STATE_KEY]).state
        assert st.overrides == {"eastus": Override.DOWN}
        assert ctl.engine.states["myregistry"].overrides == {"eastus": Override.DOWN}
    finally:
        await ctl.stop()


async def test_a_hand_edit_after_a_restart_is_reported_as_drift_before_it_is_put_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = OutageTarget()
    target.put(KEY, RecordType.CNAME, stored(EAST, state_on("eastus")))
    ctl = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target)
    await ctl.start()
    try:
        await turns_until(lambda: ctl.ready()[0], 5, "readiness")
        writes = target.writes
        current = record(target)
        target.put(
            KEY,
            RecordType.CNAME,
            ReadRecord(RecordValue(RecordType.CNAME, ("manual.example.com",), 30), None, current.metadata),
        )
        caplog.clear()
        with caplog.at_level(logging.INFO):
            await ctl.resync()
        assert record(target).value.values == (EAST,) and target.writes == writes + 1
        lines = [r.getMessage() for r in caplog.records]
        drift = next(
            i for i, m in enumerate(lines) if m.startswith("drift: privatelink.azurecr.io/myregistry")
        )
        put_back = next(i for i, m in enumerate(lines) if m.startswith("dns change:"))
        assert drift < put_back, lines
        assert "CNAME manual.example.com ttl 30" in lines[drift] and EAST in lines[drift]
        assert sample(ctl, "dnsctl_drift_detected_total", {"profile": "myregistry", "owned": "true"}) == 1
        doc = json_obj(ctl.status(), "profiles", 0, "drift")
        assert doc["found"] == "CNAME manual.example.com ttl 30" and doc["expected"] == f"CNAME {EAST} ttl 30"
        await ctl.resync()  # put back: no more drift
        assert sample(ctl, "dnsctl_drift_detected_total", {"profile": "myregistry", "owned": "true"}) == 1
    finally:
        await ctl.stop()


async def test_an_edit_made_while_dnsctl_was_down_is_drift_against_the_stored_decision() -> None:
    target = OutageTarget()
    # The stored decision (written with the value) says eastus; the value says otherwise.
    target.put(KEY, RecordType.CNAME, stored("manual.example.com", state_on("eastus")))
    ctl = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target)
    await ctl.start()
    try:
        assert sample(ctl, "dnsctl_drift_detected_total", {"profile": "myregistry", "owned": "true"}) == 1
        assert json_at(ctl.status(), "profiles", 0, "drift", "found") == "CNAME manual.example.com ttl 30"
        await ctl.resync()
        assert record(target).value.values == (EAST,)
    finally:
        await ctl.stop()


async def test_a_failover_write_is_no_drift() -> None:
    target = OutageTarget()
    target.put(KEY, RecordType.CNAME, stored(EAST, state_on("eastus")))
    prober = ScriptedProber()
    ctl = RunController(Engine(SPEC, prober, ManualClock()), target)
    await ctl.start()
    try:
        prober.down.add("eastus")
        await turns_until(lambda: record(target).value.values == (WEST,), 5, "the failover")
        await ctl.resync()
        assert sample(ctl, "dnsctl_drift_detected_total", {"profile": "myregistry", "owned": "true"}) is None
    finally:
        await ctl.stop()
