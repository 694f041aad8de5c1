"""The reports of a pass: `reconcile`/`plan` (Report) and `mirror --once` (MirrorReport), and their documents.

`Report` and `MirrorReport` are what a pass found and did, filled in as it goes; `ReconcileDoc` and
`MirrorOnceDoc` are what the command prints with `--json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnsctl.core.plan import Plan, Published
from dnsctl.core.refusals import Refusal, SafetyProblem
from dnsctl.core.state import RoundOutcome
from dnsctl.documents.jsonable import ABSENT, Absent
from dnsctl.documents.status import ChangeDoc, MirrorFileDoc, ProfileDoc, StateDoc
from dnsctl.targets.base import ChangeResult, Outcome
from dnsctl.targets.mirror_files import FileResult, WriteOutcome


@dataclass(frozen=True, slots=True)
class ReportError:
    """Why (part of) a pass failed; `transient`: the same pass later may succeed."""

    message: str
    transient: bool = False

    def __str__(self) -> str:
        return self.message


@dataclass
class Report:
    plan: Plan
    results: list[ChangeResult] = field(default_factory=list)
    refused: list[Refusal | SafetyProblem] = field(default_factory=list)  # `str()` says why
    errors: list[ReportError] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)  # profiles with no Online endpoint
    outcome: RoundOutcome | None = None
    conflicts_retried: int = 0
    dry_run: bool = False
    published: dict[str, Published] = field(default_factory=dict)
    state: StateDoc | None = None  # where the health history is kept, and its problems

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(r.outcome is not Outcome.APPLIED for r in self.results)

    @property
    def refusing(self) -> bool:
        return bool(self.refused)

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(self.plan.waiting)


@dataclass
class MirrorReport:
    results: list[FileResult] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # profiles without a decision: nothing written
    degraded: list[str] = field(default_factory=list)
    isolated: bool = False

    @property
    def failed(self) -> bool:
        return any(r.outcome is WriteOutcome.FAILED for r in self.results)

    @property
    def refusing(self) -> bool:
        return any(r.outcome is WriteOutcome.REFUSED for r in self.results)


@dataclass(frozen=True, slots=True)
class ResultDoc:
    """One write: the change, then how it went."""

    change: ChangeDoc = field(metadata={"flatten": True})
    outcome: str
    new_etag: str | None
    error: str
    hint: str


@dataclass(frozen=True, slots=True)
class ReconcileDoc:
    """`plan --json` and `reconcile --json`."""

    dry_run: bool
    exit_code: int
    changes: tuple[ChangeDoc, ...]
    results: tuple[ResultDoc, ...]
    refused: tuple[str, ...]
    waiting: tuple[str, ...]
    errors: tuple[str, ...]
    degraded: tuple[str, ...]
    unpublished: tuple[str, ...]
    conflicts_retried: int
    summary: str
    state: StateDoc | None
    isolated: bool
    profiles: tuple[ProfileDoc, ...] | Absent = ABSENT  # when the pass got as far as probing


@dataclass(frozen=True, slots=True)
class MirrorOnceDoc:
    """`mirror --once --json`."""

    exit_code: int
    files: tuple[MirrorFileDoc, ...]
    waiting: tuple[str, ...]
    degraded: tuple[str, ...]
    isolated: bool


def file_doc(r: FileResult, *, with_profile: bool) -> MirrorFileDoc:
    return MirrorFileDoc(
        runtime=r.runtime.value,
        path=str(r.path),
        outcome=r.outcome.value,
        hosts=tuple(r.hosts),
        error=r.error or None,
        profile=r.profile if with_profile else ABSENT,
    )
