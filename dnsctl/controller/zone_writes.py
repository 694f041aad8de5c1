"""How `run` batches its Azure calls: by the zone, not by the profile.

Decisions that arrive within `COALESCE_WINDOW` of the first are written together, from one listing
of each zone they touch (every profile of that zone shares it); decisions that arrived while a pass
was writing are written next from that pass's listing (kept current with dnsctl's own writes)
instead of listing again. A write held back (Azure's write budget, the pass's deadline) is
not a failure to re-read for: it is written later, with the others held back, from the same listing,
whose etag still guards it against someone else's write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from enum import StrEnum

from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.process.clock import Clock
from dnsctl.targets.base import ChangeResult, Outcome, Target

COALESCE_WINDOW = 1.0


class Take(StrEnum):
    """Which profiles a pass writes, and from which listing."""

    NONE = "none"  # the ones named, from a listing made now
    QUEUED = "queued"  # the window's decisions, from the last listing if a pass ended within the window
    DEFERRED = "deferred"  # the writes held back, from the last listing however old


def zone_of(p: ProfileSpec) -> tuple[str, str, str] | str:
    az = p.azure
    return (az.subscription_id, az.resource_group, az.zone) if az is not None else p.name


class ZoneWrites:
    def __init__(
        self,
        spec: DnsctlSpec,
        target: Target,
        clock: Clock,
        observe: Callable[[Mapping[str, Published]], None],
        schedule: Callable[..., None],
    ) -> None:
        self.spec = spec
        self.target = target
        self.clock = clock
        self.observe = observe  # sees what a listing made now holds (drift)
        self.schedule = schedule  # (func, delay, job id, *args): the scheduler's `once`
        self.queued: set[str] = set()  # decisions waiting for the window to close
        self.deferred: set[str] = set()  # writes held back, to be written from the listing
        self.listed_at: float | None = None  # when the last pass with a listing ended (monotonic)
        self.opened_at: float | None = None  # when the current window opened
        self._listed = False  # the pass under way has a listing

    async def window(self, names: set[str]) -> bool:
        """Queue decisions; True, once the window has closed, for the first of it (which writes it)."""
        opening = not self.queued
        self.queued |= names
        if opening:
            self.opened_at = self.clock.monotonic()
            await self.clock.sleep(COALESCE_WINDOW)
        return opening

    def take(self, take: Take, named: list[str] | None) -> list[str] | None:
        """The profiles a pass writes: `named` (`Take.NONE`: None for all), or those queued or held back."""
        if take is Take.NONE:  # this pass writes what the window holds for these: nothing is left to it
            self.queued -= self.queued if named is None else set(named)
            return named
        if take is Take.DEFERRED:
            chosen, self.deferred = sorted(self.deferred), set()
        else:
            chosen, self.queued = sorted(self.queued), set()
        return chosen

    async def listing(
        self,
        chosen: Sequence[ProfileSpec],
        cache: MutableMapping[str, Published],
        take: Take,
    ) -> dict[str, Published]:
        """What `chosen` hold: from `cache` as `take` allows, else listed now (each zone touched once,
        whole, into `cache`; `observe` sees it). Raises TargetError."""
        names = [p.name for p in chosen]
        since = {Take.NONE: None, Take.QUEUED: self.opened_at, Take.DEFERRED: float("-inf")}[take]
        ended = self.listed_at
        if since is not None and ended is not None and ended >= since and all(n in cache for n in names):
            self._listed = True
            return {n: cache[n] for n in names}
        zones = {zone_of(p) for p in chosen}
        members = [p for p in self.spec.profiles if p.publication is not None and zone_of(p) in zones]
        listed = dict(await self.target.read(members))
        cache.update(listed)
        published = {n: listed[n] for n in names if n in listed}
        self.observe(published)
        self._listed = True
        return published

    def hold(
        self, results: Sequence[ChangeResult], write: Callable[[list[str] | None, Take], Awaitable[object]]
    ) -> set[str]:
        """At a pass's end: keep the writes held back, for `write` (the controller's pass) to write
        later; their profiles."""
        if self._listed:
            self.listed_at, self._listed = self.clock.monotonic(), False
        held = [r for r in results if held_back(r)]
        if held:
            self.deferred.update(r.change.profile for r in held)
            delay = max(1.0, min(r.retry_in or 0.0 for r in held))
            self.schedule(write, delay, "deferred", None, Take.DEFERRED)
        return {r.change.profile for r in held}


def held_back(r: ChangeResult) -> bool:
    return r.outcome is not Outcome.APPLIED and r.retry_in is not None
