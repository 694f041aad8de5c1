"""Registry-deep health against registry stand-ins on loopback: throttling (and the data path, lag below)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    IsolationGuardSpec,
    MonitorProtocol,
    MonitorSpec,
    ProfileSpec,
    RegistryProbeSpec,
)
from dnsctl.core.results import FailureReason
from dnsctl.engine import Engine
from dnsctl.probes.registry import RegistryProber
from dnsctl.process.clock import ManualClock
from tests.support.registry import RegistryPki
from tests.support.scripted_registry import ScriptedRegistry

EAST, WEST = "127.0.0.71", "127.0.0.72"
TARGETS = {"eastus": "myregistry.eastus.geo.azurecr.io", "westeurope": "myregistry.westeurope.geo.azurecr.io"}


class Replicas:
    def __init__(self, pki: RegistryPki) -> None:
        self.pki = pki
        ctx = pki.server_context(*TARGETS.values())
        # One port for both (the monitor has one port): the second binds the port the first got.
        self.east = ScriptedRegistry(EAST, tls=ctx).start()
        self.west = ScriptedRegistry(WEST, tls=ctx, port=self.east.port).start()
        for server, name in ((self.east, "eastus"), (self.west, "westeurope")):
            server.realm = lambda _n, name=name: f"https://{TARGETS[name]}:{self.east.port}/oauth2/token"

    def stop(self) -> None:
        self.east.stop()
        self.west.stop()

    def profile(self, **monitor: object) -> ProfileSpec:
        m = MonitorSpec(
            protocol=MonitorProtocol.REGISTRY,
            port=self.east.port,
            interval=10.0,
            timeout=5.0,
            ca_file=self.pki.ca_file,
            fall=3,
            rise=1,
            registry=RegistryProbeSpec("app", "1"),
            **monitor,  # type: ignore[arg-type]
        )
        endpoints = (
            EndpointSpec("eastus", TARGETS["eastus"], 1, addresses=(EAST,)),
            EndpointSpec("westeurope", TARGETS["westeurope"], 2, addresses=(WEST,)),
        )
        return ProfileSpec(name="myregistry", fqdn="myregistry.azurecr.io", endpoints=endpoints, monitor=m)


@pytest.fixture
def replicas(pki: RegistryPki) -> Iterator[Replicas]:
    r = Replicas(pki)
    try:
        yield r
    finally:
        r.stop()


@pytest.mark.parametrize("status", [429, 503])
async def test_a_throttling_replica_is_a_throttled_failure(replicas: Replicas, status: int) -> None:
    replicas.east.throttle = status
    p = replicas.profile()
    r = await RegistryProber().probe(p, p.endpoints[0], 0.0)
    assert not r.ok and r.reason is FailureReason.THROTTLED, r
    assert r.status_code == status and "Retry-After 1" in r.detail
    assert not r.says_nothing


async def test_a_503_without_retry_after_is_not_throttling(replicas: Replicas) -> None:
    replicas.east.throttle = 503
    replicas.east.throttle_retry_after = None
    p = replicas.profile()
    r = await RegistryProber().probe(p, p.endpoints[0], 0.0)
    assert not r.ok and r.reason is FailureReason.HTTP_STATUS, r


async def test_a_replica_answering_429_for_throttled_fall_rounds_is_failed_over(replicas: Replicas) -> None:
    p = replicas.profile(throttled_fall=2)
    engine = Engine(
        DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(True)), RegistryProber(), ManualClock()
    )
    await engine.round()
    assert engine.states["myregistry"].decision is not None
    assert engine.states["myregistry"].decision.primary == "eastus"
    replicas.east.throttle = 429
    first = await engine.round()
    assert engine.states["myregistry"].endpoints["eastus"].status is MonitorStatus.ONLINE
    second = await engine.round()
    st = engine.states["myregistry"]
    assert st.endpoints["eastus"].status is MonitorStatus.THROTTLED
    assert st.decision is not None and st.decision.primary == "westeurope"
    assert "eastus Throttled" in st.decision.reason
    assert not first.isolated and not second.isolated


async def test_every_replica_throttling_is_not_the_isolation_guard(replicas: Replicas) -> None:
    p = replicas.profile(throttled_fall=1)
    engine = Engine(
        DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(True)), RegistryProber(), ManualClock()
    )
    await engine.round()
    replicas.east.throttle = replicas.west.throttle = 429
    out = await engine.round()
    assert not out.isolated
    st = engine.states["myregistry"]
    assert {n: h.status for n, h in st.endpoints.items()} == {
        "eastus": MonitorStatus.THROTTLED,
        "westeurope": MonitorStatus.THROTTLED,
    }
