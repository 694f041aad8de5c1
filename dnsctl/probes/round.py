"""Probing many endpoints at once: bounded concurrency, results in the order of the work."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from dnsctl.core.model import EndpointSpec, MonitorProtocol, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import Prober
from dnsctl.probes.http import HttpProber
from dnsctl.probes.registry import AadTokenSource, RegistryProber
from dnsctl.probes.tcp import TcpProber


class DispatchingProber:
    """Probes each endpoint with the prober for its profile's monitor protocol."""

    def __init__(self, http: HttpProber, tcp: TcpProber, registry: RegistryProber | None = None) -> None:
        self._http = http
        self._tcp = tcp
        self._registry = registry or RegistryProber()

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


def make_prober(*, keepalive: bool = False, aad_token: AadTokenSource | None = None) -> DispatchingProber:
    """The prober for every protocol (https/http -> HttpProber, tcp -> TcpProber, registry -> RegistryProber).

    `keepalive=False` (the default) opens a fresh connection per probe; call `aclose()` when done.
    """
    return DispatchingProber(HttpProber(keepalive=keepalive), TcpProber(), RegistryProber(aad_token))


# A probe that timed out this long after its deadline was not timed out by the endpoint: this process's
# event loop ran late (too busy to read the answer), which says nothing about the endpoint.
_LATE_BY = 1.0
_TIMED_OUT = frozenset(
    {
        FailureReason.CONNECT_TIMEOUT,
        FailureReason.TIMEOUT,
        FailureReason.NO_ANSWER,
        FailureReason.TLS_TIMEOUT,
        FailureReason.DNS,
    }
)


class ProbeLimit:
    """One bound on the probes in flight (and so on the sockets they hold) across every round.

    Shared by all the rounds of a process: a round that finds the bound taken waits for a slot
    (back-pressure), so rounds that overlap under load never add up to more sockets than this.
    """

    def __init__(self, concurrency: int = 256) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.most_in_flight = 0

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._slots.release()


def _late(profile: ProfileSpec, result: ProbeResult) -> ProbeResult:
    """A timeout reported long after its deadline is this process's lateness, not the endpoint's."""
    if result.ok or result.reason not in _TIMED_OUT or result.latency <= profile.monitor.timeout + _LATE_BY:
        return result
    detail = f"this process ran late ({result.latency:.1f}s for a {profile.monitor.timeout:g}s timeout)"
    return replace(result, reason=FailureReason.LOCAL, detail=detail)


async def probe_round(
    prober: Prober,
    work: Sequence[tuple[ProfileSpec, EndpointSpec]],
    *,
    now: float,
    concurrency: int = 256,
    limit: ProbeLimit | None = None,
) -> list[ProbeResult]:
    """Probe every (profile, endpoint) concurrently, at most `concurrency` at a time, in `work` order.

    With `limit`, the bound is that one, shared with every other round using it (`concurrency` is then
    ignored). At most as many tasks as the bound are created, whatever the size of `work`.
    An endpoint with several addresses gets one probe (and one result) per address, in their order.
    """
    if limit is None:
        limit = ProbeLimit(concurrency)

    async def one(profile: ProfileSpec, endpoint: EndpointSpec, address: str | None) -> ProbeResult:
        try:
            if address is None:
                return _late(profile, await prober.probe(profile, endpoint, now))
            return _late(profile, await prober.probe(profile, endpoint, now, address))
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
    results: list[ProbeResult | None] = [None] * len(calls)
    todo = iter(enumerate(calls))

    async def worker() -> None:
        for i, call in todo:  # shared by the workers: each call is taken once
            async with limit:
                results[i] = await one(*call)

    await asyncio.gather(*(worker() for _ in range(min(limit.concurrency, len(calls)))))
    return [r for r in results if r is not None]
