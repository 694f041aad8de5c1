"""probe_round and make_prober: concurrency, order, dispatch by protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from enum import StrEnum
from typing import cast

import pytest

from dnsctl.compose import PROBE_KINDS, make_prober
from dnsctl.core.model import EndpointSpec, MonitorProtocol, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes import probe_round
from dnsctl.process.clock import SystemClock
from tests.probes.builders import endpoint, profile
from tests.support.registry import RegistryServer


class GatedProber:
    """Holds every probe until `release` probes are in flight, then finishes them in reverse order."""

    def __init__(self, release: int) -> None:
        self.release = release
        self.in_flight = 0
        self.most_in_flight = 0
        self.started: list[str] = []
        self._all_in = asyncio.Event()
        self._turns: dict[str, asyncio.Event] = {}

    async def probe(self, profile: ProfileSpec, endpoint: EndpointSpec, now: float) -> ProbeResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.append(endpoint.name)
        turn = self._turns[endpoint.name] = asyncio.Event()
        if len(self.started) % self.release == 0:
            self._all_in.set()
            # Finish this batch last-started first, so completion order is the reverse of work order.
            for name in reversed(self.started[-self.release :]):
                self._turns[name].set()
                await asyncio.sleep(0)
        await self._all_in.wait()
        await turn.wait()
        self.in_flight -= 1
        if len(self.started) % self.release == 0 and self.in_flight == 0:
            self._all_in.clear()
        return ProbeResult(profile.name, endpoint.name, now, True, 0.0, endpoint.target)


def _work(n: int) -> list[tuple[ProfileSpec, EndpointSpec]]:
    p = profile(443)
    return [(p, endpoint(name=f"e{i}")) for i in range(n)]


async def test_probes_run_concurrently_up_to_the_limit_and_keep_work_order() -> None:
    prober = GatedProber(release=4)
    async with asyncio.timeout(5):  # a round that ran probes one by one would never release the gate
        results = await probe_round(prober, _work(8), now=7.0, concurrency=4)
    assert [r.endpoint for r in results] == [f"e{i}" for i in range(8)]
    assert prober.most_in_flight == 4
    assert all(r.at == 7.0 for r in results)


async def test_empty_round_and_bad_concurrency() -> None:
    assert await probe_round(make_prober(clock=SystemClock()), [], now=0.0) == []
    with pytest.raises(ValueError):
        await probe_round(make_prober(clock=SystemClock()), _work(1), now=0.0, concurrency=0)


class RaisingProber:
    async def probe(self, profile: ProfileSpec, endpoint: EndpointSpec, now: float) -> ProbeResult:
        if endpoint.name == "e1":
            raise RuntimeError("bug")
        return ProbeResult(profile.name, endpoint.name, now, True, 0.0, endpoint.target)


async def test_a_prober_that_raises_fails_only_its_endpoint() -> None:
    results = await probe_round(RaisingProber(), _work(3), now=0.0)
    assert [(r.endpoint, r.ok, r.reason) for r in results] == [
        ("e0", True, None),
        ("e1", False, FailureReason.ERROR),
        ("e2", True, None),
    ]


@pytest.fixture
def fleet() -> Iterator[list[RegistryServer]]:
    servers = [RegistryServer(f"127.0.0.{i}").start() for i in (2, 3, 4)]
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()


async def test_round_over_real_servers_dispatches_by_protocol(fleet: list[RegistryServer]) -> None:
    healthy, unavailable, stopped = fleet
    unavailable.set_behaviour("503")
    stopped.set_behaviour("stopped")
    work = []
    for server in fleet:
        ep = endpoint(server.host, name=server.host)
        work += [(profile(server.port, "http"), ep), (profile(server.port, "tcp"), ep)]
    prober = make_prober(clock=SystemClock())
    try:
        results = await probe_round(prober, work, now=1.0, concurrency=2)
    finally:
        await prober.aclose()
    assert [(r.endpoint, r.reason, r.status_code) for r in results] == [
        ("127.0.0.2", None, 401),
        ("127.0.0.2", None, None),  # tcp: connected, no HTTP
        ("127.0.0.3", FailureReason.HTTP_STATUS, 503),
        ("127.0.0.3", None, None),
        ("127.0.0.4", FailureReason.REFUSED, None),
        ("127.0.0.4", FailureReason.REFUSED, None),
    ]
    assert len(healthy.requests) == 1 and len(unavailable.requests) == 1


class EchoKind(StrEnum):
    """A probe kind that exists only in this test."""

    ECHO = "echo"


class EchoProber:
    """The test kind's prober: every probe passes, and says which protocol it was asked for."""

    def __init__(self) -> None:
        self.closed = 0

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        return ProbeResult(
            profile.name,
            endpoint.name,
            now,
            True,
            0.0,
            address or endpoint.target,
            detail=f"echo {profile.monitor.protocol}",
        )

    async def aclose(self) -> None:
        self.closed += 1


def _with_protocol(p: ProfileSpec, protocol: str) -> ProfileSpec:
    return replace(p, monitor=replace(p.monitor, protocol=cast(MonitorProtocol, protocol)))


async def test_a_probe_kind_registered_from_a_test_is_dispatched_beside_the_built_in_ones(
    fleet: list[RegistryServer],
) -> None:
    healthy = fleet[0]
    echo = EchoProber()
    # The whole registration: one entry in the kinds the composition root builds probers from.
    prober = make_prober(clock=SystemClock(), kinds={**PROBE_KINDS, EchoKind.ECHO: lambda setup: echo})
    ep = endpoint(healthy.host, name=healthy.host)
    work = [
        (_with_protocol(profile(healthy.port, "http"), EchoKind.ECHO), ep),
        (profile(healthy.port, "http"), ep),
        (profile(healthy.port, "tcp"), ep),
    ]
    try:
        results = await probe_round(prober, work, now=1.0)
    finally:
        await prober.aclose()
    assert [(r.ok, r.status_code, r.detail) for r in results] == [
        (True, None, "echo echo"),
        (True, 401, ""),
        (True, None, ""),
    ]
    assert len(healthy.requests) == 1  # the echo probe sent nothing
    assert echo.closed == 1


async def test_a_protocol_without_a_prober_fails_its_probe_without_raising() -> None:
    prober = make_prober(clock=SystemClock(), kinds={MonitorProtocol.TCP: PROBE_KINDS[MonitorProtocol.TCP]})
    (result,) = await probe_round(prober, [(profile(9, "https"), endpoint())], now=2.0)
    assert (result.ok, result.reason, result.detail) == (
        False,
        FailureReason.ERROR,
        "no prober for protocol https",
    )
    assert result.at == 2.0


async def test_https_and_http_share_one_prober() -> None:
    built: list[object] = []

    def factory(setup: object) -> EchoProber:
        built.append(setup)
        return EchoProber()

    make_prober(clock=SystemClock(), kinds={MonitorProtocol.HTTPS: factory, MonitorProtocol.HTTP: factory})
    assert len(built) == 1
