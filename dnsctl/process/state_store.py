"""Where health history is kept between processes: the `StateStore` seam and its two homes.

`MetadataStore` keeps each profile's history in its record set's metadata (`dnsctl-state`),
written together with the record, so it is read with the record. `FileStore` keeps it in a
local JSON file, for `serve` and for records that should carry no history.

This is the one encode and decode path for `run`, `reconcile` and `serve`. What is read is
checked against the configuration by the codec; what cannot be trusted is dropped and said.
A state file that cannot be read is moved aside (never overwritten, never fatal): the process
starts without history for it, under the never-flip rule.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from dnsctl.core import codec
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.core.state import ProfileState
from dnsctl.documents.status import StateDoc
from dnsctl.errors import StateError
from dnsctl.process.atomic_file import UnsafeFile, fsync_directory, read_regular_file, write_atomically
from dnsctl.process.clock import Clock

log = logging.getLogger("dnsctl.state")

# A state file holds a few hundred bytes per profile; anything far larger is not ours.
MAX_STATE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Loaded:
    """Stored histories by profile name (only the ones that could be trusted)."""

    states: dict[str, ProfileState] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    in_records: bool = False  # read from the records themselves (history and value written together)


class StateStore(Protocol):
    def load(self, spec: DnsctlSpec, published: Mapping[str, Published]) -> Loaded:
        """The stored histories. `published` is what the target holds (record metadata lives there)."""
        ...

    def record_state(self, profile: ProfileSpec, st: ProfileState) -> str | None:
        """The history to write into the record's metadata, or None when the record carries none."""
        ...

    def save(self, spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> None:
        """Keep `states` (a no-op where the history travels with the record). Raises StateError."""
        ...

    def describe(self) -> StateDoc:
        """Where the history is kept and what went wrong with it, for /status."""
        ...


def _decode(profile: ProfileSpec, text: str, where: str, warnings: list[str]) -> ProfileState | None:
    try:
        decoded = codec.decode(profile, text)
    except codec.StateDecodeError as e:
        warnings.append(f"profile {profile.name}: ignoring the stored state in {where}: {e}")
        return None
    for what in decoded.dropped:
        warnings.append(
            f"profile {profile.name}: dropped {what} from {where}: the configuration has no such thing"
        )
    return decoded.state


class MetadataStore:
    """History in the record set's metadata: read with the record, written with the plan."""

    def __init__(self) -> None:
        self.warnings: tuple[str, ...] = ()

    def load(self, spec: DnsctlSpec, published: Mapping[str, Published]) -> Loaded:
        states: dict[str, ProfileState] = {}
        warnings: list[str] = []
        for p in spec.profiles:
            pub = published.get(p.name)
            where = p.publication
            rec = pub.of(where.record_type) if pub is not None and where is not None else None
            if rec is None or rec.state is None:
                continue
            if rec.owner not in ("", p.name):
                continue  # not our record: its metadata is not our history
            st = _decode(p, rec.state, "the record's metadata", warnings)
            if st is not None:
                states[p.name] = st
        for w in warnings:
            log.warning("%s", w)
        self.warnings = tuple(warnings)
        return Loaded(states, self.warnings, in_records=True)

    def record_state(self, profile: ProfileSpec, st: ProfileState) -> str | None:
        return codec.encode(profile, st, history=codec.METADATA_HISTORY)

    def save(self, spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> None:
        return None  # written with the record, by the plan

    def describe(self) -> StateDoc:
        return StateDoc(kind="record-metadata", problem=None, warnings=tuple(self.warnings))


class Keeper:
    """The one save path, with one error treatment, for every mode (one-shot or long-running).

    A failed save is logged once per problem (not every round), counted through `on_error`, kept in
    `error` until a save succeeds (for /status) and returned to the caller, who reports it.
    """

    def __init__(self, store: StateStore | None, *, on_error: Callable[[], None] | None = None) -> None:
        self.store = store
        self.on_error = on_error
        self.error: str | None = None

    def save(self, spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> StateError | None:
        """Keep `states`; why they were not kept, or None."""
        if self.store is None:
            return None
        try:
            self.store.save(spec, states)
        except StateError as e:
            if self.on_error is not None:
                self.on_error()
            if str(e) != self.error:
                log.error("%s", e)
            self.error = str(e)
            return e
        self.error = None
        return None


class _Unreadable(Exception):
    pass


class FileStore:
    """History in a local JSON file: `{"profile": "<encoded state>", ...}`.

    Saved by atomic replace with the file and its directory fsynced, so a crash or power loss
    leaves the old file or the new one, never a mix. With `read_only` (dry runs) a bad file is
    reported but left where it is.
    """

    def __init__(self, path: Path, *, clock: Clock, read_only: bool = False) -> None:
        self.path = path
        self.clock = clock
        self.read_only = read_only
        self.problem: str | None = None  # what was wrong with the file, said once and kept for /status
        self.moved_to: Path | None = None
        self.blocked = False  # a bad file is still in place: saving would destroy it
        self.warnings: tuple[str, ...] = ()
        self._saved: str | None = None  # the text last written, so an unchanged state costs no write
        # Set when the command works on some of the configured profiles (`--profile`): the entries of
        # the others are kept as they are, not dropped as unknown.
        self.keep_others: frozenset[str] = frozenset()
        self._others: dict[str, str] = {}

    # --- reading ------------------------------------------------------------------------------

    def load(self, spec: DnsctlSpec, published: Mapping[str, Published]) -> Loaded:
        warnings: list[str] = []
        try:
            text = self._read()
            stored = codec.decode_document(text) if text is not None else {}
        except (_Unreadable, codec.StateDecodeError) as e:
            self._set_aside(str(e))
            return Loaded({}, ())
        states: dict[str, ProfileState] = {}
        profiles = {p.name: p for p in spec.profiles}
        bad = False
        for name, entry in stored.items():
            profile = profiles.get(name)
            if profile is None and name in self.keep_others:
                self._others[name] = entry
                continue
            if profile is None:
                warnings.append(
                    f"dropped profile {name!r} from the state file: the configuration has no such profile"
                )
                continue
            st = _decode(profile, entry, "the state file", warnings)
            if st is None:
                bad = True
            else:
                states[name] = st
        for w in warnings:
            log.warning("%s", w)
        self.warnings = tuple(warnings)
        if bad:
            # Keep the whole file for a post-mortem before anything is saved over it.
            self._set_aside("some entries are not readable")
        elif text is not None:
            self._saved = text
        return Loaded(states, self.warnings)

    def _read(self) -> str | None:
        try:
            data = read_regular_file(self.path, MAX_STATE_BYTES)
        except UnsafeFile as e:
            raise _Unreadable(str(e)) from None
        except OSError as e:
            raise _Unreadable(f"cannot be read: {e.strerror or e}") from None
        if data is None:
            return None
        if not data.strip():
            raise _Unreadable("is empty")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable("is not UTF-8 text") from None

    def _set_aside(self, why: str) -> None:
        problem = f"state file {self.path} is unusable ({why})"
        if self.read_only:
            self.problem = f"{problem}; starting without its history (dry run: the file is left as it is)"
            self.blocked = True
            log.error("%s", self.problem)
            return
        stamp = datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while os.path.lexists(aside):
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            os.rename(self.path, aside)
            fsync_directory(self.path.parent)
        except OSError as e:
            self.blocked = True
            self.problem = (
                f"{problem}; it could not be moved aside ({e.strerror or e}): starting without its history, "
                "and nothing is saved there until it is removed"
            )
        else:
            self.moved_to = aside
            self.problem = f"{problem}; moved aside to {aside}; starting without its history"
        log.error("%s", self.problem)

    # --- writing ------------------------------------------------------------------------------

    def record_state(self, profile: ProfileSpec, st: ProfileState) -> str | None:
        return None

    def save(self, spec: DnsctlSpec, states: Mapping[str, ProfileState]) -> None:
        text = codec.encode_document(spec, states)
        if self._others:
            doc = {**self._others, **json.loads(text)}
            text = json.dumps(dict(sorted(doc.items())), indent=1) + "\n"
        if text == self._saved:
            return
        if self.blocked:
            raise StateError(f"not saving the health history: {self.problem}")
        try:
            write_atomically(self.path, text)
        except OSError as e:
            raise StateError(f"cannot save the health history to {self.path}: {e.strerror or e}") from None
        self._saved = text

    def describe(self) -> StateDoc:
        return StateDoc(
            kind="file",
            path=str(self.path),
            problem=self.problem,
            moved_aside_to=str(self.moved_to) if self.moved_to is not None else None,
            warnings=tuple(self.warnings),
        )
