"""One reconcile pass: read, restore, probe, decide, plan, check safety, apply, report.

Shared by `dnsctl plan`, `dnsctl reconcile` and the long-running controller, through one
publisher (`RecordPublisher`): the records are brought to the intents of the batches handed over,
never to a re-read of the engine's state. A 412 from the target means someone else wrote: the
affected profiles are re-read and re-planned, a bounded number of times, and never overwritten
blindly. Exit codes are the CLI's business.

Every write carries a fresh write id in the record's metadata (`dnsctl-write`). A write whose answer
was lost (the connection reset after Azure applied it) comes back as a 412 on the SDK's retry; the
re-read then finds the write id it sent: that write is dnsctl's own, applied and audited once, not
something to re-plan or to call drift. With a write guard (the lease), a pass that may no longer
write ends instead of re-reading.

The records of one batch are planned from one listing per zone; the order of the writes and which
writes of the health history alone are made: `controller/write_cost.py`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from dnsctl.controller.reports import Report, ReportError
from dnsctl.controller.write_cost import HistoryWrites, settle, trimmed
from dnsctl.core import codec
from dnsctl.core.intent import Intent, intent
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import (
    WRITE_KEY,
    Action,
    Change,
    Plan,
    Published,
    make_plan,
    safety_problems,
)
from dnsctl.core.state import ProfileState
from dnsctl.engine import Batch, Engine
from dnsctl.errors import TargetError
from dnsctl.process.state_store import Keeper, MetadataStore, StateStore
from dnsctl.targets.base import NOT_HOLDER, ChangeResult, Outcome, Target, WriteGuard, may_write

audit = logging.getLogger("dnsctl.audit")
log = logging.getLogger("dnsctl.reconcile")

MAX_CONFLICT_RETRIES = 3


def published_profiles(spec: DnsctlSpec) -> list[ProfileSpec]:
    return [p for p in spec.profiles if p.publication is not None]


def intents(
    spec: DnsctlSpec, states: Mapping[str, ProfileState], store: StateStore | None
) -> dict[str, Intent]:
    """What each profile's record should become, from a decision's outcome (the one hand-over)."""
    out: dict[str, Intent] = {}
    for p in spec.profiles:
        st = states.get(p.name)
        if st is not None:
            out[p.name] = intent(p, st, store.record_state(p, st) if store is not None else None)
    return out


class RecordPublisher:
    """Brings the Azure records to the decisions of the batches handed over (`run` and `reconcile`).

    It keeps each profile's intent from the last batch (never from a re-read of the engine's state);
    a batch asks for the records of its changed decisions, or of every profile when `full`. All the
    records of one batch are planned from one read.
    """

    def __init__(self, spec: DnsctlSpec, target: Target, store: StateStore | None, *, force: bool = False):
        self.spec = spec
        self.target = target
        self.store = store
        self.force = force
        self.intents: dict[str, Intent] = {}  # what each record should become, as handed over
        self.states: dict[str, ProfileState] = {}  # the health behind them (to write failovers first)

    def take(self, batch: Batch) -> list[str]:
        """Keep the batch's intents; the profiles whose records it asks to write."""
        self.intents.update(intents(self.spec, batch.states, self.store))
        self.states.update(batch.states)
        if batch.full:
            return [p.name for p in published_profiles(self.spec)]
        return batch.changed(views=False)

    async def write(
        self,
        profiles: Sequence[str] | None,
        *,
        published: Mapping[str, Published] | None = None,
        dry_run: bool = False,
        guard: WriteGuard | None = None,
        observe: Callable[[Mapping[str, Published]], None] | None = None,
        history: HistoryWrites = HistoryWrites.SETTLED,
    ) -> Report:
        """Bring the records of `profiles` (default all) to the intents taken (see `converge`)."""
        return await converge(
            self.spec,
            self.target,
            self.intents,
            profiles=profiles,
            published=published,
            dry_run=dry_run,
            force=self.force,
            guard=guard,
            observe=observe,
            health=self.states,
            history=history,
        )

    async def publish(
        self, batch: Batch, *, published: Mapping[str, Published] | None = None, dry_run: bool = False
    ) -> Report:
        return await self.write(self.take(batch), published=published, dry_run=dry_run)


async def reconcile_once(
    engine: Engine,
    target: Target,
    store: StateStore,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> Report:
    """The one-shot pass: read the records and the stored history, probe, keep, then publish.

    Nothing is written unless the stored state was read: a failed read ends the pass with an error.
    A profile with stored history is probed once (its hysteresis runs across runs); one without a
    decision is probed again until it has one, at most `max(fall, rise)` rounds (`until_verdicts`).
    With the history in the records, a profile still counting toward `fall` or `rise` is probed
    again too (`settle`): counts need no write of their own.
    """
    spec = engine.spec
    target.begin_pass()
    try:
        published = dict(await target.read(published_profiles(spec)))
    except TargetError as e:
        message = f"{_with_hint(str(e), e.hint)}; the stored state is unknown, so nothing was written"
        return Report(Plan(()), errors=[ReportError(message, e.transient)], dry_run=dry_run)
    engine.load(store, published)
    outcome = await engine.until_verdicts(await engine.round())
    if isinstance(store, MetadataStore):
        outcome = await settle(engine, outcome)
    problem = None if dry_run else Keeper(store).save(spec, outcome.states)
    records = RecordPublisher(spec, target, store, force=force)
    report = await records.publish(Batch.of(outcome, full=True), published=published, dry_run=dry_run)
    if problem is not None:
        report.errors.insert(0, ReportError(str(problem), problem.transient))
    report.outcome = outcome
    report.state = store.describe()
    return report


async def converge(
    spec: DnsctlSpec,
    target: Target,
    wanted: Mapping[str, Intent],
    *,
    profiles: Sequence[str] | None = None,
    published: Mapping[str, Published] | None = None,
    dry_run: bool = False,
    force: bool = False,
    guard: WriteGuard | None = None,
    observe: Callable[[Mapping[str, Published]], None] | None = None,
    health: Mapping[str, ProfileState] | None = None,
    history: HistoryWrites = HistoryWrites.SETTLED,
) -> Report:
    """Bring the records of `profiles` (default all) to the intents handed over.

    `guard` is checked before every write and before re-reading after a 412; `observe` sees what
    such a re-read found (but not dnsctl's own writes recognised there), before it is re-planned.
    `health` (the states behind the intents) puts the failovers first; `history` says which writes of
    the history alone are made."""
    chosen = [p for p in published_profiles(spec) if profiles is None or p.name in profiles]
    if published is None:
        target.begin_pass()
        try:
            published = await target.read(chosen)
        except TargetError as e:
            error = ReportError(_with_hint(str(e), e.hint), e.transient)
            return Report(Plan(()), errors=[error], dry_run=dry_run)
    current = {k: v for k, v in published.items() if k in {p.name for p in chosen}}
    plan = _plan(chosen, wanted, current)
    plan = trimmed(spec, plan, current, health or {}, history)
    degraded = [p.name for p in chosen if (w := wanted.get(p.name)) is not None and w.degraded]
    # Nothing published and nothing to publish, with no endpoint Online: that is degraded too.
    degraded += [
        n
        for n in plan.unpublished
        if n not in degraded and not ((w := wanted.get(n)) is not None and w.online)
    ]
    report = Report(plan, dry_run=dry_run, degraded=degraded, published=dict(current))
    report.refused = list(plan.refusals)
    problems = safety_problems(plan, spec.safety.max_changes_per_run, force)
    report.refused.extend(problems)
    if dry_run or problems or not plan.changes:
        return report
    await _apply(spec, target, plan, wanted, report, guard, observe)
    return report


def first_problem(report: Report) -> str:
    """The first thing that went wrong in `report`, said for a log line or /status."""
    if report.errors:
        return report.errors[0].message
    for r in report.results:
        if r.outcome is not Outcome.APPLIED:
            hint = f"; {r.hint}" if r.hint else ""
            return f"{r.change.profile}: {r.change.name}: {r.outcome.value} ({r.error or 'no detail'}){hint}"
    return "unknown"


def state_saved(
    spec: DnsctlSpec,
    report: Report,
    published: Mapping[str, Published],
    profile: str,
    check: Callable[[ProfileState], bool] | None = None,
) -> str | None:
    """Why `report` did not leave the profile's current state in its record's metadata, or None.

    `published` is what the records hold after the report's writes; `check` says whether a stored
    state holds what was asked (an operator action), where it can be read back.
    """
    if report.errors:
        return report.errors[0].message
    for r in report.results:
        if r.change.profile == profile and r.outcome is not Outcome.APPLIED:
            return first_problem(Report(report.plan, results=[r]))
    for refused in report.refused:
        if getattr(refused, "profile", profile) == profile:
            return str(refused)
    if profile in report.plan.waiting:
        return "no decision yet, so nothing is written"
    p = spec.profile(profile)
    pub = published.get(profile)
    rec = pub.of(p.publication.record_type) if pub is not None and p.publication is not None else None
    if rec is None or rec.state is None:
        return "the record does not exist yet, so there is nowhere to keep the state"
    if check is not None:
        try:
            stored = codec.decode(p, rec.state).state
        except codec.StateDecodeError as e:
            return f"the record's stored state cannot be read back: {e}"
        if not check(stored):
            return "the record's stored state does not hold it"
    return None


def _plan(
    profiles: Sequence[ProfileSpec], wanted: Mapping[str, Intent], published: Mapping[str, Published]
) -> Plan:
    profiles = [p for p in profiles if p.name in published]
    decisions = {p.name: w.decision if (w := wanted.get(p.name)) is not None else None for p in profiles}
    states = {
        p.name: w.state for p in profiles if (w := wanted.get(p.name)) is not None and w.state is not None
    }
    return make_plan(profiles, published, decisions, states)


async def _apply(
    spec: DnsctlSpec,
    target: Target,
    plan: Plan,
    wanted: Mapping[str, Intent],
    report: Report,
    guard: WriteGuard | None,
    observe: Callable[[Mapping[str, Published]], None] | None,
) -> None:
    pending = plan
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        results = await target.apply([_with_write_id(c) for c in pending.changes], guard)
        conflicted = sorted({r.change.profile for r in results if r.outcome is Outcome.CONFLICT})
        for r in results:
            if r.outcome is Outcome.APPLIED:
                report.results.append(r)
                _audit(r)
            elif r.outcome is Outcome.FAILED:
                report.results.append(r)
                if r.retry_in is not None:
                    continue  # held back (budget, deadline), not failed: said once below
                log.error(
                    "%s: %s failed: %s%s",
                    r.change.profile,
                    r.change.name,
                    r.error,
                    f" ({r.hint})" if r.hint else "",
                )
        if held := [r for r in results if r.retry_in is not None and r.outcome is Outcome.FAILED]:
            log.warning("%d write(s) held back, to be written later: %s", len(held), held[0].error)
        if not conflicted:
            return
        if attempt == MAX_CONFLICT_RETRIES or not may_write(guard):
            for r in results:
                if r.outcome is Outcome.CONFLICT:
                    report.results.append(r)
            if attempt < MAX_CONFLICT_RETRIES:
                report.errors.append(
                    ReportError(f"{NOT_HOLDER}; the pass ended without re-reading {', '.join(conflicted)}")
                )
            return
        # Someone else wrote between our read and our write (or our own write landed and only its
        # answer was lost): read again, recognise our own writes, and plan the rest again.
        log.warning("records changed while writing (412) for %s; re-reading", ", ".join(conflicted))
        report.conflicts_retried += 1
        again = [p for p in published_profiles(spec) if p.name in conflicted]
        try:
            fresh = dict(await target.read(again))
        except TargetError as e:
            report.errors.append(ReportError(_with_hint(str(e), e.hint), e.transient))
            return
        report.published.update(fresh)
        for r in results:
            landed = _landed(r, fresh) if r.outcome is Outcome.CONFLICT else None
            if landed is not None:
                log.warning(
                    "%s: %s: the write's answer was lost, but the record holds it (write id %s)",
                    r.change.profile,
                    r.change.name,
                    (r.change.metadata or {}).get(WRITE_KEY),
                )
                report.results.append(landed)
                _audit(landed)
                fresh.pop(r.change.profile, None)
                conflicted.remove(r.change.profile)
        if observe is not None and fresh:
            observe(fresh)
        again = [p for p in again if p.name in conflicted]
        if not again:
            return
        replanned = _plan(again, wanted, fresh)
        report.refused.extend(replanned.refusals)
        pending = replanned
        if not pending.changes:
            return


def _with_write_id(c: Change) -> Change:
    """The change with a write id of its own in the metadata it writes (a delete writes none)."""
    if c.action is Action.DELETE:
        return c
    return replace(c, metadata={**(c.metadata or {}), WRITE_KEY: uuid.uuid4().hex[:16]})


def _landed(r: ChangeResult, fresh: Mapping[str, Published]) -> ChangeResult | None:
    """The change as applied, if the re-read record holds its value and its write id."""
    c = r.change
    sent = (c.metadata or {}).get(WRITE_KEY)
    pub = fresh.get(c.profile)
    if sent is None or c.after is None or pub is None:
        return None
    rec = pub.of(c.after.type)
    if rec is None or rec.value != c.after or (rec.metadata or {}).get(WRITE_KEY) != sent:
        return None
    return ChangeResult(c, Outcome.APPLIED, etag=rec.etag)


def _audit(r: ChangeResult) -> None:
    c: Change = r.change
    if c.action is Action.STATE:
        log.debug("%s: stored health history on %s", c.profile, c.name)
        return
    audit.info(
        "dns change: profile=%s record=%s action=%s before=%s after=%s reason=%s etag=%s",
        c.profile,
        c.name,
        c.action.value,
        c.before or "-",
        c.after or "-",
        c.reason,
        r.etag or "-",
        extra={
            "audit": {
                "profile": c.profile,
                "record": c.name,
                "action": c.action.value,
                "before": str(c.before) if c.before else None,
                "after": str(c.after) if c.after else None,
                "reason": c.reason,
                "etag": r.etag,
            }
        },
    )


def _with_hint(message: str, hint: str) -> str:
    return f"{message} ({hint})" if hint else message
