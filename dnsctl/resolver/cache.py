"""A bounded LRU cache of forwarded answers whose TTLs count down, with serve-stale (RFC 8767).

Entries are kept small (100k of them must fit well under 100 MB): the answer as one bytes object, the
positions of its TTLs (found once, when it is stored) as another. A hit never re-encodes anything.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from struct import pack, pack_into, unpack, unpack_from

from dnsctl.core.model import CacheSpec
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.normalize import Normalized
from dnsctl.resolver.wire import walk_records

# RFC 8767 4: a stale answer carries a TTL of 30 seconds.
STALE_TTL = 30
_HEAD = 8  # flags, ANCOUNT, NSCOUNT, ARCOUNT in front of the body in CacheEntry.message


def _ttl_offsets(message: bytes, an: int, ns: int, ar: int) -> bytes:
    """Where each record's TTL sits in `message`, packed as unsigned shorts (one small object per entry)."""
    offsets = [offset + _HEAD for _, _, offset, _, _ in walk_records(message[_HEAD:], 4, an + ns + ar)]
    return pack(f"={len(offsets)}H", *offsets)


class CacheEntry:
    """A forwarded answer as wire bytes, its absolute expiry and where its TTLs are: a hit patches the TTLs
    (at most once a second while it is being served), the query path then only the ID and the name's case.
    """

    __slots__ = ("expires", "message", "served", "served_age", "stored", "ttls")

    def __init__(self, normalized: Normalized, now: float) -> None:
        a = normalized.answer
        self.message = pack(">HHHH", a.flags, a.an, a.ns, a.ar) + a.body
        self.ttls = _ttl_offsets(self.message, a.an, a.ns, a.ar)
        self.stored = now
        self.expires = now + normalized.lifetime
        self.served: Answer | None = None
        self.served_age = -1

    def _render(self, ttl_for: Callable[[int], int]) -> Answer:
        message = self.message
        body = bytearray(message)
        for offset in unpack(f"={len(self.ttls) // 2}H", self.ttls):
            pack_into(">I", body, offset, ttl_for(unpack_from(">I", message, offset)[0]))
        flags, an, ns, ar = unpack_from(">HHHH", message)
        return Answer(flags, an, ns, ar, bytes(body[_HEAD:]))

    def at(self, now: float) -> Answer:
        """The answer with TTLs lowered by the seconds spent in cache (re-rendered once a second at most)."""
        age = int(now - self.stored)
        if age != self.served_age or self.served is None:
            self.served = self._render(lambda ttl: max(ttl - age, 0))
            self.served_age = age
        return self.served

    def stale(self) -> Answer:
        return self._render(lambda _: STALE_TTL)


class AnswerCache:
    """Forwarded answers by lookup key; every read and store is given the time (`now`) by its caller."""

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
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
        if now >= entry.expires + self.spec.serve_stale:
            del self.entries[key]
            return None
        return entry.stale() if now >= entry.expires else entry.at(now)

    def store(self, key: bytes, normalized: Normalized, now: float) -> None:
        if normalized.lifetime <= 0 or self.spec.max_entries <= 0:
            return
        self.entries[key] = CacheEntry(normalized, now)
        self.entries.move_to_end(key)
        while len(self.entries) > self.spec.max_entries:
            self.entries.popitem(last=False)
