"""The health history of a profile as a compact string, stored with its record (or in a state file).

The encoding is canonical and leaves out what changes every round without changing behaviour
(latencies, last results, counts that no longer lead to a transition), so that a steady state
encodes to the same string run after run and costs no write.
"""

from __future__ import annotations

import json
from typing import Any

from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.model import Override, ProfileSpec
from dnsctl.core.routing import Decision, DecisionKind, RoutingState
from dnsctl.core.state import ProfileState

VERSION = 1
_STATUS = {MonitorStatus.CHECKING: "C", MonitorStatus.ONLINE: "O", MonitorStatus.DEGRADED: "D"}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}


class StateDecodeError(ValueError):
    pass


def encode(profile: ProfileSpec, st: ProfileState) -> str:
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
    if st.routing.failback_requested:
        doc["fr"] = 1
    if st.overrides:
        doc["o"] = {k: v.value for k, v in sorted(st.overrides.items())}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def decode(profile: ProfileSpec, text: str) -> ProfileState:
    """Rebuild a profile's state; endpoints no longer configured are dropped."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("v") != VERSION:
            raise StateDecodeError(
                f"unsupported state version {doc.get('v') if isinstance(doc, dict) else '?'}"
            )
        known = {ep.name for ep in profile.endpoints}
        endpoints = {
            name: EndpointHealth(
                status=_STATUS_BACK[e["s"]],
                successes=int(e.get("ok", 0)),
                failures=int(e.get("ko", 0)),
                flaps=int(e.get("fl", 0)),
                flap_times=tuple(float(t) for t in e.get("ft", ())),
                hold_until=float(e["hu"]) if "hu" in e else None,
                since=float(e["t"]) if "t" in e else None,
            )
            for name, e in doc.get("e", {}).items()
            if name in known
        }
        decision = None
        if "d" in doc:
            d = doc["d"]
            names = tuple(n for n in d["e"] if n in known)
            fallback = d.get("fb")
            if names or fallback:
                decision = Decision(
                    DecisionKind(d["k"]),
                    names,
                    "restored from stored state",
                    float(d["t"]),
                    fallback=fallback,
                    keep_current=bool(d.get("kc")),
                )
        overrides = {k: Override(v) for k, v in doc.get("o", {}).items() if k in known}
        return ProfileState(
            started_at=float(doc["st"]),
            endpoints=endpoints,
            routing=RoutingState(decision=decision, failback_requested=bool(doc.get("fr"))),
            overrides=overrides,
        )
    except StateDecodeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise StateDecodeError(f"stored state is not readable: {e}") from None
