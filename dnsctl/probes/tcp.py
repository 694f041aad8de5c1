"""TCP probe: a connection accepted on the monitor port within the timeout is healthy."""

from __future__ import annotations

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import ProbeResult
from dnsctl.probes.base import ProbeVerdict, run_probe
from dnsctl.probes.connect import open_stream
from dnsctl.probes.failures import Progress
from dnsctl.process.clock import Clock


class TcpProber:
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock  # latency is measured on it

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        port = profile.monitor.port

        async def check(address: str, progress: Progress) -> ProbeVerdict:
            _, writer = await open_stream(address, port, progress)
            writer.close()
            return ProbeVerdict()

        return await run_probe(profile, endpoint, now, address, check, clock=self._clock)
