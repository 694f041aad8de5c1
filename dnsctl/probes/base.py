"""The Prober seam: what the controller calls to check one endpoint."""

from __future__ import annotations

from typing import Protocol

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import ProbeResult


class Prober(Protocol):
    """Checks one endpoint of one profile; returns a result and never raises for an endpoint being down.

    `now` is the wall-clock time recorded as the result's `at`; latency is measured inside the probe.
    `address` picks one of an endpoint's addresses (same Host and SNI); by default the first one, or
    the target name when it has none. An endpoint with several addresses is probed once per address.
    """

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult: ...
