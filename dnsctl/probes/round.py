"""Probing many endpoints at once: bounded concurrency, results in the order of the work."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dnsctl.core.model import EndpointSpec, MonitorProtocol, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import Prober
from dnsctl.probes.http import HttpProber
from dnsctl.probes.registry import AadTokenSource, RegistryProber
from dnsctl.probes.tcp import TcpProber
from dnsctl.process.clock import Clock


class DispatchingProber:
    """Probes each endpoint with the prober for its profile's monitor protocol."""

    def __init__(self, http: HttpProber, tcp: TcpProber, registry: RegistryProber) -> None:
        self._http = http
        self._tcp = tcp
        self._registry = registry

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        if profile.monitor.protocol is MonitorProtocol.TCP:
            return await self._tcp.probe(profile, endpoint, now, address)
        if profile.monitor.protocol is MonitorProtocol.REGISTRY:
            return await self._registry.probe(profile, endpoint, now, address)
        return await self._http.probe(profile, endpoint, now, address)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._registry.aclose()


def make_prober(
    *, clock: Clock, keepalive: bool = False, aad_token: AadTokenSource | None = None
) -> DispatchingProber:
    """The prober for every protocol (https/http -> HttpProber, tcp -> TcpProber, registry -> RegistryProber).

    `keepalive=False` (the default) opens a fresh connection per probe; call `aclose()` when done.
    """
    return DispatchingProber(
        HttpProber(clock=clock, keepalive=keepalive),
        TcpProber(clock=clock),
        RegistryProber(aad_token, clock=clock),
    )


async def probe_round(
    prober: Prober,
    work: Sequence[tuple[ProfileSpec, EndpointSpec]],
    *,
    now: float,
    concurrency: int = 256,
) -> list[ProbeResult]:
    """Probe every (profile, endpoint) concurrently, at most `concurrency` at a time, in `work` order.

    An endpoint with several addresses gets one probe (and one result) per address, in their order.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    limit = asyncio.Semaphore(concurrency)

    async def one(profile: ProfileSpec, endpoint: EndpointSpec, address: str | None) -> ProbeResult:
        async with limit:
            try:
                if address is None:
                    return await prober.probe(profile, endpoint, now)
                return await prober.probe(profile, endpoint, now, address)
            except Exception as exc:
                # Probers must not raise; if one does, that endpoint fails this round, not the round.
                return ProbeResult(
                    profile=profile.name,
                    endpoint=endpoint.name,
                    at=now,
                    ok=False,
                    latency=0.0,
                    address=address or endpoint.probe_address,
                    reason=FailureReason.ERROR,
                    detail=f"prober failed: {type(exc).__name__}",
                )

    calls = [
        (profile, endpoint, address)
        for profile, endpoint in work
        for address in (endpoint.addresses if len(endpoint.addresses) > 1 else (None,))
    ]
    return list(await asyncio.gather(*(one(*call) for call in calls)))
