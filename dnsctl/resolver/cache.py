"""A bounded LRU cache of forwarded answers whose TTLs count down, with serve-stale (RFC 8767)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from struct import pack_into, unpack_from

from dnsctl.core.model import CacheSpec
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.normalize import Normalized

# RFC 8767 4: a stale answer carries a TTL of 30 seconds.
STALE_TTL = 30


def _with_ttls(template: Answer, offsets: tuple[int, ...], ttl_for: Callable[[int], int]) -> Answer:
    body = bytearray(template.body)
    for offset in offsets:
        pack_into(">I", body, offset, ttl_for(unpack_from(">I", body, offset)[0]))
    return Answer(template.flags, template.an, template.ns, template.ar, bytes(body))


class CacheEntry:
    __slots__ = ("expires", "offsets", "served", "served_age", "stale_until", "stored", "template")

    def __init__(self, normalized: Normalized, now: float, serve_stale: float) -> None:
        self.template = normalized.answer
        self.offsets = normalized.ttl_offsets
        self.stored = now
        self.expires = now + normalized.lifetime
        self.stale_until = self.expires + serve_stale
        self.served = self.template
        self.served_age = 0

    def at(self, now: float) -> Answer:
        """The answer with TTLs lowered by the seconds spent in cache (re-rendered once a second at most)."""
        age = int(now - self.stored)
        if age != self.served_age:
            self.served = _with_ttls(self.template, self.offsets, lambda ttl: max(ttl - age, 0))
            self.served_age = age
        return self.served

    def stale(self) -> Answer:
        return _with_ttls(self.template, self.offsets, lambda _: STALE_TTL)


class AnswerCache:
    """Forwarded answers by lookup key; `clock` is injectable so tests can move time."""

    def __init__(self, spec: CacheSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.clock = clock
        self.entries: OrderedDict[bytes, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self.entries)

    def fresh(self, key: bytes, now: float) -> Answer | None:
        entry = self.entries.get(key)
        if entry is None or now >= entry.expires:
            return None
        self.entries.move_to_end(key)
        return entry.at(now)

    def stale(self, key: bytes, now: float) -> Answer | None:
        """An expired answer still inside the serve-stale window, with TTL 30."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if now >= entry.stale_until:
            del self.entries[key]
            return None
        return entry.stale() if now >= entry.expires else entry.at(now)

    def store(self, key: bytes, normalized: Normalized, now: float) -> None:
        if normalized.lifetime <= 0 or self.spec.max_entries <= 0:
            return
        self.entries[key] = CacheEntry(normalized, now, self.spec.serve_stale)
        self.entries.move_to_end(key)
        while len(self.entries) > self.spec.max_entries:
            self.entries.popitem(last=False)
