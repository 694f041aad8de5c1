"""The decision history of a profile: the last decisions, each with the verdicts that led to it.

An entry is made for every decision change (`DecisionChange`) of a round: when, which profile and
view, from what to what, why, and the evidence (each endpoint's status then, with its last probe
result). It is kept in the profile's state, so it is stored with the health history and survives
a restart. Pure: the caller gives the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status
from dnsctl.core.model import Override, ProfileSpec
from dnsctl.core.routing import classify_move

# Entries kept per profile in memory and in a state file; record metadata keeps fewer (see codec).
HISTORY_LIMIT = 20


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    time: float
    profile: str
    view: str | None
    old: str | None  # what the profile pointed at before ("eastus", "fallback:x", None at first)
    new: str
    kind: str  # "failover", "failback", "all-down", "frozen", "first" or "change"
    reason: str
    evidence: tuple[tuple[str, str], ...] = ()  # (endpoint, "Degraded: connect-timeout") in config order


def target_text(d: Decision | None) -> str | None:
    if d is None:
        return None
    if d.endpoints:
        return ",".join(d.endpoints)
    return f"fallback:{d.fallback}" if d.fallback else "-"


def kind_of(
    profile: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    overrides: Mapping[str, Override],
    old: Decision | None,
    new: Decision,
) -> str:
    if new.kind is DecisionKind.FROZEN:
        return "frozen"
    if new.kind is DecisionKind.ALL_DOWN:
        return "all-down"
    if old is None:
        return "first"
    move = classify_move(profile, health, overrides, old, new)
    return move.value if move is not None else "change"


def evidence(
    profile: ProfileSpec, health: Mapping[str, EndpointHealth], overrides: Mapping[str, Override]
) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for ep in profile.endpoints:
        h = health.get(ep.name, EndpointHealth())
        status = effective_status(ep, h, overrides.get(ep.name))
        text = status.value
        if ep.name in overrides or ep.override is not Override.OBEY:
            pin = overrides.get(ep.name, ep.override)
            text += f" (override {pin.value})"
        elif status is not MonitorStatus.DISABLED and h.last is not None and not h.last.ok:
            text += f": {h.last.describe()}"
        out.append((ep.name, text))
    return tuple(out)


def entry(
    profile: ProfileSpec,
    health: Mapping[str, EndpointHealth],
    overrides: Mapping[str, Override],
    view: str | None,
    old: Decision | None,
    new: Decision,
    now: float,
) -> HistoryEntry:
    return HistoryEntry(
        time=now,
        profile=profile.name,
        view=view,
        old=target_text(old),
        new=target_text(new) or "-",
        kind=kind_of(profile, health, overrides, old, new),
        reason=new.reason,
        evidence=evidence(profile, health, overrides),
    )


def append(
    history: Sequence[HistoryEntry], entries: Sequence[HistoryEntry], limit: int = HISTORY_LIMIT
) -> tuple[HistoryEntry, ...]:
    """The history with `entries` added, the oldest dropped beyond `limit`."""
    if not entries:
        return tuple(history)
    both = (*history, *entries)
    return both[-limit:] if limit > 0 else ()
