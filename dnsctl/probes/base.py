"""The Prober seam (what the controller calls to check one endpoint) and the one probe skeleton."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.failures import Progress, classify
from dnsctl.process.clock import Clock


class Prober(Protocol):
    """Checks one endpoint of one profile; returns a result and never raises for an endpoint being down.

    `now` is the wall-clock time recorded as the result's `at`; latency is measured inside the probe.
    `address` picks one of an endpoint's addresses (same Host and SNI); by default the first one, or
    the target name when it has none. An endpoint with several addresses is probed once per address.
    """

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult: ...


@dataclass(frozen=True, slots=True)
class ProbeVerdict:
    """What a probe's check found: the status code seen, and why the endpoint failed (None: it passed)."""

    status: int | None = None
    reason: FailureReason | None = None
    detail: str = ""


# The part of a probe that differs by kind: check `address` (reporting how far it got in `progress`).
Check = Callable[[str, Progress], Awaitable[ProbeVerdict]]
# What an exception raised by the check means; by default `failures.classify` on the phase reached.
Explain = Callable[[Exception, Progress], ProbeVerdict]


async def run_probe(
    profile: ProfileSpec,
    endpoint: EndpointSpec,
    now: float,
    address: str | None,
    check: Check,
    explain: Explain | None = None,
    *,
    clock: Clock,
) -> ProbeResult:
    """Every probe's frame: pick the address, bound the check by the monitor's timeout, time it, and turn
    what it found or raised into a ProbeResult (an exception is explained, never re-raised)."""
    monitor = profile.monitor
    if address is None:
        address = endpoint.probe_address
    progress = Progress()
    started = clock.monotonic()
    try:
        async with asyncio.timeout(monitor.timeout):
            verdict = await check(address, progress)
    except Exception as exc:
        if explain is not None:
            verdict = explain(exc, progress)
        else:
            reason, detail = classify(exc, progress.phase, monitor.timeout, heard=progress.heard)
            verdict = ProbeVerdict(None, reason, detail)
    return ProbeResult(
        profile=profile.name,
        endpoint=endpoint.name,
        at=now,
        ok=verdict.reason is None,
        latency=clock.monotonic() - started,
        address=address,
        status_code=verdict.status,
        reason=verdict.reason,
        detail=verdict.detail,
    )
