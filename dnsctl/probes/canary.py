"""Isolation canaries: targets outside the endpoint set that show whether the controller's network works.

A canary "answers" when anything comes back from it: a TCP connection, a refusal, a TLS handshake, any
HTTP status. Only silence (a connect timeout, no route, no name resolution) counts as not connected,
exactly like the endpoint failures that count as isolation evidence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dnsctl.core.model import (
    CanarySpec,
    EndpointSpec,
    MonitorProtocol,
    MonitorSpec,
    ProfileSpec,
    StatusRange,
)
from dnsctl.core.results import CanaryResult, ProbeResult
from dnsctl.probes.http import HttpProber
from dnsctl.probes.round import DispatchingProber
from dnsctl.probes.tcp import TcpProber
from dnsctl.process.clock import Clock

# Any HTTP answer proves the path: the canary's status code is not judged.
_ANY_STATUS = (StatusRange(100, 599),)


def _as_profile(canary: CanarySpec, timeout: float) -> tuple[ProfileSpec, EndpointSpec]:
    protocol = MonitorProtocol(canary.scheme) if canary.scheme else MonitorProtocol.TCP
    monitor = MonitorSpec(
        protocol=protocol,
        port=canary.port,
        path=canary.path,
        expected_status=_ANY_STATUS,
        interval=timeout * 2,
        timeout=timeout,
    )
    endpoint = EndpointSpec(name=str(canary), target=canary.host, priority=0)
    return ProfileSpec(name="canary", fqdn=canary.host, endpoints=(endpoint,), monitor=monitor), endpoint


def _connected(canary: CanarySpec, result: ProbeResult) -> CanaryResult:
    if result.ok or not result.says_nothing:
        return CanaryResult(str(canary), True, result.describe())
    return CanaryResult(str(canary), False, result.describe())


async def probe_canaries(canaries: Sequence[CanarySpec], limit: float, clock: Clock) -> list[CanaryResult]:
    """Look at every canary at once, each bounded by `limit` seconds."""
    http = HttpProber(clock=clock)
    prober = DispatchingProber(
        {MonitorProtocol.TCP: TcpProber(clock=clock), MonitorProtocol.HTTP: http, MonitorProtocol.HTTPS: http}
    )

    async def one(canary: CanarySpec) -> CanaryResult:
        profile, endpoint = _as_profile(canary, limit)
        try:
            result = await prober.probe(profile, endpoint, clock.now())
        except Exception as exc:  # probers do not raise; if one does, the canary says nothing
            return CanaryResult(str(canary), False, f"canary probe failed: {type(exc).__name__}")
        return _connected(canary, result)

    return list(await asyncio.gather(*(one(c) for c in canaries)))
