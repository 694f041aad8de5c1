"""Why a plan leaves a record alone (a `Refusal`), or why a whole plan must not be applied (a
`SafetyProblem`): typed, a kind and the fields that say why, rendered to a sentence by `str`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dnsctl.core.publication import RecordType


class RefusalKind(StrEnum):
    OTHER_PROFILE = "other_profile"  # the record is managed by another dnsctl profile (`owner`)
    NOT_MANAGED = "not_managed"  # the record exists without dnsctl's metadata and adopt is off
    EMPTY_RECORD = "empty_record"  # the decision would leave the record with no value
    TYPE_SWITCH = "type_switch"  # the name holds `have`, the profile publishes `want`, no allow_type_change


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record the plan leaves alone: its kind, and the fields that say why."""

    profile: str
    name: str
    kind: RefusalKind
    owner: str = ""  # the other profile, for OTHER_PROFILE
    have: tuple[RecordType, ...] = ()  # the types the name holds, for TYPE_SWITCH
    want: RecordType | None = None  # the type the profile publishes, for TYPE_SWITCH

    @property
    def reason(self) -> str:
        if self.kind is RefusalKind.OTHER_PROFILE:
            return f"the record is managed by dnsctl profile {self.owner!r}, not this one"
        if self.kind is RefusalKind.NOT_MANAGED:
            return (
                "the record exists and is not managed by dnsctl; "
                "set adopt: true on the profile to take it over"
            )
        if self.kind is RefusalKind.EMPTY_RECORD:
            return "the plan would empty the record; refused"
        have = "/".join(t.value for t in self.have)
        want = self.want.value if self.want is not None else ""
        return (
            f"the name holds {have} and the profile publishes {want}; switching types deletes "
            "the old record first: set allow_type_change: true to allow it"
        )

    def __str__(self) -> str:
        return f"{self.profile}: {self.name}: {self.reason}"


class SafetyKind(StrEnum):
    EMPTY_RECORD = "empty_record"  # a change would leave a record with no value (never applied)
    TOO_MANY_CHANGES = "too_many_changes"  # more configuration changes than max_changes_per_run


@dataclass(frozen=True, slots=True)
class SafetyProblem:
    """Why a whole plan must not be applied."""

    kind: SafetyKind
    name: str = ""  # the record, for EMPTY_RECORD
    changes: int = 0  # configuration changes planned, for TOO_MANY_CHANGES
    limit: int = 0  # max_changes_per_run
    failover: int = 0  # failover changes beside them (they do not count)

    def __str__(self) -> str:
        if self.kind is SafetyKind.EMPTY_RECORD:
            return f"{self.name}: the change would leave the record empty"
        besides = (
            f" (besides {self.failover} failover change(s), which do not count)" if self.failover else ""
        )
        return (
            f"the plan makes {self.changes} configuration changes{besides}, more than max_changes_per_run "
            f"({self.limit}); review it with `dnsctl plan` and pass --force to apply"
        )
