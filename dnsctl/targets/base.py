"""The Target seam: a place where decisions are published (Azure Private DNS, memory)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from dnsctl.core.model import ProfileSpec
from dnsctl.core.plan import Change, Published


class Outcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # the record changed since it was read (412): re-read and re-plan
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    etag: str | None = None  # the record's etag after the write
    error: str = ""
    hint: str = ""  # what to fix, for permanent errors
    # Not written for want of budget or time, and not refused: try it again in this many seconds, from the
    # same read (its etag still holds unless someone else writes, which the write's condition catches).
    retry_in: float | None = None


# A write is started only with at least this many seconds of the lease left, and must end within them.
MIN_WRITE_WINDOW = 2.0
NOT_HOLDER = "not written: this replica can no longer be sure it holds the lease"


class WriteGuard(Protocol):
    """May this process still write? Checked before every write and before every wait for a retry."""

    def write_window(self) -> float:
        """Seconds from now within which a write must have ended (0: write nothing more)."""
        ...


def may_write(guard: WriteGuard | None, seconds: float = 0.0) -> bool:
    """Whether a write that starts after `seconds` still has MIN_WRITE_WINDOW of the lease left."""
    return guard is None or guard.write_window() >= seconds + MIN_WRITE_WINDOW


class Target(Protocol):
    def begin_pass(self) -> None:
        """A reconcile pass starts: its calls share one time budget (Azure: `azure.deadline`)."""
        ...

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        """What is published for each profile, by profile name. Raises TargetError if it cannot read."""
        ...

    async def apply(self, changes: Sequence[Change], guard: WriteGuard | None = None) -> list[ChangeResult]:
        """Apply changes in order; failures are returned, never raised or dropped.

        With a `guard`, no write starts (and no wait before a retry begins) unless it can end within
        the guard's window; what is not written fails with NOT_HOLDER."""
        ...

    async def close(self) -> None: ...


async def apply_in_order(
    changes: Sequence[Change], apply_one: Callable[[Change], Awaitable[ChangeResult]]
) -> list[ChangeResult]:
    """Apply changes in order; after a profile's change fails, its later steps are skipped.

    A type switch is a delete then a create: the create must not run when the delete did not.
    """
    results: list[ChangeResult] = []
    broken: set[str] = set()
    for c in changes:
        if c.profile in broken:
            results.append(
                ChangeResult(c, Outcome.FAILED, error="skipped: an earlier step of this profile failed")
            )
            continue
        result = await apply_one(c)
        if result.outcome is not Outcome.APPLIED:
            broken.add(c.profile)
        results.append(result)
    return results
