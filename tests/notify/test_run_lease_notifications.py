"""`run` with a lease: a standby's decisions are not notified (they are not the ones written); losing
the lease is."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.controller.run import RunController
from dnsctl.core.model import NotifySpec, WebhookSpec
from dnsctl.engine import Engine
from dnsctl.targets.memory import MemoryTarget
from tests.core.factories import fail, ok
from tests.reconcile.scripted import ScriptedProber
from tests.state.test_run_restore import SPEC
from tests.support.clock import ManualClock
from tests.support.webhook_receiver import WebhookReceiver


class ScriptedLease:
    kind = "scripted"
    identity = "test"
    renew_every = 3600.0
    errors = 0
    last_error = ""

    def __init__(self, held: bool) -> None:
        self._held = held
        self.next_renew = held

    def trouble(self) -> str | None:
        return None

    @property
    def held(self) -> bool:
        return self._held

    def held_now(self) -> bool:
        return self._held

    async def start(self) -> None:
        return None

    async def renew(self) -> bool:
        self._held = self.next_renew
        return self._held

    async def release(self) -> None:
        self._held = False


async def test_a_standby_keeps_quiet_and_a_lost_lease_is_notified() -> None:
    with WebhookReceiver() as receiver:
        spec = replace(SPEC, notify=NotifySpec(webhooks=(WebhookSpec(url=receiver.url()),), backoff=0.0))
        clock = ManualClock()
        lease = ScriptedLease(held=False)
        ctl = RunController(Engine(spec, ScriptedProber(), clock), MemoryTarget(), lease=lease)
        ctl.restore({})

        async def round(east: bool) -> None:
            now = clock.now()
            results = [
                ok("eastus", now) if east else fail("eastus", now),
                ok("westeurope", now),
            ]
            await ctl.handle(ctl.engine.feed(results))
            clock.advance(1)

        await round(True)
        await round(False)  # a failover, decided by a standby
        assert ctl.engine.states["myregistry"].history[-1].kind == "failover"

        lease._held = True  # leader now
        lease.next_renew = False
        await ctl._lease_tick()  # the renew fails: the lease is lost
        assert ctl.notifier is not None
        await ctl.close_notifications()
        assert [b["event"] for b in receiver.bodies()] == ["lease-lost"]
        assert receiver.bodies()[0]["message"] == "lost the lease: this replica stops writing DNS"
