"""Pre-rendered replies: the bytes after the question, ready to be stitched to a client's header and name.

An Answer is rendered once for the lower-cased question. Name compression in its records points at
offset 12 (the question name), which keeps the same length in every query for that name, so serving it
is a concatenation: client ID + header + the client's own name bytes (0x20 case) + body (+ OPT).
"""

from __future__ import annotations

from struct import pack

from dnsctl.resolver.wire import CD, COPIED_FLAGS, HEADER_LEN, QR, RA, RD, TC, Query

_COUNTED: dict[tuple[int, int], tuple[int, int]] = {}


def _counted(qtype: int, rcode: int) -> tuple[int, int]:
    """One shared (qtype, rcode) tuple per pair: the metrics key, without a tuple per answer."""
    key = (qtype, rcode)
    return _COUNTED.setdefault(key, key)


class Answer:
    """A rendered reply: header flags (without RD/CD), section counts and the body after the name."""

    __slots__ = ("an", "ar", "body", "counted", "flags", "heads", "ns")

    def __init__(self, flags: int, an: int, ns: int, ar: int, body: bytes) -> None:
        self.flags = flags
        self.an = an
        self.ns = ns
        self.ar = ar
        self.body = body  # QTYPE, QCLASS and the records
        # Filled by prepare() the first time the hot path serves this answer.
        self.heads: tuple[bytes, ...] | None = None
        self.counted: tuple[int, int] = (0, 0)

    def prepare(self) -> tuple[bytes, ...]:
        """Header bytes after the ID for every query variant, indexed by RD | CD<<1 | OPT<<2."""
        heads = []
        for index in range(8):
            flags = self.flags | (RD if index & 1 else 0) | (CD if index & 2 else 0)
            heads.append(pack(">HHHHH", flags, 1, self.an, self.ns, self.ar + (index >> 2)))
        self.counted = _counted((self.body[0] << 8) | self.body[1], self.flags & 0xF)
        self.heads = tuple(heads)
        return self.heads

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @classmethod
    def from_message(cls, message: bytes, qname_len: int, *, flags: int | None = None) -> Answer:
        """Cut a complete message (rendered for a name of `qname_len` bytes) into an Answer."""
        counts = message[4:12]
        an = (counts[2] << 8) | counts[3]
        ns = (counts[4] << 8) | counts[5]
        ar = (counts[6] << 8) | counts[7]
        hdr_flags = ((message[2] << 8) | message[3]) & ~COPIED_FLAGS if flags is None else flags
        return cls(hdr_flags | QR | RA, an, ns, ar, message[HEADER_LEN + qname_len :])

    def message(self, qname: bytes, ident: int = 0) -> bytes:
        """The whole message for `qname` (used to re-parse a cached answer off the hot path)."""
        return pack(">HHHHHH", ident, self.flags, 1, self.an, self.ns, self.ar) + qname + self.body


def reply_to(q: Query, answer: Answer, opt: bytes, limit: int) -> bytes:
    """The reply to `q`: its ID, RD/CD and name bytes patched in; TC and no records if over `limit`."""
    data = q.data
    flags = answer.flags | (q.flags & COPIED_FLAGS)
    out = (
        data[:2]
        + pack(">HHHHH", flags, 1, answer.an, answer.ns, answer.ar + 1 if opt else answer.ar)
        + q.qname
        + answer.body
        + opt
    )
    if len(out) <= limit:
        return out
    return truncated(q, flags, opt)


def truncated(q: Query, flags: int, opt: bytes) -> bytes:
    """The question alone with TC set, telling the client to retry over TCP."""
    data = q.data
    return data[:2] + pack(">HHHHH", flags | TC, 1, 0, 0, 1 if opt else 0) + q.question + opt
