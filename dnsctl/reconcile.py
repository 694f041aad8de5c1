"""One reconcile pass: read, probe, decide, plan, check safety, apply, report.

Shared by `dnsctl plan`, `dnsctl reconcile` and the long-running controller. A 412 from the
target means someone else wrote: the affected profiles are re-read and re-planned, a bounded
number of times, and never overwritten blindly.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from dnsctl.core import codec
from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import Action, Change, Plan, Published, make_plan, safety_problems
from dnsctl.core.routing import Decision, DecisionKind, RoutingState
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.engine import Engine
from dnsctl.errors import StateError, TargetError
from dnsctl.targets.base import ChangeResult, Outcome, Target

audit = logging.getLogger("dnsctl.audit")
log = logging.getLogger("dnsctl.reconcile")

MAX_CONFLICT_RETRIES = 3


class ExitCode(IntEnum):
    CONVERGED = 0
    FAILED = 1
    BAD_CONFIG = 2
    REFUSED = 3
    DEGRADED = 4


@dataclass
class Report:
    plan: Plan
    results: list[ChangeResult] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # safety problems and ownership refusals
    errors: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)  # profiles with no Online endpoint
    outcome: RoundOutcome | None = None
    conflicts_retried: int = 0
    dry_run: bool = False
    published: dict[str, Published] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        if self.errors or any(r.outcome is not Outcome.APPLIED for r in self.results):
            return ExitCode.FAILED
        if self.refused:
            return ExitCode.REFUSED
        if self.degraded:
            return ExitCode.DEGRADED
        return ExitCode.CONVERGED


class StateFile:
    """Health history kept in a local JSON file, for records that carry no metadata."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise StateError(f"{self.path}: the state file cannot be read: {e}") from None
        if not isinstance(data, dict):
            raise StateError(f"{self.path}: the state file is not a JSON object")
        return {str(k): str(v) for k, v in data.items()}

    def save(self, states: Mapping[str, str]) -> None:
        # Write then rename, so a crash never leaves half a file behind.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".dnsctl-state-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(dict(sorted(states.items())), f, indent=1)
            os.replace(tmp, self.path)
        except OSError as e:
            raise StateError(f"{self.path}: the state file cannot be written: {e.strerror or e}") from None


def azure_profiles(spec: DnsctlSpec) -> list[ProfileSpec]:
    return [p for p in spec.profiles if p.azure is not None]


def restore_states(
    spec: DnsctlSpec, published: Mapping[str, Published], stored: Mapping[str, str], now: float
) -> dict[str, ProfileState]:
    """Health history from the state file, else from the record's metadata, else a fresh start."""
    states: dict[str, ProfileState] = {}
    for p in spec.profiles:
        text = stored.get(p.name)
        if text is None and p.azure is not None and p.name in published:
            rec = published[p.name].of(p.azure.record_type)
            text = rec.state if rec is not None else None
        if text is not None:
            try:
                states[p.name] = codec.decode(p, text)
                continue
            except codec.StateDecodeError as e:
                log.warning("profile %s: ignoring stored health history: %s", p.name, e)
        states[p.name] = ProfileState(
            started_at=now, routing=RoutingState(_seed(p, published.get(p.name), now))
        )
    return states


def _seed(profile: ProfileSpec, published: Published | None, now: float) -> Decision | None:
    """With no stored history, the published record is the current choice: failback rules apply to it."""
    if published is None or profile.azure is None:
        return None
    rec = published.of(profile.azure.record_type)
    if rec is None or rec.owner is None:
        return None
    for ep in profile.endpoints:
        # An A record may hold only some of the endpoint's addresses (the others were down).
        if rec.value.values == (ep.target,) or (ep.addresses and set(rec.value.values) <= set(ep.addresses)):
            return Decision(DecisionKind.ENDPOINT, (ep.name,), f"{ep.name} is what the record points at", now)
    return None


def degraded_profiles(
    spec: DnsctlSpec, states: Mapping[str, ProfileState], names: Sequence[str] | None = None
) -> list[str]:
    out = []
    for p in spec.profiles:
        if names is not None and p.name not in names:
            continue
        st = states.get(p.name)
        d = st.decision if st is not None else None
        if d is not None and d.kind in (DecisionKind.ALL_DOWN, DecisionKind.FROZEN):
            out.append(p.name)
            continue
        if st is not None and d is not None:
            online = [
                ep
                for ep in p.endpoints
                if effective_status(
                    ep, st.endpoints.get(ep.name, EndpointHealth()), st.overrides.get(ep.name)
                )
                is MonitorStatus.ONLINE
            ]
            if not online:
                out.append(p.name)
    return out


def _any_online(spec: DnsctlSpec, states: Mapping[str, ProfileState], name: str) -> bool:
    p, st = spec.profile(name), states.get(name)
    if st is None:
        return False
    return any(
        effective_status(ep, st.endpoints.get(ep.name, EndpointHealth()), st.overrides.get(ep.name))
        is MonitorStatus.ONLINE
        for ep in p.endpoints
    )


async def reconcile_once(
    engine: Engine,
    target: Target,
    *,
    dry_run: bool = False,
    force: bool = False,
    state_file: StateFile | None = None,
) -> Report:
    """The one-shot pass: restore the health history, probe once, then converge."""
    spec = engine.spec
    target.begin_pass()
    try:
        published = dict(await target.read(azure_profiles(spec)))
    except TargetError as e:
        return Report(Plan(()), errors=[_with_hint(str(e), e.hint)], dry_run=dry_run)
    stored = state_file.load() if state_file is not None else {}
    engine.states = restore_states(spec, published, stored, engine.clock.now())
    outcome = await engine.round()
    if state_file is not None and not dry_run:
        state_file.save({p.name: codec.encode(p, engine.states[p.name]) for p in spec.profiles})
    report = await converge(
        engine, target, published=published, dry_run=dry_run, force=force, in_metadata=state_file is None
    )
    report.outcome = outcome
    return report


async def converge(
    engine: Engine,
    target: Target,
    *,
    profiles: Sequence[str] | None = None,
    published: Mapping[str, Published] | None = None,
    dry_run: bool = False,
    force: bool = False,
    in_metadata: bool = True,
) -> Report:
    """Bring the records of `profiles` (default all) to the engine's current decisions."""
    spec = engine.spec
    chosen = [p for p in azure_profiles(spec) if profiles is None or p.name in profiles]
    if published is None:
        target.begin_pass()
        try:
            published = await target.read(chosen)
        except TargetError as e:
            return Report(Plan(()), errors=[_with_hint(str(e), e.hint)], dry_run=dry_run)
    current = {k: v for k, v in published.items() if k in {p.name for p in chosen}}
    plan = _plan(chosen, engine, current, in_metadata=in_metadata)
    names = [p.name for p in chosen]
    degraded = degraded_profiles(spec, engine.states, names)
    # Nothing published and nothing to publish, with no endpoint Online: that is degraded too.
    degraded += [n for n in plan.unpublished if n not in degraded and not _any_online(spec, engine.states, n)]
    report = Report(plan, dry_run=dry_run, degraded=degraded, published=current)
    report.refused = [f"{r.profile}: {r.name}: {r.reason}" for r in plan.refusals]
    problems = safety_problems(plan, spec.safety.max_changes_per_run, force)
    report.refused.extend(problems)
    if dry_run or problems or not plan.changes:
        return report
    await _apply(engine, target, plan, current, report, in_metadata=in_metadata)
    return report


def _plan(
    profiles: Sequence[ProfileSpec], engine: Engine, published: Mapping[str, Published], *, in_metadata: bool
) -> Plan:
    profiles = [p for p in profiles if p.name in published]
    states = {p.name: codec.encode(p, engine.states[p.name]) for p in profiles} if in_metadata else None
    decisions = {p.name: engine.states[p.name].decision for p in profiles}
    return make_plan(profiles, published, decisions, states)


async def _apply(
    engine: Engine,
    target: Target,
    plan: Plan,
    published: Mapping[str, Published],
    report: Report,
    *,
    in_metadata: bool,
) -> None:
    pending = plan
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        results = await target.apply(pending.changes)
        conflicted = sorted({r.change.profile for r in results if r.outcome is Outcome.CONFLICT})
        for r in results:
            if r.outcome is Outcome.APPLIED:
                report.results.append(r)
                _audit(r)
            elif r.outcome is Outcome.FAILED:
                report.results.append(r)
                log.error(
                    "%s: %s failed: %s%s",
                    r.change.profile,
                    r.change.name,
                    r.error,
                    f" ({r.hint})" if r.hint else "",
                )
        if not conflicted:
            return
        if attempt == MAX_CONFLICT_RETRIES:
            for r in results:
                if r.outcome is Outcome.CONFLICT:
                    report.results.append(r)
            return
        # Someone else wrote between our read and our write: read again and plan again.
        log.warning("records changed while writing (412) for %s; re-reading", ", ".join(conflicted))
        report.conflicts_retried += 1
        spec = engine.spec
        again = [p for p in azure_profiles(spec) if p.name in conflicted]
        try:
            fresh = await target.read(again)
        except TargetError as e:
            report.errors.append(_with_hint(str(e), e.hint))
            return
        report.published.update(fresh)
        replanned = _plan(again, engine, fresh, in_metadata=in_metadata)
        report.refused.extend(f"{r.profile}: {r.name}: {r.reason}" for r in replanned.refusals)
        pending = replanned
        if not pending.changes:
            return


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
