"""Plan: the changes that bring published records to the decisions, and the safety checks on it.

A pure function over what was read (`Published`) and what was decided. Ownership, adoption and
type switches are decided here, so that `dnsctl plan` shows exactly what `reconcile` would do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dnsctl.core.decision import Decision, decision_targets
from dnsctl.core.model import ProfileSpec
from dnsctl.core.publication import RecordType
from dnsctl.core.refusals import Refusal, RefusalKind, SafetyKind, SafetyProblem

MANAGED_BY = "managed-by"
MANAGED_BY_VALUE = "dnsctl"
PROFILE_KEY = "dnsctl-profile"
STATE_KEY = "dnsctl-state"
WRITE_KEY = "dnsctl-write"  # a fresh id per write: a re-read tells dnsctl's own write from another's
ABSENT_NOTE = "the name has no record between the delete and the create"
ATOMIC_NOTE = "in one update: the name is never without a record"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a target can do; the plan is made against these, never against a target's name.

    `metadata`: the record carries dnsctl's keys (ownership, stored history) with it; without it,
    ownership comes from the target's own registry (e.g. an owner TXT record) and history from a
    state file. `atomic_type_replace`: a CNAME <-> A switch is one write (else a delete, then a
    create). `compare_and_set`: writes are conditional on what was read."""

    metadata: bool = True
    atomic_type_replace: bool = False
    compare_and_set: bool = True


AZURE_CAPABILITIES = Capabilities()


@dataclass(frozen=True, slots=True)
class RecordValue:
    type: RecordType
    values: tuple[str, ...]  # the CNAME target, or the A addresses in order
    ttl: int

    def __str__(self) -> str:
        return f"{self.type.value} {', '.join(self.values) or '(empty)'} ttl {self.ttl}"


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """One record set as read from a target."""

    value: RecordValue
    etag: str | None = None
    metadata: Mapping[str, str] | None = None

    @property
    def owner(self) -> str | None:
        """The dnsctl profile that owns the record ("" for an older unnamed one), None if dnsctl does not."""
        md = self.metadata or {}
        if md.get(MANAGED_BY) != MANAGED_BY_VALUE:
            return None
        return md.get(PROFILE_KEY, "")

    @property
    def state(self) -> str | None:
        return (self.metadata or {}).get(STATE_KEY)


@dataclass(frozen=True, slots=True)
class Published:
    """What a target holds at a profile's record name, of every type dnsctl may write there."""

    name: str  # e.g. "privatelink.azurecr.io/myregistry"
    records: Mapping[RecordType, ReadRecord]
    capabilities: Capabilities = AZURE_CAPABILITIES  # of the target that read it

    def of(self, rtype: RecordType) -> ReadRecord | None:
        return self.records.get(rtype)


class Origin(StrEnum):
    """Why a change is in the plan: the health of configured endpoints, or the configuration."""

    HEALTH = "health"  # a move between the profile's configured answers (failover, failback, all-down)
    CONFIG = "config"  # a new record, a new target name or TTL, adoption, a type change


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"  # update an existing record dnsctl did not own, adding its metadata
    DELETE = "delete"  # only the first half of an explicit type switch
    STATE = "state"  # only the health history stored with the record changed


@dataclass(frozen=True, slots=True)
class Change:
    profile: str
    name: str
    action: Action
    before: RecordValue | None
    after: RecordValue | None
    reason: str
    etag: str | None  # the etag read: the write is conditional on it
    metadata: Mapping[str, str] | None = None  # what the record set's metadata becomes
    origin: Origin = Origin.CONFIG
    type_switch: bool = False  # a half of a delete-then-create type switch

    @property
    def changes_dns(self) -> bool:
        return self.action is not Action.STATE

    @property
    def counts_toward_limit(self) -> bool:
        """Failover is what dnsctl is for: only configuration-driven changes meet max_changes_per_run."""
        return self.changes_dns and self.origin is Origin.CONFIG


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[Change, ...]
    refusals: tuple[Refusal, ...] = ()
    waiting: tuple[str, ...] = ()  # profiles without a decision yet (nothing is written for them)
    # Profiles with no record published and none planned (e.g. keep-last with nothing to keep).
    unpublished: tuple[str, ...] = ()

    @property
    def dns_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.changes_dns)

    @property
    def config_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.counts_toward_limit)


def desired_value(profile: ProfileSpec, decision: Decision) -> RecordValue:
    targets = decision_targets(profile, decision)
    pub = profile.publication
    if pub is not None and pub.record_type is RecordType.A:
        addresses: list[str] = []
        for t in targets:
            addresses.extend(a for a in t.addresses if ":" not in a and a not in addresses)
        return RecordValue(RecordType.A, tuple(addresses), profile.ttl)
    return RecordValue(RecordType.CNAME, (targets[0].target,), profile.ttl)


def configured_answer(profile: ProfileSpec, value: RecordValue) -> bool:
    """Whether `value` is something health alone could have made this profile publish."""
    if value.ttl != profile.ttl or not value.values:
        return False
    if value.type is RecordType.A:
        known = {a for ep in profile.endpoints for a in ep.addresses}
        return set(value.values) <= known
    names = {ep.target for ep in profile.endpoints} | ({profile.fallback} if profile.fallback else set())
    return len(value.values) == 1 and value.values[0] in names


def _origin(profile: ProfileSpec, before: RecordValue, after: RecordValue) -> Origin:
    if before.type is after.type and configured_answer(profile, before) and configured_answer(profile, after):
        return Origin.HEALTH
    return Origin.CONFIG


def plan_profile(
    profile: ProfileSpec,
    published: Published,
    decision: Decision | None,
    state: str | None = None,
) -> tuple[list[Change], Refusal | None]:
    """The changes for one profile. `state` is the health history to store with the record."""
    az = profile.publication
    assert az is not None, "only profiles with a published record are planned"
    caps = published.capabilities
    name = published.name
    if decision is None:
        return [], None
    for rec in published.records.values():
        if rec.owner not in (None, "", profile.name):
            return [], Refusal(profile.name, name, RefusalKind.OTHER_PROFILE, owner=rec.owner)
    current = published.of(az.record_type)
    others = [(t, r) for t, r in published.records.items() if t is not az.record_type]
    unowned = any(r.owner is None for r in published.records.values())
    if unowned and not az.adopt:
        return [], Refusal(profile.name, name, RefusalKind.NOT_MANAGED)
    # Keep whatever else the record's metadata holds; dnsctl only owns its own keys.
    metadata = {
        **((current.metadata or {}) if current is not None else {}),
        MANAGED_BY: MANAGED_BY_VALUE,
        PROFILE_KEY: profile.name,
    }
    stored = state if state is not None else (current.state if current is not None else None)
    if stored is not None and caps.metadata:
        metadata[STATE_KEY] = stored
    if decision.keep_current and current is None and not decision.last_answer:
        # keep-last with nothing published: there is nothing to keep, and publishing an endpoint
        # that is down would be a guess. The name stays without a record (the report says so).
        return [], None
    want = desired_value(profile, decision)
    if decision.keep_current and current is not None and not decision.last_answer:
        # No answer of ours to keep (e.g. the startup grace ran out): what is published stays.
        # With one, keep-last keeps *our* last answer: a value someone else wrote is put back.
        want = current.value
    if not want.values:
        return [], Refusal(profile.name, name, RefusalKind.EMPTY_RECORD)
    if others:
        if not az.allow_type_change:
            have = tuple(t for t, _ in others)
            return [], Refusal(profile.name, name, RefusalKind.TYPE_SWITCH, have=have, want=want.type)
        if caps.atomic_type_replace:
            (_, old), *_ = others
            return [
                Change(
                    profile.name,
                    name,
                    Action.UPDATE,
                    old.value,
                    want,
                    f"{decision.reason}; type switch {old.value.type.value} -> {want.type.value} "
                    f"(allow_type_change) {ATOMIC_NOTE}",
                    old.etag,
                    metadata,
                    type_switch=True,
                )
            ], None
        # Azure allows no other way than a delete of the old type, then a create.
        deletes = [
            Change(
                profile.name,
                name,
                Action.DELETE,
                r.value,
                None,
                f"type switch {t.value} -> {want.type.value} (allow_type_change); {ABSENT_NOTE}",
                r.etag,
                type_switch=True,
            )
            for t, r in others
        ]
        return [
            *deletes,
            Change(
                profile.name,
                name,
                Action.CREATE,
                None,
                want,
                f"{decision.reason}; {ABSENT_NOTE}",
                None,
                metadata,
                type_switch=True,
            ),
        ], None
    if current is None:
        return [Change(profile.name, name, Action.CREATE, None, want, decision.reason, None, metadata)], None
    if current.owner is None:
        return [
            Change(
                profile.name,
                name,
                Action.ADOPT,
                current.value,
                want,
                f"adopting the existing record (adopt: true); {decision.reason}",
                current.etag,
                metadata,
            )
        ], None
    if current.value != want:
        return [
            Change(
                profile.name,
                name,
                Action.UPDATE,
                current.value,
                want,
                decision.reason,
                current.etag,
                metadata,
                origin=_origin(profile, current.value, want),
            )
        ], None
    if dict(current.metadata or {}) != metadata:
        return [
            Change(
                profile.name,
                name,
                Action.STATE,
                current.value,
                want,
                "health history changed",
                current.etag,
                metadata,
                origin=Origin.HEALTH,
            )
        ], None
    return [], None


def make_plan(
    profiles: Sequence[ProfileSpec],
    published: Mapping[str, Published],
    decisions: Mapping[str, Decision | None],
    states: Mapping[str, str] | None = None,
) -> Plan:
    changes: list[Change] = []
    refusals: list[Refusal] = []
    waiting: list[str] = []
    unpublished: list[str] = []
    for profile in profiles:
        if profile.publication is None or profile.name not in published:
            continue
        decision = decisions.get(profile.name)
        if decision is None:
            waiting.append(profile.name)
        got, refused = plan_profile(
            profile, published[profile.name], decision, (states or {}).get(profile.name)
        )
        changes.extend(got)
        if refused is not None:
            refusals.append(refused)
        elif not published[profile.name].records and not got:
            unpublished.append(profile.name)
    return Plan(tuple(changes), tuple(refusals), tuple(waiting), tuple(unpublished))


def safety_problems(plan: Plan, max_changes: int, force: bool) -> list[SafetyProblem]:
    """Why the plan must not be applied; empty when it may. An emptying change is never allowed."""
    problems = [
        SafetyProblem(SafetyKind.EMPTY_RECORD, name=c.name)
        for c in plan.changes
        if c.action is not Action.DELETE and (c.after is None or not c.after.values)
    ]
    n = len(plan.config_changes)
    if n > max_changes and not force:
        failover = len(plan.dns_changes) - n
        problems.append(
            SafetyProblem(SafetyKind.TOO_MANY_CHANGES, changes=n, limit=max_changes, failover=failover)
        )
    return problems
