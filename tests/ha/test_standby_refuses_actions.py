"""An operator action sent to the standby is refused (503) and names the leader: the standby could not
save it and the leader would never hear of it, so a 200 there would mean nothing. Two `RunController`s
on one lease in Azurite, the standby's real admin API."""

from __future__ import annotations

import httpx

from dnsctl.clock import ManualClock
from dnsctl.controller.admin import AdminServer
from dnsctl.controller.run import RunController
from dnsctl.core.model import HostPort, Override
from dnsctl.engine import Engine
from dnsctl.targets.memory import MemoryTarget
from tests.faults.kit import eventually
from tests.ha.conftest import MakeLease
from tests.reconcile.scripted import ScriptedProber
from tests.state.test_run_restore import EAST, SPEC, record

TOKEN = "standby-admin-token"


async def test_a_drain_sent_to_the_standby_is_refused_and_names_the_leader(
    make_lease: MakeLease, blob_url: str
) -> None:
    target = MemoryTarget()
    lease = make_lease(blob_url)
    # Both controllers run in this process (one identity): the leader names itself distinctly.
    lease.holder = "leader-host-7 (admin 10.1.2.3:9153)"
    leader = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target, lease=lease)
    standby = RunController(Engine(SPEC, ScriptedProber(), ManualClock()), target, lease=make_lease(blob_url))
    await leader.start()
    await standby.start()
    admin = AdminServer(standby, HostPort("127.0.0.1", 0), token=TOKEN)
    await admin.start()
    try:
        await eventually(lambda: leader.ready()[0] and standby.ready()[0], 5, "both ready")
        await eventually(
            lambda: bool(target.records) and record(target).value.values == (EAST,), 5, "the first write"
        )
        writes = target.writes
        url = f"http://127.0.0.1:{admin.port}/v1/profiles/myregistry"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
            for path, action in (
                ("/endpoints/westeurope/drain", "drain"),
                ("/endpoints/eastus/undrain", "undrain"),
                ("/failback", "failback"),
            ):
                r = await client.post(url + path)
                assert r.status_code == 503, r.text
                error = r.json()["error"]
                assert "standby" in error and f"send the {action} there" in error, error
                assert "the leader is leader-host-7 (admin 10.1.2.3:9153)" in error, "named from the blob"
        assert standby.engine.states["myregistry"].overrides == {}, "nothing taken on the standby"
        assert leader.engine.states["myregistry"].overrides == {}
        assert target.writes == writes and record(target).value.values == (EAST,)

        # Sent to the leader, the same drain is taken and saved before the answer.
        message = await leader.drain("myregistry", "westeurope")
        assert "(saved)" in message, message
        assert target.writes == writes + 1, "one metadata write"
        assert record(target).value.values == (EAST,)
        assert leader.engine.states["myregistry"].overrides == {"westeurope": Override.DOWN}
    finally:
        await admin.stop()
        await standby.stop()
        await leader.stop()
