"""A standby that takes the lease over reads the stored state first: the previous holder's drain holds,
even though the standby's own warm state never heard of it."""

from __future__ import annotations

from dnsctl.controller.run import RunController
from dnsctl.core.model import Override
from dnsctl.engine import Engine
from dnsctl.targets.memory import MemoryTarget
from tests.faults.kit import eventually
from tests.ha.conftest import MakeLease
from tests.reconcile.scripted import ScriptedProber
from tests.state.test_run_restore import EAST, SPEC, WEST, record
from tests.support.clock import ManualClock


async def test_a_standby_taking_over_keeps_the_previous_holders_drain(
    make_lease: MakeLease, blob_url: str
) -> None:
    target = MemoryTarget()
    first = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target, lease=make_lease(blob_url))
    second = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target, lease=make_lease(blob_url))
    await first.start()
    await second.start()
    try:
        await eventually(lambda: first.ready()[0] and second.ready()[0], 5, "both ready")
        await eventually(
            lambda: bool(target.records) and record(target).value.values == (EAST,), 5, "the first write"
        )
        await first.drain("myregistry", "eastus")
        assert record(target).value.values == (WEST,)
        assert second.engine.states["myregistry"].overrides == {}, "the standby's own state knows nothing"

        await first.stop()
        await second._lease_tick()  # what its scheduler does every renew_every seconds
        assert second.lease.held_now()
        assert second.engine.states["myregistry"].overrides == {"eastus": Override.DOWN}
        await eventually(lambda: second.scheduler.rounds >= 3, 5, "probe rounds on the new holder")
        await second.resync()
        assert record(target).value.values == (WEST,)
    finally:
        await second.stop()
