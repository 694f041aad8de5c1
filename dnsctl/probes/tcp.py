"""TCP probe: a connection accepted on the monitor port within the timeout is healthy."""

from __future__ import annotations

import asyncio

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.probes.connect import open_stream
from dnsctl.probes.failures import Progress, failed
from dnsctl.process.clock import Clock


class TcpProber:
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock  # latency is measured on it

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        monitor = profile.monitor
        if address is None:
            address = endpoint.probe_address
        progress = Progress()
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(monitor.timeout):
                _, writer = await open_stream(address, monitor.port, progress)
        except Exception as exc:
            return failed(
                profile,
                endpoint,
                now=now,
                latency=self._clock.monotonic() - started,
                address=address,
                exc=exc,
                phase=progress.phase,
                timeout=monitor.timeout,
            )
        latency = self._clock.monotonic() - started
        writer.close()
        return ProbeResult(
            profile=profile.name, endpoint=endpoint.name, at=now, ok=True, latency=latency, address=address
        )
