"""The verdict exchange: where every site's vantage publishes its verdicts and reads the others'.

`VerdictExchange` is the seam; `DirectoryExchange` keeps one JSON file per vantage in a shared
directory (a single-host lab), written atomically; `dnsctl.controller.exchange_blob` keeps one blob per
vantage in Azure Blob Storage. A report that cannot be read (garbage, too large, another vantage's
name inside, a newer format) is left out and said why: its vantage is then stale, never a crash.

Next to its report each vantage publishes its site's decision (`<site>.decision.json`): per profile
the answer and the mirror order, for node agents (`dnsctl mirror --source exchange`) that read it
instead of probing: one small read per interval. The same rules: garbage or too large is unreadable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dnsctl.core.health import MonitorStatus
from dnsctl.core.mirror import ProfileDecision, SiteDecision
from dnsctl.core.quorum import EndpointVerdict, VantageReport
from dnsctl.errors import ExchangeError
from dnsctl.process.atomic_file import UnsafeFile, read_regular_file, write_atomically

# The report format's version; a report of another version is left out (its vantage is stale).
REPORT_VERSION = 1
# A report larger than this is not read (a vantage reports a few hundred bytes per endpoint).
MAX_REPORT_BYTES = 4 * 1024 * 1024
# The decision document's version (read by node agents; another version is unreadable).
DECISION_VERSION = 1


@dataclass(frozen=True, slots=True)
class ExchangeRead:
    """Every vantage's latest report that could be read, and why the others could not."""

    reports: Mapping[str, VantageReport] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)  # vantage -> why its report was left out


class VerdictExchange(Protocol):
    kind: str

    async def publish(self, report: VantageReport) -> None:
        """Replace this vantage's report; raises ExchangeError."""
        ...

    async def read(self) -> ExchangeRead:
        """Every vantage's latest report; raises ExchangeError when the exchange itself is unreachable."""
        ...

    async def publish_decision(self, decision: SiteDecision) -> None:
        """Replace this site's decision document; raises ExchangeError."""
        ...

    async def read_decision(self, site: str) -> DecisionRead:
        """Site `site`'s decision; raises ExchangeError when the exchange itself is unreachable."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DecisionRead:
    """A site's decision document: read (`decision`), never written (both None), or unreadable."""

    decision: SiteDecision | None = None
    problem: str | None = None  # why the document that is there cannot be read


def decision_name(site: str) -> str:
    return f"{site}.decision.json"


def encode_decision(decision: SiteDecision) -> str:
    return json.dumps(
        {
            "v": DECISION_VERSION,
            "site": decision.site,
            "seq": decision.seq,
            "at": decision.at,
            "config": decision.config_hash,
            "profiles": [
                {
                    "profile": p.profile,
                    "endpoints": list(p.endpoints),
                    "mirror": list(p.mirror),
                    "fallback": p.fallback,
                    "keep": p.keep,
                    "reason": p.reason,
                }
                for p in decision.profiles
            ],
        },
        separators=(",", ":"),
    )


def _envelope(
    data: bytes, kind: str, version: int, owner: tuple[str, str]
) -> tuple[dict[str, Any], int, float, str]:
    """The checked common part of an exchange document (format, owner, seq, time, config hash): the
    document, seq, at and config. `owner` is the key naming whose it is and the name it must hold."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"not a JSON {kind} ({e.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"not a JSON {kind} (not an object)")
    if doc.get("v") != version:
        raise ValueError(f"{kind} format {_short(doc.get('v'))} is not {version}")
    key, name = owner
    if doc.get(key) != name:
        raise ValueError(f"names {key} {_short(doc.get(key))}, not {name!r}")
    seq, at, config = doc.get("seq"), doc.get("at"), doc.get("config")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError("seq is not an integer")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        raise ValueError("at is not a time")
    if not isinstance(config, str):
        raise ValueError("config is not a hash")
    return doc, seq, float(at), config


def decode_decision(data: bytes, site: str) -> SiteDecision:
    """The decision in `data`, which must be site `site`'s; ValueError says what is wrong with it."""
    doc, seq, at, config = _envelope(data, "decision", DECISION_VERSION, ("site", site))
    profiles = doc.get("profiles")
    if not isinstance(profiles, list):
        raise ValueError("profiles is not a list")
    return SiteDecision(site, seq, at, config, tuple(_profile_decision(p) for p in profiles))


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise ValueError(f"a decision's {what} is not a list of endpoint names")
    return tuple(value)


def _profile_decision(p: Any) -> ProfileDecision:
    if not isinstance(p, dict):
        raise ValueError("a profile's decision is not an object")
    profile, reason, fallback = p.get("profile"), p.get("reason"), p.get("fallback")
    if not isinstance(profile, str) or not isinstance(reason, str):
        raise ValueError("a profile's decision lacks its profile or reason")
    if fallback is not None and not isinstance(fallback, str):
        raise ValueError(f"{profile}: fallback is not a name")
    endpoints, mirror = _names(p.get("endpoints"), "endpoints"), _names(p.get("mirror"), "mirror")
    if not mirror and fallback is None:
        raise ValueError(f"{profile}: the decision lists no mirror and no fallback")
    return ProfileDecision(profile, endpoints, mirror, reason, fallback, keep=p.get("keep") is True)


def encode(report: VantageReport) -> str:
    return json.dumps(
        {
            "v": REPORT_VERSION,
            "vantage": report.vantage,
            "seq": report.seq,
            "at": report.at,
            "config": report.config_hash,
            "isolated": report.isolated,
            "verdicts": [
                {
                    "profile": v.profile,
                    "endpoint": v.endpoint,
                    "status": v.status.value,
                    "since": v.since,
                    "failure": v.failure,
                    "answered": v.answered,
                }
                for v in report.verdicts
            ],
        },
        separators=(",", ":"),
    )


def decode(data: bytes, vantage: str) -> VantageReport:
    """The report in `data`, which must be `vantage`'s; ValueError says what is wrong with it."""
    doc, seq, at, config = _envelope(data, "report", REPORT_VERSION, ("vantage", vantage))
    verdicts = doc.get("verdicts")
    if not isinstance(verdicts, list):
        raise ValueError("verdicts is not a list")
    verdicts_read = tuple(_verdict(vantage, v) for v in verdicts)
    return VantageReport(vantage, seq, at, config, verdicts_read, isolated=doc.get("isolated") is True)


def _verdict(vantage: str, v: Any) -> EndpointVerdict:
    if not isinstance(v, dict):
        raise ValueError("a verdict is not an object")
    profile, endpoint, failure, since = v.get("profile"), v.get("endpoint"), v.get("failure"), v.get("since")
    if not isinstance(profile, str) or not isinstance(endpoint, str):
        raise ValueError("a verdict lacks its profile or endpoint")
    try:
        status = MonitorStatus(str(v.get("status")))
    except ValueError:
        raise ValueError(f"a verdict's status {_short(v.get('status'))} is not a monitor status") from None
    if failure is not None and not isinstance(failure, str):
        raise ValueError("a verdict's failure is not text")
    if since is not None and (not isinstance(since, int | float) or isinstance(since, bool)):
        raise ValueError("a verdict's since is not a time")
    return EndpointVerdict(
        vantage,
        profile,
        endpoint,
        status,
        float(since) if since is not None else None,
        failure,
        answered=v.get("answered") is not False,
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class DirectoryExchange:
    """One `<vantage>.json` per vantage in `directory`; each vantage writes only its own."""

    kind = "directory"

    def __init__(self, directory: Path, vantages: tuple[str, ...]) -> None:
        self.directory = directory
        self.vantages = vantages

    def path_of(self, vantage: str) -> Path:
        return self.directory / f"{vantage}.json"

    async def publish(self, report: VantageReport) -> None:
        try:
            write_atomically(self.path_of(report.vantage), encode(report), mode=0o644)
        except OSError as e:
            raise ExchangeError(f"cannot write {self.path_of(report.vantage)}: {e.strerror or e}") from None

    async def read(self) -> ExchangeRead:
        if not self.directory.is_dir():
            raise ExchangeError(f"the exchange directory {self.directory} does not exist")
        reports: dict[str, VantageReport] = {}
        problems: dict[str, str] = {}
        for vantage in self.vantages:
            try:
                data = read_regular_file(self.path_of(vantage), MAX_REPORT_BYTES)
            except UnsafeFile as e:
                problems[vantage] = f"{self.path_of(vantage).name} {e}"
                continue
            except OSError as e:
                problems[vantage] = f"{self.path_of(vantage).name}: {e.strerror or e}"
                continue
            if data is None:
                continue  # never heard: stale
            try:
                reports[vantage] = decode(data, vantage)
            except ValueError as e:
                problems[vantage] = f"{self.path_of(vantage).name}: {e}"
        return ExchangeRead(reports, problems)

    async def publish_decision(self, decision: SiteDecision) -> None:
        path = self.directory / decision_name(decision.site)
        try:
            write_atomically(path, encode_decision(decision), mode=0o644)
        except OSError as e:
            raise ExchangeError(f"cannot write {path}: {e.strerror or e}") from None

    async def read_decision(self, site: str) -> DecisionRead:
        path = self.directory / decision_name(site)
        if not self.directory.is_dir():
            raise ExchangeError(f"the exchange directory {self.directory} does not exist")
        try:
            data = read_regular_file(path, MAX_REPORT_BYTES)
        except UnsafeFile as e:
            return DecisionRead(problem=f"{path.name} {e}")
        except OSError as e:
            raise ExchangeError(f"cannot read {path}: {e.strerror or e}") from None
        if data is None:
            return DecisionRead()
        try:
            return DecisionRead(decode_decision(data, site))
        except ValueError as e:
            return DecisionRead(problem=f"{path.name}: {e}")

    async def aclose(self) -> None:
        return None
