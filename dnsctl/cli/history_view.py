"""`dnsctl history`: the last decisions of each profile, from a running controller or a state file.

A running controller shows them in `/status` (each profile's `history`, newest last); a state file
(`serve`, `mirror`, `run --state-file`) holds them too, and is read without the configuration: the
history is text for people and never steers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dnsctl.core import codec
from dnsctl.documents.jsonable import Absent
from dnsctl.documents.status import HistoryDoc, StatusDoc, history_doc
from dnsctl.errors import StateError
from dnsctl.process.atomic_file import UnsafeFile, read_regular_file
from dnsctl.process.state_store import MAX_STATE_BYTES


def from_status(doc: StatusDoc) -> list[HistoryDoc]:
    """Every profile's entries from a `/status` document, oldest first."""
    out = [h for p in doc.profiles if not isinstance(p.history, Absent) for h in p.history]
    return sorted(out, key=lambda e: e.time or "")


def from_state_file(path: Path) -> list[HistoryDoc]:
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
    return sorted((history_doc(h) for h in entries), key=lambda e: e.time or "")


def select(entries: Sequence[HistoryDoc], profile: str | None, last: int | None) -> list[HistoryDoc]:
    out = [e for e in entries if profile is None or e.profile == profile]
    return out[-last:] if last else out
