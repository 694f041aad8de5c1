"""The `sites` part of `/status` and `dnsctl status`: this vantage's site, every vantage, the evidence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VantageDoc:
    name: str
    state: str  # fresh | stale | isolated
    last_seen: str | None  # the time of its last report, None when never heard
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class SitesDoc:
    site: str  # the site this process is the vantage of
    rule: str  # the quorum rule, in words
    vantages: tuple[VantageDoc, ...]
    evidence: tuple[str, ...] = ()  # per endpoint: what this site's decision rests on
    exchange: str = ""  # the exchange's kind
    exchange_error: str | None = None  # the last failure to write or read it
    unread: tuple[str, ...] = ()  # reports left out, and why
    shared_rule: str | None = None  # the publications every site shares: their rule and writer
    shared: tuple[str, ...] = ()  # per shared profile: its decision and who writes it


def sites_lines(doc: SitesDoc) -> list[str]:
    """What `dnsctl status` prints for the sites."""
    out = [f"site: {doc.site} ({doc.exchange} exchange); {doc.rule}"]
    for v in doc.vantages:
        seen = f"last seen {v.last_seen}" if v.last_seen else "never seen"
        out.append(f"vantage: {v.name}: {v.state}, {seen}")
    out += [f"evidence: {e}" for e in doc.evidence]
    if doc.shared_rule:
        out.append(f"shared: {doc.shared_rule}")
    out += [f"shared: {line}" for line in doc.shared]
    out += [f"WARNING: exchange: {u}" for u in doc.unread]
    if doc.exchange_error:
        out.append(f"WARNING: exchange: {doc.exchange_error}")
    return out
