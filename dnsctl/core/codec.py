"""The health history of a profile as a compact string, stored with its record (or in a state file).

The encoding is canonical and leaves out what changes every round without changing behaviour
(latencies, last results, counts that no longer lead to a transition), so that a steady state
encodes to the same string run after run and costs no write.

Decoding trusts nothing: every field is type-checked, and what the configuration does not have
(endpoints, a fallback target, profiles) is dropped and named, never restored. A stored
`"fb": "evil.example"` therefore never becomes an answer.

The decision history (`"h"`, the last decisions with their evidence) is an optional key of the same
version: a state written before it existed loads with an empty history, and an older dnsctl reading
a newer state ignores the key (its hysteresis is kept either way). It is text for people, never
steers: it is only type-checked and bounded. Record metadata keeps fewer and shorter entries than a
state file (`METADATA_HISTORY`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.history import HISTORY_LIMIT, HistoryEntry
from dnsctl.core.model import DnsctlSpec, Override, ProfileSpec
from dnsctl.core.state import ProfileState

VERSION = 1
_STATUS = {MonitorStatus.CHECKING: "C", MonitorStatus.ONLINE: "O", MonitorStatus.DEGRADED: "D"}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}


# In record metadata (a string value on the record set, sent with every write) the history is kept short.
METADATA_HISTORY = 5
_REASON_CHARS = 240  # per entry, in a state file
_METADATA_REASON_CHARS = 120
_EVIDENCE_CHARS = 80
_MAX_TEXT = 1000  # what decode accepts for any one text of an entry


class StateDecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Decoded:
    state: ProfileState
    dropped: tuple[str, ...] = ()  # what was stored but is not in the configuration, said in words


def encode(profile: ProfileSpec, st: ProfileState, *, history: int = HISTORY_LIMIT) -> str:
    """`history`: how many of the last decisions to keep (record metadata keeps `METADATA_HISTORY`)."""
    m = profile.monitor
    endpoints: dict[str, Any] = {}
    for name, h in sorted(st.endpoints.items()):
        if h.status is MonitorStatus.DISABLED:
            continue
        entry: dict[str, Any] = {"s": _STATUS[h.status]}
        # Successes count only toward `rise` (while Degraded), failures only toward `fall`.
        if h.successes and h.status is MonitorStatus.DEGRADED:
            entry["ok"] = min(h.successes, m.rise)
        if h.failures and h.status is not MonitorStatus.DEGRADED:
            entry["ko"] = min(h.failures, m.fall)
        if h.flaps:
            entry["fl"] = h.flaps
        if h.flap_times:
            entry["ft"] = [round(t) for t in h.flap_times]
        if h.hold_until is not None:
            entry["hu"] = round(h.hold_until)
        if h.since is not None:
            entry["t"] = round(h.since)
        endpoints[name] = entry
    doc: dict[str, Any] = {"v": VERSION, "st": round(st.started_at), "e": endpoints}
    d = st.routing.decision
    if d is not None:
        doc["d"] = {"k": d.kind.value, "e": list(d.endpoints), "t": round(d.since)}
        if d.fallback is not None:
            doc["d"]["fb"] = d.fallback
        if d.keep_current:
            doc["d"]["kc"] = 1
        if d.last_answer:
            doc["d"]["la"] = 1
    if st.routing.failback_requested:
        doc["fr"] = 1
    if st.overrides:
        doc["o"] = {k: v.value for k, v in sorted(st.overrides.items())}
    kept = st.history[-history:] if history > 0 else ()
    if kept:
        chars = _REASON_CHARS if history > METADATA_HISTORY else _METADATA_REASON_CHARS
        doc["h"] = [_encode_entry(h, chars) for h in kept]
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def _encode_entry(h: HistoryEntry, chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {"t": round(h.time), "n": h.new, "k": h.kind, "r": _clip(h.reason, chars)}
    if h.view is not None:
        out["w"] = h.view
    if h.old is not None:
        out["f"] = h.old
    if h.evidence:
        out["ev"] = [[name, _clip(text, _EVIDENCE_CHARS)] for name, text in h.evidence]
    return out


def history_of(profile: str, text: str) -> tuple[HistoryEntry, ...]:
    """Only the decision history of an encoded state (read without the configuration: it never steers)."""
    doc = _object(_load(text), "the stored state")
    return _decode_history(profile, doc["h"]) if "h" in doc else ()


def _decode_history(profile: str, raw: object) -> tuple[HistoryEntry, ...]:
    entries: list[HistoryEntry] = []
    for i, item in enumerate(_list(raw, "history")[-HISTORY_LIMIT:]):
        e = _object(item, f"history entry {i}")
        evidence: list[tuple[str, str]] = []
        for pair in _list(e.get("ev", []), f"history entry {i}: evidence"):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise StateDecodeError(f"history entry {i}: evidence is not a list of [endpoint, verdict]")
            evidence.append((_text(pair[0], "evidence"), _text(pair[1], "evidence")))
        entries.append(
            HistoryEntry(
                time=_time(e.get("t"), f"history entry {i}"),
                profile=profile,
                view=_text(e["w"], "view") if "w" in e else None,
                old=_text(e["f"], "from") if "f" in e else None,
                new=_text(e.get("n"), "to"),
                kind=_text(e.get("k"), "kind"),
                reason=_text(e.get("r"), "reason"),
                evidence=tuple(evidence),
            )
        )
    return tuple(entries)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise StateDecodeError(f"history: {what} is not a short text")
    return value


def decode(profile: ProfileSpec, text: str) -> Decoded:
    """Rebuild a profile's state, keeping only what the configuration still has."""
    doc = _object(_load(text), "the stored state")
    if doc.get("v") != VERSION:
        raise StateDecodeError(f"unsupported state version {doc.get('v')!r}")
    known = {ep.name for ep in profile.endpoints}
    dropped: list[str] = []
    endpoints: dict[str, EndpointHealth] = {}
    for name, raw in _object(doc.get("e", {}), "endpoints").items():
        if name not in known:
            dropped.append(f"endpoint {name!r}")
            continue
        e = _object(raw, f"endpoint {name!r}")
        s = e.get("s")
        status = _STATUS_BACK.get(s) if isinstance(s, str) else None
        if status is None:
            raise StateDecodeError(f"endpoint {name!r}: unknown status {e.get('s')!r}")
        endpoints[name] = EndpointHealth(
            status=status,
            successes=_count(e, "ok"),
            failures=_count(e, "ko"),
            flaps=_count(e, "fl"),
            flap_times=tuple(_time(t, "ft") for t in _list(e.get("ft", []), "ft")),
            hold_until=_time(e["hu"], "hu") if "hu" in e else None,
            since=_time(e["t"], "t") if "t" in e else None,
        )
    decision = _decision(profile, doc.get("d"), known, dropped) if "d" in doc else None
    overrides: dict[str, Override] = {}
    for name, value in _object(doc.get("o", {}), "overrides").items():
        if name not in known:
            dropped.append(f"the override of endpoint {name!r}")
            continue
        try:
            overrides[name] = Override(value)
        except (ValueError, TypeError):
            raise StateDecodeError(f"override of {name!r}: unknown value {value!r}") from None
    return Decoded(
        ProfileState(
            started_at=_time(doc.get("st"), "st"),
            endpoints=endpoints,
            routing=RoutingState(decision=decision, failback_requested=doc.get("fr") == 1),
            overrides=overrides,
            history=_decode_history(profile.name, doc["h"]) if "h" in doc else (),
        ),
        tuple(dropped),
    )


def _decision(profile: ProfileSpec, raw: object, known: set[str], dropped: list[str]) -> Decision | None:
    d = _object(raw, "decision")
    try:
        kind = DecisionKind(str(d.get("k")))
    except ValueError:
        raise StateDecodeError(f"decision: unknown kind {d.get('k')!r}") from None
    names: list[str] = []
    for n in _list(d.get("e", []), "decision endpoints"):
        if not isinstance(n, str):
            raise StateDecodeError("decision endpoints: not a name")
        if n in known:
            names.append(n)
        else:
            dropped.append(f"endpoint {n!r} of the decision")
    fallback = d.get("fb")
    if fallback is not None and fallback != profile.fallback:
        # Only the configured fallback may be restored: the file is not a place to steer from.
        dropped.append(f"fallback target {fallback!r} (the configured fallback is {profile.fallback!r})")
        fallback = None
    if not names and fallback is None:
        return None
    return Decision(
        kind,
        tuple(names),
        "restored from stored state",
        _time(d.get("t"), "decision time"),
        fallback=fallback,
        keep_current=d.get("kc") == 1,
        last_answer=d.get("la") == 1,
    )


def decode_document(text: str) -> dict[str, str]:
    """A state file's content: each profile's encoded state by profile name."""
    doc = _object(_load(text), "the state file")
    out: dict[str, str] = {}
    for name, value in doc.items():
        if not isinstance(value, str):
            raise StateDecodeError(f"profile {name!r}: the stored state is not a string")
        out[name] = value
    return out


def encode_document(spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> str:
    doc = {p.name: encode(p, states[p.name]) for p in spec.profiles if p.name in states}
    return json.dumps(dict(sorted(doc.items())), indent=1) + "\n"


def _load(text: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise StateDecodeError("not readable: nested too deeply") from None
    except ValueError as e:
        raise StateDecodeError(f"not readable: {e}") from None


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StateDecodeError(f"{what} is not a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise StateDecodeError(f"{what} is not a list")
    return value


def _count(e: Mapping[str, Any], key: str) -> int:
    value = e.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StateDecodeError(f"{key}: not a count: {value!r}")
    return value


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateDecodeError(f"{what}: not a time: {value!r}")
    return float(value)
