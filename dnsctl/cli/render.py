"""Every document as text and as JSON: the one renderer. No printing here; the commands print the lines.

A rendering is a list of `Line`s, each for stdout or for stderr, in the order they are printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from dnsctl.controller.reports import (
    MirrorOnceDoc,
    MirrorReport,
    ReconcileDoc,
    Report,
    ResultDoc,
    file_doc,
)
from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.plan import Plan, RecordValue
from dnsctl.documents.jsonable import ABSENT, Absent, to_json
from dnsctl.documents.sites import sites_lines
from dnsctl.documents.status import (
    DecisionDoc,
    EndpointDoc,
    HistoryDoc,
    StatusDoc,
    change_doc,
    profile_docs,
)
from dnsctl.targets.base import Outcome


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    err: bool = False  # stderr


def as_json(doc: object, *, indent: int | None = 2) -> str:
    return json.dumps(to_json(doc), indent=indent)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


# --- status and check ---------------------------------------------------------------------------


def _ms(latency_ms: float | None) -> str:
    return f"{latency_ms:.0f} ms" if latency_ms is not None else "-"


def health_table(doc: StatusDoc) -> str:
    """Every endpoint's verdict with what an operator needs to know about it, then every decision."""
    rows = []
    for p in doc.profiles:
        for e in p.endpoints:
            notes = "; ".join(endpoint_notes(e)) or "-"
            code = str(e.status_code or "-")
            rows.append(
                [p.name, e.name, e.address or "-", e.status, e.since or "-", code, _ms(e.latency_ms), notes]
            )
            if len(e.addresses) > 1:
                for a in e.addresses:
                    why = a.reason or ""
                    if a.detail and not a.ok:
                        why = f"{why}: {a.detail}" if why else a.detail
                    rows.append(
                        [
                            "",
                            "",
                            a.address,
                            a.status,
                            "",
                            str(a.status_code or "-"),
                            _ms(a.latency_ms),
                            why or "-",
                        ]
                    )
    headers = ["profile", "endpoint", "address", "verdict", "since", "code", "latency", "notes"]
    out = [table(headers, rows), ""]
    for p in doc.profiles:
        kind = f" [{p.target_kind}]" if p.target_kind not in (None, "azure") else ""
        out.append(f"{p.name} ({p.fqdn}){kind} {p.follows_line() or decision_line(p.decision, p.endpoints)}")
        for view, d in sorted(p.views.items()):
            out.append(f"  view {view} {decision_line(d, p.endpoints)}")
    return "\n".join(out)


def endpoint_notes(e: EndpointDoc) -> list[str]:
    notes = []
    if e.override == "down":
        notes.append("drained by operator" if e.override_by == "operator" else "pinned down by the config")
    elif e.override == "up":
        by = "operator" if e.override_by == "operator" else "the config"
        notes.append(f"pinned Online by {by}")
    if e.damped_until:
        notes.append(f"damped until {e.damped_until}")
    if e.flaps:
        notes.append(f"{e.flaps} flap{'' if e.flaps == 1 else 's'}")
    if e.ok is False:
        reason, detail = e.reason or "", e.detail or ""
        notes.append(f"{reason}: {detail}" if reason and detail else reason or detail)
    return [n for n in notes if n]


def decision_line(d: DecisionDoc | None, endpoints: Sequence[EndpointDoc]) -> str:
    if d is None:
        return "has no decision yet: waiting for every endpoint's verdict"
    targets = {e.name: e.target for e in endpoints}
    if d.endpoints:
        where = ", ".join(f"{n} ({targets[n]})" if n in targets else n for n in d.endpoints)
    else:
        where = f"fallback {d.fallback}"
    since = f" since {d.since}" if d.since else ""
    return f"-> {where}{since}: {d.reason}"


def controller_lines(doc: StatusDoc) -> list[str]:
    """What `dnsctl status` adds for a controller: leadership, the lease, published records, errors."""
    out = []
    state = None if isinstance(doc.state, Absent) else doc.state
    lead = doc.leadership
    if not isinstance(lead, Absent):
        role = "leader" if lead.held else "standby"
        if lead.writing:
            writing = "writing DNS"
        elif lead.held and state is not None and state.read is False:
            writing = "reading the stored state; not writing DNS until it is read"
        else:
            writing = "not writing DNS"
        out.append(f"leadership: {role} ({lead.kind}, {lead.holder}), {writing}")
        if lead.last_error:
            out.append(f"lease: failing ({lead.errors} failed attempt(s)): {lead.last_error}")
    for p in doc.profiles:
        pub = p.published
        if pub is None or isinstance(pub, Absent):
            continue
        owner = "" if pub.managed in (True, None) else " (not managed by dnsctl)"
        out.append(f"published: {pub.record}: {pub.value or 'nothing'}{owner}")
    if not isinstance(doc.consecutive_errors, Absent):
        line = f"last successful reconcile: {doc.last_successful_reconcile or 'never'}"
        if doc.consecutive_errors:
            line += f"; {doc.consecutive_errors} failed in a row"
        out.append(line)
    if doc.last_error:
        out.append(f"last error: {doc.last_error}")
    if doc.isolated:
        out.append("WARNING: isolation guard active: decisions are frozen")
    if state is not None:
        if state.read is False:
            out.append(f"WARNING: stored state not read yet ({state.unread_reason}); nothing is written")
        if state.problem:
            out.append(f"WARNING: {state.problem}")
        pending = {} if isinstance(state.pending, Absent) else state.pending
        for profile, what in sorted(pending.items()):
            out.append(
                f"WARNING: {profile}: {what} is in effect but NOT saved yet (a restart now would forget it)"
            )
    for p in doc.profiles:
        d = p.drift
        if d is not None and not isinstance(d, Absent):
            out.append(f"drift: {d.record} found {d.found}, expected {d.expected} ({d.at})")
    if not isinstance(doc.sites, Absent):
        out += sites_lines(doc.sites)
    return out


def status_text(doc: StatusDoc) -> list[str]:
    """`dnsctl status`: the health table, what the controller knows, and the mirror files."""
    out = [health_table(doc)]
    extra = controller_lines(doc)
    if extra:
        out += ["", *extra]
    for p in doc.profiles:
        for f in () if isinstance(p.mirror_files, Absent) else p.mirror_files:
            error = f" ({f.error})" if f.error else ""
            out.append(f"mirror: {p.name}: {f.path}: {f.outcome}: {', '.join(f.hosts) or '-'}{error}")
    return out


CHECK_ISOLATED = (
    "WARNING: isolation guard: nothing came back from any endpoint (timeouts, no route, a connection that "
    "never answered) and no canary answered: this host's own network is the likelier cause; `run` and "
    "`reconcile` would freeze the decisions (keep the records)"
)


def check_text(doc: StatusDoc) -> list[Line]:
    out = [Line(health_table(doc))]
    return [*out, Line(CHECK_ISOLATED, err=True)] if doc.isolated else out


# --- plan and reconcile -------------------------------------------------------------------------


def _value(v: RecordValue | None) -> str:
    return str(v) if v is not None else "-"


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


def reconcile_doc(spec: DnsctlSpec, report: Report, exit_code: int) -> ReconcileDoc:
    """`plan --json` and `reconcile --json`: the same `profiles` and `isolated` as `check` and `status`."""
    return ReconcileDoc(
        dry_run=report.dry_run,
        exit_code=exit_code,
        changes=tuple(change_doc(c) for c in report.plan.changes),
        results=tuple(
            ResultDoc(change_doc(r.change), r.outcome.value, r.etag, r.error, r.hint) for r in report.results
        ),
        refused=tuple(str(r) for r in report.refused),
        waiting=tuple(report.plan.waiting),
        errors=tuple(e.message for e in report.errors),
        degraded=tuple(report.degraded),
        unpublished=tuple(report.plan.unpublished),
        conflicts_retried=report.conflicts_retried,
        summary=summary(report),
        state=report.state,
        isolated=report.outcome.isolated if report.outcome is not None else False,
        profiles=profile_docs(spec, report.outcome.states) if report.outcome is not None else ABSENT,
    )


RECONCILE_ISOLATED = (
    "WARNING: isolation guard: no endpoint answered at all (timeouts, no route) and no canary did; "
    "decisions are frozen"
)


def reconcile_text(spec: DnsctlSpec, report: Report) -> list[Line]:
    out = [Line(f"error: {e}", err=True) for e in report.errors]
    if report.outcome is not None:
        # What the records follow: each record's own decision, changed or not. A resolver view's
        # decision is `serve`'s business, not a record's: it is not shown here.
        for p in spec.profiles:
            if p.publication is not None:
                d = _decision(report, p.name)
                out.append(Line(f"decision: {p.name}: {d.reason if d is not None else NO_DECISION}"))
        if report.outcome.isolated:
            out.append(Line(RECONCILE_ISOLATED, err=True))
    if report.published or not report.errors:  # after a failed read there is no plan to show
        out.append(Line(plan_table(report.plan)))
    # Refusals of the plan are in its table already.
    out += [Line(f"refused: {p}", err=True) for p in report.refused if p not in report.plan.refusals]
    for r in report.results:
        extra = f" ({r.error})" if r.error else ""
        hint = f"; {r.hint}" if r.hint else ""
        c = r.change
        out.append(Line(f"{r.outcome.value}: {c.profile}: {c.name}: {c.action.value}{extra}{hint}"))
    out += [Line(f"degraded: {_degraded_sentence(report, name)}", err=True) for name in report.degraded]
    return [*out, Line(summary(report))]


NO_DECISION = "none yet: not every endpoint has a verdict"


def _decision(report: Report, name: str) -> Decision | None:
    st = report.outcome.states.get(name) if report.outcome is not None else None
    return st.decision if st is not None else None


def _degraded_sentence(report: Report, name: str) -> str:
    d = _decision(report, name)
    if name in report.plan.unpublished:
        if d is None:
            return (
                f"{name}: no endpoint is Online (no verdict yet) and nothing is published; "
                "no record was created"
            )
        return (
            f"{name}: no endpoint is Online and nothing is published; when_all_down keep-last has "
            "nothing to keep, so no record was created"
        )
    if d is not None and d.kind is DecisionKind.FROZEN:
        return f"{name}: the isolation guard holds the last answer (nothing answered, not even a canary)"
    published = [
        r.change
        for r in report.results
        if r.change.profile == name and r.outcome is Outcome.APPLIED and r.change.after is not None
    ]
    if published:
        return f"{name}: no endpoint is Online; published {published[-1].after}: {published[-1].reason}"
    if d is not None and d.keep_current:
        return f"{name}: no endpoint is Online; the last answer is kept"
    return f"{name}: no endpoint is Online"


def summary(report: Report) -> str:
    """One line that says what happened: converged, refused, read failed, failed or degraded."""
    applied = [r for r in report.results if r.outcome is Outcome.APPLIED and r.change.changes_dns]
    failed = [r for r in report.results if r.outcome is not Outcome.APPLIED]
    if report.errors and not report.published:
        return f"read failed: nothing was changed ({report.errors[0]})"
    if report.errors or failed:
        why = report.errors[0].message if report.errors else (failed[0].error or failed[0].outcome.value)
        return (
            f"failed: {len(applied)} change(s) applied, {len(failed) or 'the rest'} not ({why}); "
            "records not written are left as they were"
        )
    if report.refused:
        more = f" (and {len(report.refused) - 1} more)" if len(report.refused) > 1 else ""
        return f"refused: nothing was changed: {report.refused[0]}{more}"
    planned = len(report.plan.dns_changes)
    waiting = [n for n in report.plan.waiting if n not in report.degraded]
    if report.degraded or waiting:
        done = (
            f"{planned} change(s) would be made (dry run: nothing was changed); "
            if report.dry_run
            else f"{len(applied)} change(s) applied; "
        )
        sentences = [_degraded_sentence(report, n) for n in report.degraded]
        sentences += [_waiting_sentence(report, n) for n in waiting]
        return f"degraded: {done}" + "; ".join(sentences)
    if report.dry_run:
        return f"dry run: {planned} change(s) would be made; nothing was changed"
    if applied:
        return f"converged: {len(applied)} change(s) applied"
    return "converged: the published records match the decisions"


def _waiting_sentence(report: Report, name: str) -> str:
    why = (
        "the isolation guard judged nobody (nothing answered, not even a canary)"
        if report.outcome is not None and report.outcome.isolated
        else "an endpoint failed fewer than `fall` times in a row"
    )
    return f"{name}: no verdict on every endpoint after this run's probes ({why}); nothing was written"


# --- mirror --once ------------------------------------------------------------------------------


def mirror_doc(report: MirrorReport, exit_code: int) -> MirrorOnceDoc:
    return MirrorOnceDoc(
        exit_code=exit_code,
        files=tuple(file_doc(r, with_profile=True) for r in report.results),
        waiting=tuple(report.waiting),
        degraded=tuple(report.degraded),
        isolated=report.isolated,
    )


def mirror_text(report: MirrorReport) -> list[Line]:
    out = []
    for r in report.results:
        extra = f" ({r.error})" if r.error else ""
        out.append(Line(f"{r.outcome.value}: {r.profile}: {r.path}: {', '.join(r.hosts) or '(none)'}{extra}"))
    out += [Line(f"waiting: {name}: no verdicts yet; nothing written", err=True) for name in report.waiting]
    if report.isolated:
        warning = "WARNING: isolation guard: every endpoint failed at once; files kept as they are"
        out.append(Line(warning, err=True))
    return out + [Line(f"degraded: {name}: no endpoint is Online", err=True) for name in report.degraded]


# --- history ------------------------------------------------------------------------------------


def history_text(entries: Sequence[HistoryDoc]) -> str:
    if not entries:
        return "no decisions recorded"
    rows = []
    for e in entries:
        where = f"{e.profile} (view {e.view})" if e.view else e.profile
        rows.append([str(e.time), where, e.kind or "-", f"{e.old or '-'} -> {e.new}", e.reason])
        evidence = "; ".join(f"{k} {v}" for k, v in e.evidence.items())
        if evidence:
            rows.append(["", "", "", "", f"evidence: {evidence}"])
    return table(["TIME", "PROFILE", "KIND", "FROM -> TO", "REASON"], rows)


def history_json(entries: Sequence[HistoryDoc]) -> str:
    return json.dumps({"history": to_json(list(entries))}, indent=2)
