"""What the Azure writes of a pass cost, and in which order they go (for `controller/reconcile.py`).

- Order: failovers first (a change away from a Degraded endpoint), then the other DNS changes, then
  writes of the health history alone; a profile's own steps keep their order.
- History alone (`HistoryWrites.SETTLED`, where the history is kept in the records): written only when
  more than the counts toward `fall` and `rise` changed (a status and its time, a hold, flaps, an
  operator's action, the decision); the counts are never written alone. `run` keeps them in memory; a
  one-shot run probes again until they settle (`settle`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import STATE_KEY, WRITE_KEY, Action, Change, Plan, Published, RecordValue
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.engine import Engine


class HistoryWrites(StrEnum):
    """When a write of the health history alone (the DNS answer unchanged) is made."""

    ALWAYS = "always"  # whenever the stored history differs
    SETTLED = "settled"  # not when only the probe counts toward `fall`/`rise` differ


def counting(profile: ProfileSpec, st: ProfileState) -> bool:
    """Whether an endpoint of the profile is counting toward `fall` (not yet Degraded) or `rise`."""
    for ep in profile.endpoints:
        h = st.endpoints.get(ep.name)
        if h is None or h.status is MonitorStatus.DISABLED:
            continue
        if (h.failures and h.status is not MonitorStatus.DEGRADED) or (
            h.successes and h.status is MonitorStatus.DEGRADED
        ):
            return True
    return False


async def settle(engine: Engine, first: RoundOutcome) -> RoundOutcome:
    """Probe again, back to back, the profiles left counting toward `fall` or `rise`, until their
    counts settle (a verdict, or a reset) or `max(fall, rise)` rounds have run in all."""
    spec = engine.spec
    outcome = first
    transitions, changes, results = list(first.transitions), list(first.changes), list(first.results)
    rounds = 1
    while True:
        pending = [p for p in spec.profiles if counting(p, engine.states[p.name])]
        bound = max((max(p.monitor.fall, p.monitor.rise) for p in pending), default=0)
        if rounds >= bound:
            break
        outcome = await engine.round([p.name for p in pending])
        rounds += 1
        transitions.extend(outcome.transitions)
        changes.extend(outcome.changes)
        results.extend(outcome.results)
    return replace(outcome, transitions=tuple(transitions), changes=tuple(changes), results=tuple(results))


def trimmed(
    spec: DnsctlSpec,
    plan: Plan,
    published: Mapping[str, Published],
    health: Mapping[str, ProfileState],
    history: HistoryWrites,
) -> Plan:
    """The plan with only the writes worth making (see `worth`), failovers first (see `ordered`)."""
    kept = [c for c in plan.changes if worth(c, published, history)]
    return replace(plan, changes=ordered(spec, kept, health))


def worth(c: Change, published: Mapping[str, Published], history: HistoryWrites) -> bool:
    """Whether a change is written: every DNS change; a write of the history alone as `history` says."""
    if c.action is not Action.STATE or history is HistoryWrites.ALWAYS:
        return True
    pub = published.get(c.profile)
    rec = pub.of(c.after.type) if pub is not None and c.after is not None else None
    after = (c.metadata or {}).get(STATE_KEY)
    if rec is None or rec.state is None or after is None:
        return True
    before = rec.state
    return _without_counts(before) != _without_counts(after) or _others(rec.metadata) != _others(c.metadata)


def _without_counts(text: str) -> object:
    """A stored history without the probe counts toward `fall` and `rise` (`ko`, `ok`)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict) and isinstance(doc.get("e"), dict):
        for entry in doc["e"].values():
            if isinstance(entry, dict):
                entry.pop("ko", None)
                entry.pop("ok", None)
    return doc


def _others(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The record's metadata but for the history and the write id (these change with every write)."""
    return {k: v for k, v in (metadata or {}).items() if k not in (STATE_KEY, WRITE_KEY)}


def ordered(
    spec: DnsctlSpec, changes: Sequence[Change], health: Mapping[str, ProfileState]
) -> tuple[Change, ...]:
    """Failovers first (away from a Degraded endpoint), then other DNS changes, then history alone;
    a profile's own steps (a type switch's delete, then create) stay in their order."""
    rank: dict[str, int] = {}
    for c in changes:
        rank[c.profile] = min(rank.get(c.profile, 2), _rank(spec, c, health))
    return tuple(sorted(changes, key=lambda c: rank[c.profile]))


def _rank(spec: DnsctlSpec, c: Change, health: Mapping[str, ProfileState]) -> int:
    if not c.changes_dns:
        return 2
    st = health.get(c.profile)
    if st is None or c.before is None:
        return 1
    for ep in spec.profile(c.profile).endpoints:
        if _points_at(ep.target, ep.addresses, c.before):
            status = effective_status(
                ep, st.endpoints.get(ep.name, EndpointHealth()), st.overrides.get(ep.name)
            )
            if status is MonitorStatus.DEGRADED:
                return 0
    return 1


def _points_at(target: str, addresses: Sequence[str], value: RecordValue) -> bool:
    if value.type.value == "CNAME":
        return bool(value.values) and value.values[0].lower().rstrip(".") == target.lower().rstrip(".")
    return bool(set(value.values) & set(addresses))
