"""When to send an unanswered UDP query to an upstream again: from the round trips it has shown.

A fixed first retransmission has to suit the slowest upstream, so a datagram lost on the way to a fast
one costs far more than its round trip. Each upstream keeps a smoothed round trip and its variation, as
TCP does (RFC 6298: srtt + 4 x rttvar), measured on replies to queries sent once only (Karn: a reply
after a retransmission could answer either copy). The first retransmission waits that long, within
[RETRY_MIN, RETRY_FIRST]: never sooner than 50 ms (unbound's minimum too), so an upstream that answers
a miss in 0.1 ms is not sent every query twice when it has to recurse, and never later than the fixed
wait used before any round trip is known.
"""

from __future__ import annotations

from dataclasses import dataclass

# The first retransmission before any round trip is known, and the latest it ever is.
RETRY_FIRST = 0.3
# The earliest a first retransmission is ever sent.
RETRY_MIN = 0.05
# RFC 6298's gains: a new sample moves the smoothed round trip by 1/8, its variation by 1/4.
_ALPHA = 1 / 8
_BETA = 1 / 4


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """An upstream's smoothed round trip and its mean deviation, in seconds (both 0 before a sample)."""

    srtt: float = 0.0
    rttvar: float = 0.0
    samples: int = 0

    def observe(self, sample: float) -> RoundTrip:
        """This estimate updated with one measured round trip (a negative sample counts as 0)."""
        sample = max(sample, 0.0)
        if self.samples == 0:
            return RoundTrip(sample, sample / 2, 1)
        rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - sample)
        srtt = (1 - _ALPHA) * self.srtt + _ALPHA * sample
        return RoundTrip(srtt, rttvar, self.samples + 1)

    def first_retry(self) -> float:
        """Seconds to wait for a reply before the first retransmission."""
        if self.samples == 0:
            return RETRY_FIRST
        return min(max(self.srtt + 4 * self.rttvar, RETRY_MIN), RETRY_FIRST)
