"""An in-memory target with the same compare-and-swap rules as Azure: for tests, dry runs and demos."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from dnsctl.core.model import ProfileSpec
from dnsctl.core.plan import Action, Change, Published, ReadRecord
from dnsctl.core.publication import RecordType
from dnsctl.targets.base import NOT_HOLDER, ChangeResult, Outcome, WriteGuard, apply_in_order, may_write

Key = tuple[str, str]  # (zone, relative record name)


def record_key(profile: ProfileSpec) -> Key:
    az = profile.publication
    assert az is not None
    return (az.zone, az.record)


def display_name(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


class MemoryTarget:
    def __init__(self) -> None:
        self.records: dict[Key, dict[RecordType, ReadRecord]] = {}
        self.reads = 0
        self.writes = 0
        self._etags = itertools.count(1)
        # Called with the change just before its condition is checked: a test's concurrent writer.
        self.before_write: Callable[[Change], None] | None = None

    def next_etag(self) -> str:
        return f"etag-{next(self._etags)}"

    def put(self, key: Key, rtype: RecordType, record: ReadRecord) -> ReadRecord:
        stored = replace(record, etag=self.next_etag())
        self.records.setdefault(key, {})[rtype] = stored
        return stored

    def begin_pass(self) -> None:
        return None

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        self.reads += 1
        out = {}
        for p in profiles:
            key = record_key(p)
            out[p.name] = Published(display_name(key), dict(self.records.get(key, {})))
        return out

    async def apply(self, changes: Sequence[Change], guard: WriteGuard | None = None) -> list[ChangeResult]:
        async def one(c: Change) -> ChangeResult:
            if not may_write(guard):
                return ChangeResult(c, Outcome.FAILED, error=NOT_HOLDER)
            return await self._apply_async(c)

        return await apply_in_order(changes, one)

    async def _apply_async(self, c: Change) -> ChangeResult:
        if self.before_write is not None:
            self.before_write(c)
        return self._apply_one(c)

    def _apply_one(self, c: Change) -> ChangeResult:
        self.writes += 1
        zone, _, record = c.name.partition("/")
        key = (zone, record)
        existing = self.records.get(key, {})
        if c.action is Action.DELETE:
            assert c.before is not None
            cur = existing.get(c.before.type)
            if cur is None or cur.etag != c.etag:
                return ChangeResult(c, Outcome.CONFLICT, error="etag mismatch")
            del existing[c.before.type]
            return ChangeResult(c, Outcome.APPLIED)
        assert c.after is not None
        cur = existing.get(c.after.type)
        if c.action is Action.CREATE:
            if cur is not None:
                return ChangeResult(c, Outcome.CONFLICT, error="exists already")
        elif cur is None or cur.etag != c.etag:
            return ChangeResult(c, Outcome.CONFLICT, error="etag mismatch")
        stored = self.put(key, c.after.type, ReadRecord(c.after, None, dict(c.metadata or {})))
        return ChangeResult(c, Outcome.APPLIED, etag=stored.etag)

    async def close(self) -> None:
        return None
