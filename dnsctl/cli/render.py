"""Human tables and JSON documents for what the commands report. No printing here; the CLI prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dnsctl.core.health import EndpointHealth, effective_status
from dnsctl.core.model import DnsctlSpec, EndpointSpec, Override
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


def endpoint_doc(
    name: str, target: str, status: str, h: EndpointHealth, override: tuple[str, str] | None = None
) -> dict[str, Any]:
    """One endpoint; `override` is (value, by) when an operator or the config pins it up or down."""
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
        "override": override[0] if override else None,
        "override_by": override[1] if override else None,
    }


def _override(ep: EndpointSpec, operator: Override | None) -> tuple[str, str] | None:
    if operator is not None and operator is not Override.OBEY:
        return operator.value, "operator"
    if ep.override is not Override.OBEY:
        return ep.override.value, "config"
    return None


def addresses_doc(ep: EndpointSpec, h: EndpointHealth) -> list[dict[str, Any]]:
    """Per-address health: every configured address, with its own verdict and last probe."""
    out = []
    for address in ep.addresses:
        # An endpoint with one address is probed there: its health is the address's.
        ah = h.addresses.get(address) if len(ep.addresses) > 1 else h
        last = ah.last if ah is not None else None
        out.append(
            {
                "address": address,
                "status": ah.status.value if ah is not None else "CheckingEndpoint",
                "ok": last.ok if last else None,
                "status_code": last.status_code if last else None,
                "latency_ms": round(last.latency * 1000, 1) if last else None,
                "reason": last.reason.value if last and last.reason else None,
                "detail": last.detail if last else "",
            }
        )
    return out


def health_doc(spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> dict[str, Any]:
    profiles = []
    for p in spec.profiles:
        st = states[p.name]
        endpoints = []
        for ep in p.by_priority:
            h = st.endpoints.get(ep.name, EndpointHealth())
            status = effective_status(ep, h, st.overrides.get(ep.name)).value
            override = _override(ep, st.overrides.get(ep.name))
            endpoints.append(
                {**endpoint_doc(ep.name, ep.target, status, h, override), "addresses": addresses_doc(ep, h)}
            )
        profiles.append(
            {
                "name": p.name,
                "fqdn": p.fqdn,
                "routing": p.routing.value,
                "target_kind": p.publication.kind if p.publication is not None else None,
                "decision": decision_doc(st.decision),
                "views": {v: decision_doc(r.decision) for v, r in st.views.items()},
                "overrides": {k: v.value for k, v in st.overrides.items()},
                "endpoints": endpoints,
            }
        )
    return {"profiles": profiles}


def health_table(doc: Mapping[str, Any]) -> str:
    """Every endpoint's verdict with what an operator needs to know about it, then every decision."""
    rows = []
    for p in doc["profiles"]:
        for e in p["endpoints"]:
            rows.append(
                [
                    p["name"],
                    e["name"],
                    e["address"] or "-",
                    e["status"],
                    e.get("since") or "-",
                    str(e["status_code"] or "-"),
                    f"{e['latency_ms']:.0f} ms" if e["latency_ms"] is not None else "-",
                    "; ".join(endpoint_notes(e)) or "-",
                ]
            )
            if len(e.get("addresses", ())) > 1:
                for a in e["addresses"]:
                    why = a["reason"] or ""
                    if a["detail"] and not a["ok"]:
                        why = f"{why}: {a['detail']}" if why else a["detail"]
                    latency = f"{a['latency_ms']:.0f} ms" if a["latency_ms"] is not None else "-"
                    code = str(a["status_code"] or "-")
                    rows.append(["", "", a["address"], a["status"], "", code, latency, why or "-"])
    headers = ["profile", "endpoint", "address", "verdict", "since", "code", "latency", "notes"]
    out = [table(headers, rows), ""]
    for p in doc["profiles"]:
        kind = f" [{p['target_kind']}]" if p.get("target_kind") not in (None, "azure") else ""
        out.append(f"{p['name']} ({p['fqdn']}){kind} {decision_line(p['decision'], p['endpoints'])}")
        for view, d in sorted((p.get("views") or {}).items()):
            out.append(f"  view {view} {decision_line(d, p['endpoints'])}")
    return "\n".join(out)


def endpoint_notes(e: Mapping[str, Any]) -> list[str]:
    notes = []
    override, by = e.get("override"), e.get("override_by")
    if override == "down":
        notes.append("drained by operator" if by == "operator" else "pinned down by the config")
    elif override == "up":
        notes.append("pinned Online by operator" if by == "operator" else "pinned Online by the config")
    if e.get("damped_until"):
        notes.append(f"damped until {e['damped_until']}")
    if e.get("flaps"):
        notes.append(f"{e['flaps']} flap{'' if e['flaps'] == 1 else 's'}")
    if e.get("ok") is False:
        reason = e.get("reason") or ""
        detail = e.get("detail") or ""
        notes.append(f"{reason}: {detail}" if reason and detail else reason or detail)
    return [n for n in notes if n]


def decision_line(d: Mapping[str, Any] | None, endpoints: Sequence[Mapping[str, Any]]) -> str:
    if d is None:
        return "has no decision yet: waiting for every endpoint's verdict"
    targets = {e["name"]: e["target"] for e in endpoints}
    if d["endpoints"]:
        where = ", ".join(f"{n} ({targets[n]})" if n in targets else n for n in d["endpoints"])
    else:
        where = f"fallback {d['fallback']}"
    since = f" since {d['since']}" if d.get("since") else ""
    return f"-> {where}{since}: {d['reason']}"


def controller_lines(doc: Mapping[str, Any]) -> list[str]:
    """What `dnsctl status` adds for a controller: leadership, the lease, published records, errors."""
    out = []
    lead = doc.get("leadership")
    if lead is not None:
        role = "leader" if lead["held"] else "standby"
        if lead.get("writing"):
            writing = "writing DNS"
        elif lead["held"] and (doc.get("state") or {}).get("read") is False:
            writing = "reading the stored state; not writing DNS until it is read"
        else:
            writing = "not writing DNS"
        out.append(f"leadership: {role} ({lead['kind']}, {lead['holder']}), {writing}")
        if lead.get("last_error"):
            out.append(f"lease: failing ({lead.get('errors', 0)} failed attempt(s)): {lead['last_error']}")
    for p in doc.get("profiles", ()):
        pub = p.get("published")
        if pub is not None:
            owner = "" if pub.get("managed") in (True, None) else " (not managed by dnsctl)"
            out.append(f"published: {pub['record']}: {pub['value'] or 'nothing'}{owner}")
    if "consecutive_errors" in doc:
        last = doc.get("last_successful_reconcile") or "never"
        line = f"last successful reconcile: {last}"
        if doc["consecutive_errors"]:
            line += f"; {doc['consecutive_errors']} failed in a row"
        out.append(line)
    if doc.get("last_error"):
        out.append(f"last error: {doc['last_error']}")
    if doc.get("isolated"):
        out.append("WARNING: isolation guard active: decisions are frozen")
    state = doc.get("state") or {}
    if state.get("read") is False:
        out.append(f"WARNING: stored state not read yet ({state.get('unread_reason')}); nothing is written")
    if state.get("problem"):
        out.append(f"WARNING: {state['problem']}")
    for profile, what in sorted((state.get("pending") or {}).items()):
        out.append(
            f"WARNING: {profile}: {what} is in effect but NOT saved yet (a restart now would forget it)"
        )
    for p in doc.get("profiles", ()):
        if p.get("drift"):
            d = p["drift"]
            out.append(f"drift: {d['record']} found {d['found']}, expected {d['expected']} ({d['at']})")
    return out


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
        "origin": c.origin.value,
        "counts_toward_limit": c.counts_toward_limit,
        "type_switch": c.type_switch,
    }


def _value_doc(v: RecordValue | None) -> dict[str, Any] | None:
    return None if v is None else {"type": v.type.value, "values": list(v.values), "ttl": v.ttl}


def plan_table(plan: Plan) -> str:
    if not plan.changes:
        # Only when that is the whole story: a refusal or a name left unpublished is not "in sync".
        settled = not (plan.refusals or plan.waiting or plan.unpublished)
        lines = ["No changes: the published records match the decisions."] if settled else []
    else:
        rows = [
            [c.profile, c.name, c.action.value, c.origin.value, _value(c.before), _value(c.after), c.reason]
            for c in plan.changes
        ]
        lines = [table(["profile", "record", "action", "origin", "before", "after", "reason"], rows)]
    lines += [f"refused: {r}" for r in plan.refusals]
    lines += [
        f"waiting: {name}: no decision yet (endpoints without a verdict); nothing is written"
        for name in plan.waiting
    ]
    return "\n".join(lines)
