"""The status document: every profile's health and decision (`check`, `plan`, `reconcile`, `/status`).

`check --json`, `plan --json`, `reconcile --json` and `/status` share these types, so the same thing has
the same key everywhere; what only a running controller knows (history, the published record, drift,
the resolver, mirror files, leadership) is `ABSENT` elsewhere and its key left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.health import EndpointHealth, effective_status
from dnsctl.core.history import HistoryEntry
from dnsctl.core.model import DnsctlSpec, EndpointSpec, Override
from dnsctl.core.plan import Change, RecordValue
from dnsctl.core.state import ProfileState
from dnsctl.documents.jsonable import ABSENT, Absent, iso
from dnsctl.documents.sites import SitesDoc


@dataclass(frozen=True, slots=True)
class DecisionDoc:
    kind: DecisionKind
    endpoints: tuple[str, ...]
    fallback: str | None
    keep_current: bool
    reason: str
    since: str | None


@dataclass(frozen=True, slots=True)
class ProbeDoc:
    """One address's verdict and its last probe."""

    address: str
    status: str
    ok: bool | None
    status_code: int | None
    latency_ms: float | None
    reason: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class EndpointDoc:
    name: str
    target: str
    status: str
    address: str | None
    ok: bool | None
    status_code: int | None
    latency_ms: float | None
    reason: str | None
    detail: str
    consecutive_successes: int
    consecutive_failures: int
    flaps: int
    damped_until: str | None
    since: str | None
    override: str | None  # "up" | "down", pinned by `override_by`
    override_by: str | None  # "operator" | "config"
    addresses: tuple[ProbeDoc, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryDoc:
    time: str | None
    profile: str
    view: str | None
    old: str | None = field(metadata={"key": "from"})
    new: str = field(metadata={"key": "to"})
    kind: str
    reason: str
    evidence: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RecordValueDoc:
    type: str
    values: tuple[str, ...]
    ttl: int


@dataclass(frozen=True, slots=True)
class ChangeDoc:
    profile: str
    record: str
    action: str
    before: RecordValueDoc | None
    after: RecordValueDoc | None
    reason: str
    etag: str | None
    origin: str
    counts_toward_limit: bool
    type_switch: bool


@dataclass(frozen=True, slots=True)
class PublishedDoc:
    record: str
    value: str | None
    etag: str | None
    managed: bool | None


@dataclass(frozen=True, slots=True)
class DriftDoc:
    at: str | None
    record: str
    found: str
    expected: str
    owned: bool


@dataclass(frozen=True, slots=True)
class MirrorFileDoc:
    """One runtime's mirror file: the outcome of its last write (`mirror --once`, `/status`)."""

    runtime: str
    path: str
    outcome: str
    hosts: tuple[str, ...]
    error: str | None
    profile: str | Absent = ABSENT  # in `mirror --once`; under its profile in `/status`


@dataclass(frozen=True, slots=True)
class FollowedDoc:
    """The site decision a node agent follows for a profile (`mirror --source exchange`)."""

    site: str
    seq: int
    at: str | None  # when the site's vantage decided
    age_seconds: float
    order: tuple[str, ...]  # the endpoints the files list, in order (empty: `fallback`)
    answer: tuple[str, ...]  # the site's answer (what its publications get)
    fallback: str | None
    keep: bool  # keep-last or the isolation guard: a file already written stays as it is
    reason: str


@dataclass(frozen=True, slots=True)
class ProfileDoc:
    name: str
    fqdn: str
    routing: str
    target_kind: str | None  # where the profile publishes: "azure", "rfc2136", or None
    decision: DecisionDoc | None
    views: Mapping[str, DecisionDoc | None]
    overrides: Mapping[str, str]
    endpoints: tuple[EndpointDoc, ...]
    # What a running controller adds.
    history: tuple[HistoryDoc, ...] | Absent = ABSENT
    published: PublishedDoc | Absent | None = ABSENT  # `run`
    drift: DriftDoc | Absent | None = ABSENT  # `run`
    answer: tuple[str, ...] | Absent = ABSENT  # `serve`
    mirror_files: tuple[MirrorFileDoc, ...] | Absent = ABSENT  # `mirror`
    follows: FollowedDoc | Absent | None = ABSENT  # `mirror --source exchange` (None: nothing yet)

    def follows_line(self) -> str | None:
        """`dnsctl status`'s line for a node agent's profile: the site's decision it follows."""
        f = self.follows
        if isinstance(f, Absent):
            return None
        if f is None:
            return "follows no decision yet: its site has published none for it"
        where = ", ".join(f.order) or f"fallback {f.fallback}"
        kept = "; files kept as they are" if f.keep else ""
        said = f"site {f.site}'s decision (seq {f.seq}, {f.age_seconds:g} s old)"
        return f"-> {where}: {said}: {f.reason}{kept}"


@dataclass(frozen=True, slots=True)
class StateDoc:
    """Where the health history is kept and what went wrong with it."""

    kind: str  # "file" | "record-metadata" | "none"
    problem: str | Absent | None = ABSENT
    path: str | Absent = ABSENT
    moved_aside_to: str | Absent | None = ABSENT
    warnings: tuple[str, ...] | Absent = ABSENT
    # What a running controller adds.
    read: bool | Absent = ABSENT
    unread_reason: str | Absent | None = ABSENT
    save_error: str | Absent | None = ABSENT
    pending: Mapping[str, str] | Absent = ABSENT  # operator actions in effect but not saved yet


@dataclass(frozen=True, slots=True)
class LeadershipDoc:
    held: bool
    writing: bool
    kind: str
    holder: str
    errors: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class UpstreamDoc:
    upstream: str
    state: str  # "up" | "down"
    since: str | None  # when it went down or came back (else when the resolver started)
    consecutive_unanswered: int
    skipped: int  # queries that skipped it while it was down
    round_trip_ms: float | None  # smoothed, from replies to queries sent once (None before the first)
    first_retry_ms: float  # a UDP query to it is sent again after this long without a reply


@dataclass(frozen=True, slots=True)
class ResolverDoc:
    listening: tuple[str, ...]
    queries: int
    cache_entries: int
    cache_hit_ratio: float | None
    upstreams: tuple[UpstreamDoc, ...] = ()
    udp_reader: str = ""  # the UDP reader's loop: "native" or "python"


@dataclass(frozen=True, slots=True)
class StatusDoc:
    """`/status`, `dnsctl status` and `check`: every profile, then what the controller knows."""

    profiles: tuple[ProfileDoc, ...]
    isolated: bool
    state: StateDoc | Absent = ABSENT
    resolver: ResolverDoc | Absent = ABSENT  # `serve`
    leadership: LeadershipDoc | Absent = ABSENT  # `run`
    last_error: str | Absent | None = ABSENT
    last_successful_reconcile: str | Absent | None = ABSENT
    consecutive_errors: int | Absent = ABSENT
    last_plan: tuple[ChangeDoc, ...] | Absent = ABSENT
    sites: SitesDoc | Absent = ABSENT  # `run --site`


def decision_doc(d: Decision | None) -> DecisionDoc | None:
    if d is None:
        return None
    return DecisionDoc(d.kind, tuple(d.endpoints), d.fallback, d.keep_current, d.reason, iso(d.since))


def endpoint_doc(
    ep: EndpointSpec, status: str, h: EndpointHealth, override: tuple[str, str] | None = None
) -> EndpointDoc:
    """One endpoint; `override` is (value, by) when an operator or the config pins it up or down."""
    last = h.last
    return EndpointDoc(
        name=ep.name,
        target=ep.target,
        status=status,
        address=last.address if last else None,
        ok=last.ok if last else None,
        status_code=last.status_code if last else None,
        latency_ms=round(last.latency * 1000, 1) if last else None,
        reason=last.reason.value if last and last.reason else None,
        detail=last.detail if last else "",
        consecutive_successes=h.successes,
        consecutive_failures=h.failures,
        flaps=h.flaps,
        damped_until=iso(h.hold_until),
        since=iso(h.since),
        override=override[0] if override else None,
        override_by=override[1] if override else None,
        addresses=addresses_doc(ep, h),
    )


def _override(ep: EndpointSpec, operator: Override | None) -> tuple[str, str] | None:
    if operator is not None and operator is not Override.OBEY:
        return operator.value, "operator"
    if ep.override is not Override.OBEY:
        return ep.override.value, "config"
    return None


def addresses_doc(ep: EndpointSpec, h: EndpointHealth) -> tuple[ProbeDoc, ...]:
    """Per-address health: every configured address, with its own verdict and last probe."""
    out = []
    for address in ep.addresses:
        # An endpoint with one address is probed there: its health is the address's.
        ah = h.addresses.get(address) if len(ep.addresses) > 1 else h
        last = ah.last if ah is not None else None
        out.append(
            ProbeDoc(
                address=address,
                status=ah.status.value if ah is not None else "CheckingEndpoint",
                ok=last.ok if last else None,
                status_code=last.status_code if last else None,
                latency_ms=round(last.latency * 1000, 1) if last else None,
                reason=last.reason.value if last and last.reason else None,
                detail=last.detail if last else "",
            )
        )
    return tuple(out)


def profile_docs(spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> tuple[ProfileDoc, ...]:
    profiles = []
    for p in spec.profiles:
        st = states[p.name]
        endpoints = []
        for ep in p.by_priority:
            h = st.endpoints.get(ep.name, EndpointHealth())
            status = effective_status(ep, h, st.overrides.get(ep.name)).value
            endpoints.append(endpoint_doc(ep, status, h, _override(ep, st.overrides.get(ep.name))))
        profiles.append(
            ProfileDoc(
                name=p.name,
                fqdn=p.fqdn,
                routing=p.routing.value,
                target_kind=p.publication.kind if p.publication is not None else None,
                decision=decision_doc(st.decision),
                views={v: decision_doc(r.decision) for v, r in st.views.items()},
                overrides={k: v.value for k, v in st.overrides.items()},
                endpoints=tuple(endpoints),
            )
        )
    return tuple(profiles)


def health_doc(spec: DnsctlSpec, states: Mapping[str, ProfileState], *, isolated: bool) -> StatusDoc:
    return StatusDoc(profiles=profile_docs(spec, states), isolated=isolated)


def history_doc(h: HistoryEntry) -> HistoryDoc:
    return HistoryDoc(
        time=iso(h.time),
        profile=h.profile,
        view=h.view,
        old=h.old,
        new=h.new,
        kind=h.kind,
        reason=h.reason,
        evidence=dict(h.evidence),
    )


def _value_doc(v: RecordValue | None) -> RecordValueDoc | None:
    return None if v is None else RecordValueDoc(v.type.value, tuple(v.values), v.ttl)


def change_doc(c: Change) -> ChangeDoc:
    return ChangeDoc(
        profile=c.profile,
        record=c.name,
        action=c.action.value,
        before=_value_doc(c.before),
        after=_value_doc(c.after),
        reason=c.reason,
        etag=c.etag,
        origin=c.origin.value,
        counts_toward_limit=c.counts_toward_limit,
        type_switch=c.type_switch,
    )
