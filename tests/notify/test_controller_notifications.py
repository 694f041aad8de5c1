"""The controller's one outcome path tells the webhooks: a failover and a failback once each, the
isolation guard when it freezes and when it resumes; the first decision and steady rounds say nothing."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.controller.base import ControllerBase
from dnsctl.core.model import NotifySpec, WebhookSpec
from dnsctl.engine import Batch, Engine
from tests.core.factories import fail, ok, profile, spec
from tests.support.clock import ManualClock
from tests.support.webhook_receiver import WebhookReceiver


class Quiet(ControllerBase):
    async def publish(self, batch: Batch) -> None:
        return None


async def test_failover_failback_and_isolation_are_each_notified_once() -> None:
    with WebhookReceiver() as receiver:
        s = replace(
            spec(profile(failback_hold=0.0)),
            notify=NotifySpec(webhooks=(WebhookSpec(url=receiver.url()),), backoff=0.0),
        )
        clock = ManualClock()
        engine = Engine(s, prober=None, clock=clock)  # type: ignore[arg-type]  # fed results directly
        ctl = Quiet(engine)
        ctl.restore({})

        async def round(east: str, west: str) -> None:
            now = clock.now()
            results = [
                (ok if up == "ok" else fail)(name, now)  # type: ignore[operator]
                for name, up in (("eastus", east), ("westeurope", west))
            ]
            await ctl.handle(engine.feed(results))
            clock.advance(10)

        for east, west in [("ok", "ok")] * 2 + [("ko", "ok")] * 4 + [("ok", "ok")] * 4:
            await round(east, west)
        for _ in range(2):
            await round("ko", "ko")  # every probe unanswered: the isolation guard freezes
        await round("ok", "ok")  # and resumes
        assert ctl.notifier is not None
        await ctl.close_notifications()
        got = [(b["event"], b["from"], b["to"]) for b in receiver.bodies()]
        assert got == [
            ("failover", "eastus", "westeurope"),
            ("failback", "westeurope", "eastus"),
            ("isolation", None, "frozen"),
            ("isolation", None, "resumed"),
        ]
