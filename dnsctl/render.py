"""Human tables and JSON documents for what the commands report. No printing here; the CLI prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dnsctl.core.health import EndpointHealth, effective_status
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.plan import Change, Plan, RecordValue
from dnsctl.core.routing import Decision
from dnsctl.core.state import ProfileState


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decision_doc(d: Decision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "kind": d.kind.value,
        "endpoints": list(d.endpoints),
        "fallback": d.fallback,
        "keep_current": d.keep_current,
        "reason": d.reason,
        "since": iso(d.since),
    }


def endpoint_doc(name: str, target: str, status: str, h: EndpointHealth) -> dict[str, Any]:
    last = h.last
    return {
        "name": name,
        "target": target,
        "status": status,
        "address": last.address if last else None,
        "ok": last.ok if last else None,
        "status_code": last.status_code if last else None,
        "latency_ms": round(last.latency * 1000, 1) if last else None,
        "reason": last.reason.value if last and last.reason else None,
        "detail": last.detail if last else "",
        "consecutive_successes": h.successes,
        "consecutive_failures": h.failures,
        "flaps": h.flaps,
        "damped_until": iso(h.hold_until),
        "since": iso(h.since),
    }


def health_doc(spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> dict[str, Any]:
    profiles = []
    for p in spec.profiles:
        st = states[p.name]
        endpoints = []
        for ep in p.by_priority:
            h = st.endpoints.get(ep.name, EndpointHealth())
            status = effective_status(ep, h, st.overrides.get(ep.name)).value
            endpoints.append(endpoint_doc(ep.name, ep.target, status, h))
        profiles.append(
            {
                "name": p.name,
                "fqdn": p.fqdn,
                "routing": p.routing.value,
                "decision": decision_doc(st.decision),
                "views": {v: decision_doc(r.decision) for v, r in st.views.items()},
                "overrides": {k: v.value for k, v in st.overrides.items()},
                "endpoints": endpoints,
            }
        )
    return {"profiles": profiles}


def health_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for p in doc["profiles"]:
        for e in p["endpoints"]:
            reason = e["reason"] or ""
            if e["detail"] and not e["ok"]:
                reason = f"{reason}: {e['detail']}" if reason else e["detail"]
            rows.append(
                [
                    p["name"],
                    e["name"],
                    e["target"],
                    e["address"] or "-",
                    e["status"],
                    str(e["status_code"] or "-"),
                    f"{e['latency_ms']:.0f} ms" if e["latency_ms"] is not None else "-",
                    reason or "-",
                ]
            )
    out = [table(["profile", "endpoint", "target", "address", "verdict", "code", "latency", "reason"], rows)]
    out.append("")
    for p in doc["profiles"]:
        d = p["decision"]
        if d is None:
            out.append(f"{p['name']} ({p['fqdn']}): no decision yet: waiting for every endpoint's verdict")
        else:
            where = ", ".join(d["endpoints"]) or d["fallback"]
            out.append(f"{p['name']} ({p['fqdn']}) -> {where}: {d['reason']}")
    return "\n".join(out)


def _value(v: RecordValue | None) -> str:
    return str(v) if v is not None else "-"


def change_doc(c: Change) -> dict[str, Any]:
    return {
        "profile": c.profile,
        "record": c.name,
        "action": c.action.value,
        "before": _value_doc(c.before),
        "after": _value_doc(c.after),
        "reason": c.reason,
        "etag": c.etag,
    }


def _value_doc(v: RecordValue | None) -> dict[str, Any] | None:
    return None if v is None else {"type": v.type.value, "values": list(v.values), "ttl": v.ttl}


def plan_table(plan: Plan) -> str:
    if not plan.changes:
        lines = ["No changes: the published records match the decisions."]
    else:
        rows = [
            [c.profile, c.name, c.action.value, _value(c.before), _value(c.after), c.reason]
            for c in plan.changes
        ]
        lines = [table(["profile", "record", "action", "before", "after", "reason"], rows)]
    lines += [f"refused: {r.profile}: {r.name}: {r.reason}" for r in plan.refusals]
    lines += [
        f"waiting: {name}: no decision yet (endpoints without a verdict); nothing is written"
        for name in plan.waiting
    ]
    return "\n".join(lines)
