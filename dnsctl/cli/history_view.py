"""`dnsctl history`: the last decisions of each profile, from a running controller or a state file.

A running controller shows them in `/status` (each profile's `history`, newest last); a state file
(`serve`, `mirror`, `run --state-file`) holds them too, and is read without the configuration: the
history is text for people and never steers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dnsctl.cli import render
from dnsctl.core import codec
from dnsctl.core.history import HistoryEntry
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.state import ProfileState
from dnsctl.errors import StateError
from dnsctl.process.atomic_file import UnsafeFile, read_regular_file
from dnsctl.process.state_store import MAX_STATE_BYTES


def entry_doc(h: HistoryEntry) -> dict[str, Any]:
    return {
        "time": render.iso(h.time),
        "profile": h.profile,
        "view": h.view,
        "from": h.old,
        "to": h.new,
        "kind": h.kind,
        "reason": h.reason,
        "evidence": dict(h.evidence),
    }


def profiles_history(spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> dict[str, list[dict[str, Any]]]:
    return {p.name: [entry_doc(h) for h in states[p.name].history] for p in spec.profiles if p.name in states}


def from_status(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every profile's entries from a `/status` document, oldest first."""
    out: list[dict[str, Any]] = []
    for p in doc.get("profiles", []):
        out.extend(p.get("history", []))
    return sorted(out, key=lambda e: str(e.get("time") or ""))


def from_state_file(path: Path) -> list[dict[str, Any]]:
    try:
        data = read_regular_file(path, MAX_STATE_BYTES)
    except UnsafeFile as e:
        raise StateError(f"state file {path}: {e}") from None
    except OSError as e:
        raise StateError(f"state file {path} cannot be read: {e.strerror or e}") from None
    if data is None:
        raise StateError(f"state file {path} does not exist")
    try:
        stored = codec.decode_document(data.decode("utf-8", errors="replace"))
        entries = [h for name, text in stored.items() for h in codec.history_of(name, text)]
    except codec.StateDecodeError as e:
        raise StateError(f"state file {path} is not a dnsctl state file: {e}") from None
    return sorted((entry_doc(h) for h in entries), key=lambda e: str(e["time"]))


def select(
    entries: Sequence[Mapping[str, Any]], profile: str | None, last: int | None
) -> list[dict[str, Any]]:
    out = [dict(e) for e in entries if profile is None or e.get("profile") == profile]
    return out[-last:] if last else out


def print_history(entries: Sequence[Mapping[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"history": list(entries)}, indent=2))
        return
    if not entries:
        print("no decisions recorded")
        return
    rows = []
    for e in entries:
        where = f"{e['profile']} (view {e['view']})" if e.get("view") else str(e["profile"])
        evidence = "; ".join(f"{k} {v}" for k, v in (e.get("evidence") or {}).items())
        rows.append(
            [
                str(e["time"]),
                where,
                e.get("kind") or "-",
                f"{e.get('from') or '-'} -> {e['to']}",
                str(e["reason"]),
            ]
        )
        if evidence:
            rows.append(["", "", "", "", f"evidence: {evidence}"])
    print(render.table(["TIME", "PROFILE", "KIND", "FROM -> TO", "REASON"], rows))
