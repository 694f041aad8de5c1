"""Turning an upstream reply into a cacheable Answer: OPT stripped, TTLs clamped, negative TTL set.

The upstream was asked with our lower-cased question, so its reply has the same layout as the replies we
serve (12-byte header, same-length name): its compression pointers stay valid in the body we keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import pack_into, unpack_from

from dnsctl.core.model import CacheSpec
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.wire import HEADER_LEN, NOERROR, NXDOMAIN, QR, RA, TYPE_OPT, TYPE_SOA, walk_records


@dataclass(frozen=True, slots=True)
class Normalized:
    answer: Answer
    lifetime: int  # seconds it may be served from cache; 0: serve once, do not cache


def normalize_reply(reply: bytes, qname_len: int, spec: CacheSpec) -> Normalized:
    """Normalize a validated upstream reply; raises IndexError/ValueError if its records are malformed."""
    rcode = reply[3] & 0xF
    an, ns, ar = unpack_from(">HHH", reply, 6)
    start = HEADER_LEN + qname_len
    records = list(walk_records(reply, start + 4, an + ns + ar))
    kept = len(records)
    for index in range(an + ns, len(records)):
        if records[index][1] == TYPE_OPT:
            # Pointers only point backwards, so cutting at the OPT leaves every kept record intact.
            kept = index
            break
    end = records[kept - 1][4] if kept else start + 4
    buf = bytearray(reply[:end])
    ttl_at = [r[2] for r in records[:kept]]

    def ttl(offset: int) -> int:
        value: int = unpack_from(">I", buf, offset)[0]
        return 0 if value > 0x7FFFFFFF else value  # RFC 2181 8: a set high bit means zero

    # NXDOMAIN, or NOERROR whose chain (if any) ends without data: the SOA in authority says for how long.
    soa = next((r for r in records[an : an + ns] if r[1] == TYPE_SOA), None)
    negative = rcode == NXDOMAIN or (rcode == NOERROR and (an == 0 or soa is not None))
    for offset in ttl_at[:an]:
        pack_into(">I", buf, offset, max(min(ttl(offset), spec.max_ttl), spec.min_ttl))
    answer_ttls = [ttl(offset) for offset in ttl_at[:an]]
    lifetime = min(answer_ttls) if answer_ttls else 0
    if negative:
        # RFC 2308 5: the negative TTL bounds the records proving the negative answer (and the entry);
        # the CNAMEs leading to it keep their own TTLs.
        negative_ttl = 0
        if soa is not None and soa[4] - 4 >= soa[2] + 6:
            minimum: int = unpack_from(">I", buf, soa[4] - 4)[0]
            negative_ttl = min(ttl(soa[2]), minimum, spec.negative_max_ttl)
        for offset in ttl_at[an:]:
            pack_into(">I", buf, offset, min(ttl(offset), negative_ttl))
        lifetime = min(lifetime, negative_ttl) if answer_ttls else negative_ttl
    else:
        for offset in ttl_at[an:]:
            pack_into(">I", buf, offset, max(min(ttl(offset), spec.max_ttl), spec.min_ttl))
    answer = Answer(QR | RA | rcode, an, ns, max(0, kept - an - ns), bytes(buf[start:]))
    return Normalized(answer, lifetime)
