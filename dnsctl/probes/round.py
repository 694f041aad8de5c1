"""Probing many endpoints at once: bounded concurrency, results in the order of the work."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import Prober


class DispatchingProber:
    """Probes each endpoint with the prober registered for its profile's monitor protocol.

    The probers by protocol are built in the composition root (`dnsctl.compose.PROBE_KINDS`); one prober
    may serve several protocols (https and http). A protocol with no prober fails its probes, it does not
    raise.
    """

    def __init__(self, probers: Mapping[str, Prober]) -> None:
        self._probers = dict(probers)

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        prober = self._probers.get(profile.monitor.protocol)
        if prober is None:
            return ProbeResult(
                profile=profile.name,
                endpoint=endpoint.name,
                at=now,
                ok=False,
                latency=0.0,
                address=address or endpoint.probe_address,
                reason=FailureReason.ERROR,
                detail=f"no prober for protocol {profile.monitor.protocol}",
            )
        return await prober.probe(profile, endpoint, now, address)

    async def aclose(self) -> None:
        """Close each prober once (those that hold connections or tokens have an `aclose`)."""
        for prober in {id(p): p for p in self._probers.values()}.values():
            close = getattr(prober, "aclose", None)
            if close is not None:
                await close()


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
