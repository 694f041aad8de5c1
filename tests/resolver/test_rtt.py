"""The first retransmission's wait, from an upstream's round trips (resolver/rtt.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dnsctl.core.model import HostPort
from dnsctl.resolver.forwarder import Forwarder
from dnsctl.resolver.rtt import RETRY_FIRST, RETRY_MIN, RoundTrip
from tests.support.clock import ManualClock


def test_before_any_round_trip_the_fixed_wait_applies() -> None:
    assert RoundTrip().first_retry() == RETRY_FIRST


def test_a_fast_upstream_is_sent_again_after_the_minimum_not_the_fixed_wait() -> None:
    estimate = RoundTrip()
    for _ in range(10):
        estimate = estimate.observe(0.0002)
    assert estimate.srtt == 0.0002 and estimate.first_retry() == RETRY_MIN


def test_the_wait_follows_the_round_trip_and_its_variation() -> None:
    # RFC 6298: the first sample sets srtt = R and rttvar = R/2, so the wait is R + 4 x R/2 = 3R.
    assert RoundTrip().observe(0.04).first_retry() == 0.04 * 3
    steady = RoundTrip()
    for _ in range(200):
        steady = steady.observe(0.06)
    assert abs(steady.first_retry() - 0.06) < 0.001  # the variation has died away
    # One slow reply among fast ones widens the wait at once (the variation moves by a quarter).
    jolted = steady.observe(0.2)
    assert jolted.first_retry() > 0.06 + 4 * 0.25 * 0.13


def test_a_slow_upstream_never_waits_longer_than_the_fixed_wait() -> None:
    assert RoundTrip().observe(5.0).first_retry() == RETRY_FIRST


def test_a_negative_sample_from_a_clock_step_counts_as_zero() -> None:
    assert RoundTrip().observe(-1.0) == RoundTrip(0.0, 0.0, 1)


@given(st.lists(st.floats(min_value=-1, max_value=60, allow_nan=False), max_size=50))
def test_the_wait_always_lies_between_the_minimum_and_the_fixed_wait(samples: list[float]) -> None:
    estimate = RoundTrip()
    for sample in samples:
        estimate = estimate.observe(sample)
        assert RETRY_MIN <= estimate.first_retry() <= RETRY_FIRST
    assert estimate.samples == len(samples)


def test_the_wait_an_upstream_shows_is_the_one_its_queries_get_within_a_quarter_of_the_timeout() -> None:
    # A short upstream_timeout caps the first retransmission at a quarter of it: /status and /metrics
    # show that wait, not the round trip's alone.
    short = Forwarder([HostPort("127.0.0.1", 53)], 0.4, clock=ManualClock())
    assert [s.first_retry for s in short.states()] == [0.1]
    usual = Forwarder([HostPort("127.0.0.1", 53)], 2.0, clock=ManualClock())
    assert [s.first_retry for s in usual.states()] == [RETRY_FIRST]
