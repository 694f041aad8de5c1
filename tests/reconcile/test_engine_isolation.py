"""The engine's side of the isolation guard: a round where nothing answered looks at every profile again,
and at the canaries, before the core judges anyone."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dnsctl.core.decision import DecisionKind
from dnsctl.core.model import (
    CanarySpec,
    DnsctlSpec,
    EndpointSpec,
    IsolationGuardSpec,
    MonitorSpec,
    ProfileSpec,
    WhenAllDown,
)
from dnsctl.engine import Engine
from tests.support.clock import ManualClock

from .scripted import ScriptedProber


@pytest.fixture
def listening() -> Iterator[int]:
    """A TCP canary on loopback that accepts connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def spec(*canaries: CanarySpec) -> DnsctlSpec:
    profiles = tuple(
        ProfileSpec(
            name=name,
            fqdn=f"{name}.azurecr.io",
            endpoints=(
                EndpointSpec("eastus", f"{name}.eastus.example", 1),
                EndpointSpec("westeurope", f"{name}.westeurope.example", 2),
            ),
            monitor=MonitorSpec(fall=1, rise=1, interval=2, timeout=1),
            when_all_down=WhenAllDown.FALLBACK,
            fallback=f"{name}-dr.example",
        )
        for name in ("myregistry", "other")
    )
    return DnsctlSpec(profiles=profiles, isolation_guard=IsolationGuardSpec(canaries=canaries))


async def test_a_silent_round_probes_every_profile_again_then_freezes() -> None:
    prober = ScriptedProber()
    engine = Engine(spec(), prober, ManualClock())
    await engine.round()
    prober.silent.update({"eastus", "westeurope"})
    prober.calls = 0
    out = await engine.round(["myregistry"])
    assert prober.calls == 2 + 4, "its own two probes, then all four again at one moment"
    assert out.isolated
    for name in ("myregistry", "other"):
        d = engine.states[name].decision
        assert d is not None and d.kind is DecisionKind.FROZEN


async def test_a_canary_that_answers_lets_every_profile_fail_over(listening: int) -> None:
    prober = ScriptedProber()
    engine = Engine(spec(CanarySpec("127.0.0.1", listening)), prober, ManualClock())
    await engine.round()
    prober.silent.update({"eastus", "westeurope"})
    out = await engine.round(["myregistry"])
    assert not out.isolated
    for name in ("myregistry", "other"):
        d = engine.states[name].decision
        assert d is not None and d.fallback == f"{name}-dr.example"


async def test_a_round_with_an_answer_costs_no_extra_probe() -> None:
    prober = ScriptedProber()
    engine = Engine(spec(), prober, ManualClock())
    await engine.round()
    prober.silent.add("eastus")
    prober.calls = 0
    out = await engine.round(["myregistry"])
    assert prober.calls == 2 and not out.isolated
