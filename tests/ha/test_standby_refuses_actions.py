"""An operator action sent to the standby is refused (503) and names the leader: the standby could not
save it and the leader would never hear of it, so a 200 there would mean nothing. Two `RunController`s
on one lease in Azurite, the standby's real admin API."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from dnsctl.controller.admin import AdminServer
from dnsctl.controller.run import RunController
from dnsctl.core.model import HostPort, Override
from dnsctl.documents.jsonable import to_object
from dnsctl.engine import Engine
from dnsctl.targets.memory import MemoryTarget
from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.e2e.harness import writes as emulator_writes
from tests.faults.conftest import emulator, replicas  # noqa: F401  (the same fixtures, shared)
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, eventually, profile, target
from tests.ha.azurite import Azurite
from tests.ha.conftest import MakeLease
from tests.reconcile.scripted import ScriptedProber
from tests.state.test_run_restore import EAST, SPEC, record
from tests.support.clock import ManualClock

TOKEN = "standby-admin-token"
NAME = "myregistry"


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
    admin = AdminServer(standby, HostPort("127.0.0.1", 0), token=TOKEN, clock=standby.clock)
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


def test_two_dnsctl_run_processes_the_standby_refuses_a_drain_and_names_the_leaders_admin_address(
    tmp_path: Path,
    emulator: WatchedEmulator,  # noqa: F811  (the fixture imported above)
    replicas: Replicas,  # noqa: F811
    azurite: Azurite,
    blob_url: str,
) -> None:
    """Real processes: `dnsctl run` twice on one Azurite lease, the emulator, live replicas."""
    ports = [free_port(), free_port()]
    daemons: list[Daemon] = []
    try:
        for i, port in enumerate(ports):
            cfg = config(
                tmp_path / f"run{i}.yaml",
                emulator,
                [profile(NAME, replicas, fall=1)],
                admin={"listen": f"127.0.0.1:{port}"},
                ha={"lease": "azure-blob", "blob_url": blob_url, "lease_duration": "15s"},
            )
            d = Daemon(
                "run",
                "-c",
                str(cfg),
                admin_port=port,
                env={"DNSCTL_ADMIN_TOKEN": TOKEN, "DNSCTL_HA_CONNECTION_STRING": azurite.connection_string},
                log=tmp_path / f"run{i}.log",
            ).start()
            daemons.append(d)
            d.wait_until(lambda d=d: d.get("/readyz").status_code == 200, 30, f"replica {i} ready")
        leader, standby = daemons
        assert leader.status()["leadership"]["held"] is True
        assert to_object(standby.status())["leadership"]["held"] is False
        leader.wait_until(
            lambda: cname(emulator, NAME) == target(NAME, "eastus"), 15, "the leader's first write"
        )
        writes = len(emulator_writes(emulator))

        r = standby.post(f"/v1/profiles/{NAME}/endpoints/westeurope/drain", token=TOKEN)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert "is a standby" in error and "send the drain there" in error, error
        assert leader.proc is not None
        assert f"the leader is {socket.gethostname()}-{leader.proc.pid} (admin 127.0.0.1:{ports[0]})" in error
        assert to_object(standby.status())["profiles"][0]["overrides"] == {}
        assert leader.status()["profiles"][0]["overrides"] == {}
        assert len(emulator_writes(emulator)) == writes and cname(emulator, NAME) == target(NAME, "eastus")
        assert "Traceback" not in standby.log()

        r = leader.post(f"/v1/profiles/{NAME}/endpoints/westeurope/drain", token=TOKEN)
        assert r.status_code == 200 and "(saved)" in r.text, r.text
    finally:
        for d in daemons:
            d.kill()
