"""A per-client token bucket for UDP queries (TCP needs a handshake, so it cannot be spoofed)."""

from __future__ import annotations

from dnsctl.core.model import RateLimitSpec

# Past this many tracked clients, buckets that have refilled completely are forgotten.
_TRACK_LIMIT = 100_000


class RateLimiter:
    """`allow(client, now)` spends one token; refills at `qps` up to `burst`."""

    def __init__(self, spec: RateLimitSpec) -> None:
        self.rate = spec.qps
        self.burst = float(max(spec.burst, 1))
        # client -> [tokens, last refill time, over-limit count]
        self._buckets: dict[str, list[float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, client: str, now: float) -> bool:
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _TRACK_LIMIT:
                self._forget_full(now)
            bucket = self._buckets[client] = [self.burst, now, 0.0]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens
        bucket[2] += 1
        return False

    def slip(self, client: str) -> bool:
        """Whether this over-limit query gets a TC reply (every second one) rather than silence."""
        bucket = self._buckets.get(client)
        return bucket is not None and int(bucket[2]) % 2 == 1

    def _forget_full(self, now: float) -> None:
        full = [
            c
            for c, (tokens, last, _) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) >= _TRACK_LIMIT:
            self._buckets.clear()
