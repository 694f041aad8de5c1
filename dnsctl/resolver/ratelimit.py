"""Response rate limiting for UDP, in the manner of BIND's RRL.

Responses to the same question (whatever they say: answers, errors, REFUSED) sent to one client network
(/24 for IPv4, /56 for IPv6 by default) are limited to `qps` per second with a bucket of `burst`. Over the
limit, every `slip`-th response is sent truncated (TC, the question and OPT only: never larger than the
query), which sends a real client to TCP; the others are dropped. A spoofed flood thus reflects at most
`qps` responses per second and question onto its victim's network. TCP is never limited (its handshake
proves the source).

It is on by default (`qps` unset) whenever `allow` admits more than loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from dnsctl.core.model import RateLimitSpec
from dnsctl.resolver.wire import HEADER_LEN

# Responses per second and per (client network, question) when `qps` is not set and `allow` admits
# more than loopback.
DEFAULT_QPS = 50.0
# Past this many tracked (network, question) pairs, buckets that have refilled completely are forgotten.
_TRACK_LIMIT = 100_000
# Client addresses whose network is memoised; past this the memo starts over.
_MEMO_LIMIT = 65_536


def wider_than_loopback(allow: Sequence[str]) -> bool:
    for cidr in allow:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if not (net.network_address.is_loopback and net.broadcast_address.is_loopback):
            return True
    return False


def effective_qps(spec: RateLimitSpec, allow: Sequence[str]) -> float:
    """The limit in force: the configured one, else DEFAULT_QPS if `allow` is wider than loopback, else 0."""
    if spec.qps is not None:
        return spec.qps
    return DEFAULT_QPS if wider_than_loopback(allow) else 0.0


class RateLimiter:
    """`allow(client, question, now)` spends one token of that pair's bucket; refills at `qps` up to
    `burst`. `slip(client, question)` says whether a refused response goes out truncated."""

    def __init__(self, spec: RateLimitSpec, allow: Sequence[str] = ()) -> None:
        self.rate = effective_qps(spec, allow)
        self.burst = float(max(spec.burst, 1))
        self.slip_every = spec.slip
        self.v4_shift = 32 - spec.ipv4_prefix
        self.v6_shift = 128 - spec.ipv6_prefix
        # (network, question) -> [tokens, last refill time, over-limit count]
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

    def allow(self, client: str, question: bytes, now: float) -> bool:
        key = (self.network(client), question)
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

    def slip(self, client: str, question: bytes) -> bool:
        """Whether this over-limit response goes out truncated: every `slip`-th one (never with slip 0,
        always with slip 1); the others are dropped."""
        if self.slip_every <= 0:
            return False
        bucket = self._buckets.get((self.network(client), question))
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


def question_of(reply: bytes) -> bytes:
    """A response's question as a bucket key: the name lower-cased (0x20 letter case must not split a
    client's bucket), its type and class; empty for a response without one. The question of a reply
    is the client's own, which the parser accepted uncompressed, so the labels are walked here inline."""
    n = len(reply)
    if n <= HEADER_LEN or not (reply[4] or reply[5]):
        return b""
    pos = HEADER_LEN
    length = reply[pos]
    while length:
        if length > 63:
            return b""
        pos += length + 1
        if pos >= n:
            return b""
        length = reply[pos]
    end = pos + 1
    return reply[HEADER_LEN:end].lower() + reply[end : end + 4]


def response_limiter(spec: RateLimitSpec, allow: Sequence[str]) -> RateLimiter | None:
    limiter = RateLimiter(spec, allow)
    return limiter if limiter.enabled else None
