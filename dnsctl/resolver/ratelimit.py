"""Response rate limiting for UDP, in the manner of BIND's RRL.

Responses sent to one client network (/24 for IPv4, /56 for IPv6 by default) are grouped as BIND groups
them (`bucket_of`), and each group is limited to `qps` per second with a bucket of `burst`:
- a positive answer (the answer section holds the type asked for): per name and type;
- NODATA (NOERROR without the type asked for, even behind a CNAME): per name, whatever the type;
- NXDOMAIN: per zone, the owner of the SOA in the authority section (the lab zone, a steered name's
  synthesized zone, the zone an upstream names), else the parent of the name;
- errors (SERVFAIL, REFUSED, FORMERR, NOTIMP, BADVERS...) and replies without a question: one group per
  client network.
So varying the type or the name (random names under a zone, random types of one name, names that fail)
reflects no more than varying nothing. Over the limit, every `slip`-th response is sent truncated (TC,
the question and OPT only: never larger than the query), which sends a real client to TCP; the others
are dropped. A spoofed flood thus reflects at most `qps` responses per second and group onto its
victim's network. TCP is never limited (its handshake proves the source).

It is on by default (`qps` unset) whenever `allow` admits more than loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from struct import pack, unpack_from

from dnsctl.core.model import Network, RateLimitSpec
from dnsctl.resolver.wire import (
    HEADER_LEN,
    NOERROR,
    NXDOMAIN,
    TC,
    TYPE_ANY,
    TYPE_OPT,
    TYPE_SOA,
    read_name,
)

# Responses per second and per (client network, group) when `qps` is not set and `allow` admits
# more than loopback.
DEFAULT_QPS = 50.0
_ANY = pack(">H", TYPE_ANY)
_SOA = pack(">H", TYPE_SOA)
_OPT = pack(">H", TYPE_OPT)
# The group of every error reply (and of a reply without a question) to one client network.
ERRORS = b"E"
# Past this many tracked (network, group) pairs, buckets that have refilled completely are forgotten.
_TRACK_LIMIT = 100_000
# Client addresses whose network is memoised; past this the memo starts over.
_MEMO_LIMIT = 65_536


def wider_than_loopback(allow: Sequence[Network]) -> bool:
    return any(not (net.network_address.is_loopback and net.broadcast_address.is_loopback) for net in allow)


def effective_qps(spec: RateLimitSpec, allow: Sequence[Network]) -> float:
    """The limit in force: the configured one, else DEFAULT_QPS if `allow` is wider than loopback, else 0."""
    if spec.qps is not None:
        return spec.qps
    return DEFAULT_QPS if wider_than_loopback(allow) else 0.0


class RateLimiter:
    """`allow(client, group, now)` spends one token of that pair's bucket (`group`: `bucket_of` the reply);
    refills at `qps` up to `burst`. `slip(client, group)` says whether a refused response goes out
    truncated."""

    def __init__(self, spec: RateLimitSpec, allow: Sequence[Network] = ()) -> None:
        self.rate = effective_qps(spec, allow)
        self.burst = float(max(spec.burst, 1))
        self.slip_every = spec.slip
        self.v4_shift = 32 - spec.ipv4_prefix
        self.v6_shift = 128 - spec.ipv6_prefix
        # (network, group) -> [tokens, last refill time, over-limit count]
        self._buckets: dict[tuple[str, bytes], list[float]] = {}
        self._networks: dict[str, str] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def network(self, client: str) -> str:
        """The client's network as a key ("4:<prefix bits>" / "6:...")."""
        found = self._networks.get(client)
        if found is not None:
            return found
        try:
            address = ipaddress.ip_address(client.split("%", 1)[0])
        except ValueError:
            network = "?"
        else:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if isinstance(address, ipaddress.IPv4Address):
                network = f"4:{int(address) >> self.v4_shift}"
            else:
                network = f"6:{int(address) >> self.v6_shift}"
        if len(self._networks) >= _MEMO_LIMIT:
            self._networks.clear()
        self._networks[client] = network
        return network

    def allow(self, client: str, group: bytes, now: float) -> bool:
        key = (self.network(client), group)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _TRACK_LIMIT:
                self._forget_full(now)
            bucket = self._buckets[key] = [self.burst, now, 0.0]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        bucket[2] += 1
        return False

    def slip(self, client: str, group: bytes) -> bool:
        """Whether this over-limit response goes out truncated: every `slip`-th one (never with slip 0,
        always with slip 1); the others are dropped."""
        if self.slip_every <= 0:
            return False
        bucket = self._buckets.get((self.network(client), group))
        return bucket is not None and int(bucket[2]) % self.slip_every == 0

    def _forget_full(self, now: float) -> None:
        full = [
            key
            for key, (tokens, last, _) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= _TRACK_LIMIT:
            self._buckets.clear()


def bucket_of(reply: bytes) -> bytes:
    """The group a response is limited in (see the module docstring), as a bucket key. The names in it are
    lower-cased: 0x20 letter case must not split a client's bucket. It runs for every reply sent from
    the event loop, so the records are walked inline, and a positive answer returns at its first record
    of the type asked for."""
    try:
        return _bucket(reply)
    except (IndexError, ValueError):
        return ERRORS


def _bucket(reply: bytes) -> bytes:
    n = len(reply)
    if n < HEADER_LEN:
        return ERRORS
    rcode = reply[3] & 0xF
    if (rcode != NOERROR and rcode != NXDOMAIN) or reply[4] or reply[5] != 1:
        return ERRORS
    # The question is the client's own, which the parser accepted uncompressed.
    pos = HEADER_LEN
    length = reply[pos]
    while length:
        if length > 63:
            return ERRORS
        pos += length + 1
        if pos >= n:
            return ERRORS
        length = reply[pos]
    end = pos + 1
    if end + 4 > n:
        return ERRORS
    qname = reply[HEADER_LEN:end].lower()
    qtype, qclass = reply[end : end + 2], reply[end + 2 : end + 4]
    positive = b"P" + qname + qtype + qclass
    an, ns, ar = unpack_from(">HHH", reply, 6)
    if rcode == NOERROR and (reply[2] & (TC >> 8) or (an and qtype == _ANY)):
        return positive  # truncated: the data is there, fetched over TCP; ANY: any record is data
    zone = b""
    pos = end + 4
    for index in range(an + ns + ar):
        start = pos
        length = reply[pos]
        while length:
            if length >= 0xC0:
                pos += 1
                break
            if length > 63:
                return ERRORS
            pos += length + 1
            length = reply[pos]
        pos += 1
        rtype = reply[pos : pos + 2]
        if pos + 10 > n:
            return ERRORS
        if index < an:
            if rtype == qtype and rcode == NOERROR:
                return positive
        elif index < an + ns:
            if rtype == _SOA and not zone:
                zone = read_name(reply, start)[0].lower()
        elif rtype == _OPT and reply[pos + 4]:
            return ERRORS  # an extended rcode (BADVERS)
        pos += 10 + ((reply[pos + 8] << 8) | reply[pos + 9])
    if rcode == NXDOMAIN:
        if not zone:
            zone = qname[qname[0] + 1 :] if qname[0] else qname
        return b"N" + zone + qclass
    return b"D" + qname + qclass


def response_limiter(spec: RateLimitSpec, allow: Sequence[Network]) -> RateLimiter | None:
    limiter = RateLimiter(spec, allow)
    return limiter if limiter.enabled else None
