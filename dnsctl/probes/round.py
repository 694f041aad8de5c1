"""Probing many endpoints at once: bounded concurrency, results in the order of the work."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import Prober
from dnsctl.process.clock import Clock


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
            return _error(
                profile, endpoint, now, address, f"no prober for protocol {profile.monitor.protocol}"
            )
        return await prober.probe(profile, endpoint, now, address)

    async def aclose(self) -> None:
        """Close each prober once (those that hold connections or tokens have an `aclose`)."""
        for prober in {id(p): p for p in self._probers.values()}.values():
            close = getattr(prober, "aclose", None)
            if close is not None:
                await close()


# A probe that timed out this long after its deadline was not timed out by the endpoint: this process's
# event loop ran late (too busy to read the answer), which says nothing about the endpoint.
_LATE_BY = 1.0
_LOCAL_RETRIES = 2  # a probe that failed for want of a local resource is made again, this many times
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
    When a probe fails for want of a local resource (file descriptors, buffers), the bound comes
    down to what else was in flight then, and that probe waits for a slot and is made again; it climbs
    back by one slot per `RECOVER_AFTER` probes made without such an error, up to `concurrency`.
    """

    RECOVER_AFTER = 64

    def __init__(self, concurrency: int = 256) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency  # the configured bound: how many workers a round starts
        self.bound = concurrency  # the bound in force now (lower after a local resource error)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._fine = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.shrunk = 0  # times the bound came down

    async def __aenter__(self) -> None:
        if self.in_flight < self.bound and not self._waiters:
            self._take()
            return
        slot = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            await slot  # the slot is taken for us when it is handed over
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self._give_back()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(slot)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._give_back()

    def _take(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _give_back(self) -> None:
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self.in_flight < self.bound:
            slot = self._waiters.popleft()
            if not slot.done():
                self._take()
                slot.set_result(None)

    def out_of_resources(self) -> None:
        """A probe failed for want of a local resource: no more in flight than the others now."""
        target = max(1, self.in_flight)
        if target < self.bound:
            self.bound = target
            self.shrunk += 1
        self._fine = 0

    def made(self) -> None:
        """A probe was made without a local resource error."""
        self._fine += 1
        if self._fine >= self.RECOVER_AFTER and self.bound < self.concurrency:
            self._fine = 0
            self.bound += 1
            self._hand_over()


def _late(profile: ProfileSpec, result: ProbeResult, took: float) -> ProbeResult:
    """A timeout that came `took` seconds after the probe started, long after its deadline: this
    process's event loop ran late, which says nothing about the endpoint."""
    if result.ok or result.reason not in _TIMED_OUT or took <= profile.monitor.timeout + _LATE_BY:
        return result
    detail = f"this process ran late ({took:.1f}s for a {profile.monitor.timeout:g}s timeout)"
    return replace(result, reason=FailureReason.LOCAL, detail=detail)


async def probe_round(
    prober: Prober,
    work: Sequence[tuple[ProfileSpec, EndpointSpec]],
    *,
    now: float,
    concurrency: int = 256,
    limit: ProbeLimit | None = None,
    clock: Clock | None = None,
) -> list[ProbeResult]:
    """Probe every (profile, endpoint) concurrently, at most `concurrency` at a time, in `work` order.

    With `limit`, the bound is that one, shared with every other round using it (`concurrency` is then
    ignored). At most as many tasks as the bound are created, whatever the size of `work`.
    With `clock`, a timeout that came long after its deadline is reported `local` (the loop ran late).
    An endpoint with several addresses gets one probe (and one result) per address, in their order.
    """
    if limit is None:
        limit = ProbeLimit(concurrency)

    async def one(profile: ProfileSpec, endpoint: EndpointSpec, address: str | None) -> ProbeResult:
        try:
            if address is None:
                return await prober.probe(profile, endpoint, now)
            return await prober.probe(profile, endpoint, now, address)
        except Exception as exc:
            # Probers must not raise; if one does, that endpoint fails this round, not the round.
            return _error(profile, endpoint, now, address, f"prober failed: {type(exc).__name__}")

    calls = [
        (profile, endpoint, address)
        for profile, endpoint in work
        for address in (endpoint.addresses if len(endpoint.addresses) > 1 else (None,))
    ]
    results: list[ProbeResult | None] = [None] * len(calls)
    todo = iter(enumerate(calls))

    async def worker() -> None:
        for i, (profile, endpoint, address) in todo:  # shared by the workers: each call is taken once
            for _attempt in range(_LOCAL_RETRIES + 1):
                async with limit:
                    started = clock.monotonic() if clock is not None else 0.0
                    result = await one(profile, endpoint, address)
                    took = clock.monotonic() - started if clock is not None else 0.0
                if result.reason is not FailureReason.LOCAL:
                    limit.made()
                    break
                # Out of file descriptors or buffers: fewer probes at once, then this one again.
                limit.out_of_resources()
            results[i] = _late(profile, result, took)

    await asyncio.gather(*(worker() for _ in range(min(limit.concurrency, len(calls)))))
    return [r for r in results if r is not None]


def _error(
    profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None, detail: str
) -> ProbeResult:
    """A failed result that says nothing of the endpoint: dnsctl could not probe it."""
    return ProbeResult(
        profile=profile.name,
        endpoint=endpoint.name,
        at=now,
        ok=False,
        latency=0.0,
        address=address or endpoint.probe_address,
        reason=FailureReason.ERROR,
        detail=detail,
    )
