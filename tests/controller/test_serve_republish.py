"""`serve` republishes only what changed: a round with no change re-renders nothing, a failover of many
profiles installs their answers with one rebuild of the tables, and only a changed endpoint target is
handed to the table again."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dnsctl.controller.serve import ServeController
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.results import ProbeResult
from dnsctl.engine import Engine
from dnsctl.resolver import steering
from dnsctl.resolver.steering import SteeringTable
from tests.core.factories import T0, endpoint, fail, monitor, ok, profile, spec
from tests.reconcile.scripted import ScriptedProber
from tests.support.clock import ManualClock

N = 20
TWO = ("10.0.0.1", "10.0.0.2")


def fleet() -> DnsctlSpec:
    profiles = [
        profile(
            endpoint("eastus", 1, addresses=TWO if i == 0 else ("10.1.0.1",)),
            endpoint("westeurope", 2, addresses=("10.2.0.1",)),
            name=f"reg{i}",
            monitor_spec=monitor(fall=1, rise=1),
        )
        for i in range(N)
    ]
    return spec(*profiles)


def results(
    s: DnsctlSpec, now: float, *, east_down: bool = False, one_address_down: bool = False
) -> list[ProbeResult]:
    out = []
    for p in s.profiles:
        for ep in p.endpoints:
            for address in ep.addresses:
                down = (east_down and ep.name == "eastus") or (one_address_down and address == TWO[1])
                r = fail(ep.name, now, profile=p.name) if down else ok(ep.name, now, 0.01, p.name)
                out.append(replace(r, address=address))
    return out


class Counts:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rebuilds = self.renders = self.targets = 0
        rebuild, render, target = SteeringTable._rebuild, steering.render_steered, steering.target_answer

        def counted_rebuild(table: SteeringTable, view: str | None) -> None:
            if not getattr(table, "_deferring", 0):  # an install, not a deferred one
                self.rebuilds += 1
            rebuild(table, view)

        def counted_render(*args: Any) -> Any:
            self.renders += 1
            return render(*args)

        def counted_target(*args: Any) -> Any:
            self.targets += 1
            return target(*args)

        monkeypatch.setattr(SteeringTable, "_rebuild", counted_rebuild)
        monkeypatch.setattr(steering, "render_steered", counted_render)
        monkeypatch.setattr("dnsctl.controller.serve.target_answer", counted_target)

    def take(self) -> tuple[int, int, int]:
        got = (self.rebuilds, self.renders, self.targets)
        self.rebuilds = self.renders = self.targets = 0
        return got


async def test_serve_republishes_only_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    s = fleet()
    clock = ManualClock(T0)
    engine = Engine(s, prober=ScriptedProber(), clock=clock)
    ctl = ServeController(engine)
    ctl.restore({})
    counts = Counts(monkeypatch)
    await ctl.handle(engine.feed(results(s, T0)), full=True, tell=False)
    rebuilds, renders, _ = counts.take()
    assert rebuilds <= 2 and renders >= N  # every answer rendered, installed at once (not once per profile)

    await ctl.handle(engine.feed(results(s, T0 + 10)))
    # Nothing changed: nothing rendered or installed; only the endpoint with two addresses is looked at.
    assert counts.take() == (0, 0, 2)

    await ctl.handle(engine.feed(results(s, T0 + 20, one_address_down=True)))
    # One address of reg0's eastus is down: its target (and reg0's answer) changes, nothing else.
    rebuilds, renders, _ = counts.take()
    assert rebuilds == 1, rebuilds
    target = ctl.steering.target_answers()[s.profiles[0].endpoint("eastus").target.lower()]
    assert target.targets[0].addresses == TWO[:1]

    outcome = engine.feed(results(s, T0 + 30, east_down=True))
    assert len(outcome.changes) == N
    await ctl.handle(outcome)
    # Every profile fails over in one pass: N answers rendered, installed with one rebuild.
    rebuilds, renders, _ = counts.take()
    assert rebuilds == 1, rebuilds
    assert renders >= N
    for p in s.profiles:
        answer = ctl.steering.get(p.fqdn)
        assert answer is not None and [t.endpoint for t in answer.targets] == ["westeurope"]
