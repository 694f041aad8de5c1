"""The health engine's rules, one table per rule: verdicts, hysteresis, flaps, damping, overrides."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dnsctl.core.health import (
    LATENCY_WINDOW,
    MAX_HOLD_FACTOR,
    EndpointHealth,
    MonitorStatus,
    describe,
    effective_status,
    observe,
)
from dnsctl.core.model import EndpointStatus, MonitorSpec, Override
from dnsctl.core.results import FailureReason

from .factories import T0, degraded, endpoint, fail, fold, monitor, ok

CHECKING, ONLINE, DEGRADED = MonitorStatus.CHECKING, MonitorStatus.ONLINE, MonitorStatus.DEGRADED


def statuses(verdicts: str, mon: MonitorSpec) -> str:
    """Feed '+' (success) and '-' (failure) one by one; the status letter after each."""
    h = EndpointHealth()
    out = ""
    for i, v in enumerate(verdicts):
        now = T0 + 10 * i
        h = observe(h, ok("eastus", now) if v == "+" else fail("eastus", now), mon, now)
        out += h.status.value[0]
    return out


# (fall, rise, verdicts, status after each verdict)
HYSTERESIS = [
    # CheckingEndpoint until the first verdict; the first success is Online at once.
    (3, 2, "+", "O"),
    (3, 2, "--+", "CCO"),
    # `fall` consecutive failures from CheckingEndpoint: Degraded.
    (1, 2, "-", "D"),
    (2, 2, "--", "CD"),
    (3, 2, "---", "CCD"),
    (4, 2, "----", "CCCD"),
    (3, 2, "-+--", "COOO"),
    # Online -> Degraded after exactly `fall` consecutive failures.
    (3, 2, "+--", "OOO"),
    (3, 2, "+---", "OOOD"),
    (1, 1, "+-", "OD"),
    (5, 2, "+-----", "OOOOOD"),
    # A success in between resets the count.
    (3, 2, "+--+--", "OOOOOO"),
    (3, 2, "+--+---", "OOOOOOD"),
    (3, 2, "+-+-+-+-", "OOOOOOOO"),
    # Degraded -> Online after exactly `rise` consecutive successes.
    (3, 2, "+---+", "OOODD"),
    (3, 2, "+---++", "OOODDO"),
    (3, 3, "+---++", "OOODDD"),
    (3, 3, "+---+++", "OOODDDO"),
    (3, 1, "+---+", "OOODO"),
    (3, 2, "---++", "CCDDO"),
    # A failure while recovering resets the successes.
    (3, 2, "+---+-+", "OOODDDD"),
    (3, 2, "+---+-++", "OOODDDDO"),
    # Failures while Degraded keep it Degraded (no second flap).
    (2, 2, "+------", "OODDDDD"),
]


@pytest.mark.parametrize(("fall", "rise", "verdicts", "expected"), HYSTERESIS)
def test_fall_rise_hysteresis(fall: int, rise: int, verdicts: str, expected: str) -> None:
    assert statuses(verdicts, monitor(fall=fall, rise=rise, flap_threshold=99)) == expected


def test_no_verdict_yet_is_checking_endpoint() -> None:
    h = EndpointHealth()
    assert h.status is CHECKING
    assert h.since is None and h.last is None and h.flaps == 0


@pytest.mark.parametrize(
    ("verdicts", "successes", "failures"),
    [("+", 1, 0), ("++-", 0, 1), ("+--", 0, 2), ("-++", 2, 0), ("+---++", 2, 0)],
)
def test_consecutive_counters(verdicts: str, successes: int, failures: int) -> None:
    h = fold((v == "+" for v in verdicts), monitor())
    assert (h.successes, h.failures) == (successes, failures)


def test_since_is_the_time_the_status_was_entered_and_last_is_kept() -> None:
    mon = monitor(fall=2, rise=2)
    h = EndpointHealth()
    h = observe(h, ok("eastus", 100.0), mon, 100.0)
    assert (h.status, h.since) == (ONLINE, 100.0)
    h = observe(h, ok("eastus", 110.0), mon, 110.0)
    assert h.since == 100.0  # staying Online does not move it
    h = observe(h, fail("eastus", 120.0), mon, 120.0)
    h = observe(h, fail("eastus", 130.0, detail="boom"), mon, 130.0)
    assert (h.status, h.since) == (DEGRADED, 130.0)
    assert h.last is not None and h.last.detail == "boom"


def test_flaps_count_online_to_degraded_transitions_only() -> None:
    mon = monitor(fall=1, rise=1, flap_threshold=99)
    # Checking -> Degraded is no flap; each Online -> Degraded is one.
    h = fold((v == "+" for v in "-+-+-+--"), mon)
    assert h.flaps == 3
    assert len(h.flap_times) == 3


def test_flaps_outside_the_window_are_forgotten_but_still_counted() -> None:
    mon = monitor(fall=1, rise=1, flap_threshold=3, flap_window=100.0, flap_hold=50.0)
    # A flap every 60 s: never three inside 100 s, so never damped.
    h = EndpointHealth()
    now = T0
    for _ in range(6):
        h = observe(h, ok("eastus", now), mon, now)
        h = observe(h, fail("eastus", now + 30), mon, now + 30)
        assert not h.damped
        now += 60
    assert h.flaps == 6
    assert len(h.flap_times) == 2


def _cycle(h: EndpointHealth, mon: MonitorSpec, t: float) -> tuple[EndpointHealth, float]:
    """Go down at `t` (fall=1), then come back at the first moment damping allows; returns the hold."""
    h = observe(h, fail("eastus", t), mon, t)
    assert h.status is DEGRADED
    hold = (h.hold_until - t) if h.hold_until is not None else 0.0
    back = max(t + 1, h.hold_until or 0.0)
    h = observe(h, ok("eastus", back), mon, back)
    assert h.status is ONLINE
    return h, hold


def test_damping_holds_the_threshold_flap_for_flap_hold_then_doubles_up_to_the_cap() -> None:
    mon = monitor(fall=1, rise=1, flap_threshold=3, flap_window=1e9, flap_hold=120.0)
    h = observe(EndpointHealth(), ok("eastus", T0), mon, T0)
    holds = []
    t = T0 + 10
    for _ in range(9):
        h, hold = _cycle(h, mon, t)
        holds.append(hold)
        t += hold + 10
    cap = 120.0 * MAX_HOLD_FACTOR
    assert holds == [0.0, 0.0, 120.0, 240.0, 480.0, 960.0, cap, cap, cap]
    assert h.flaps == 9


def test_damped_endpoint_stays_degraded_for_flap_hold_despite_successes() -> None:
    mon = monitor(fall=1, rise=2, flap_threshold=3, flap_window=600.0, flap_hold=120.0)
    h = EndpointHealth()
    t = T0
    for _ in range(2):  # two flaps: not yet damped
        h = observe(h, ok("eastus", t), mon, t)
        h = observe(h, ok("eastus", t + 1), mon, t + 1)
        h = observe(h, fail("eastus", t + 2), mon, t + 2)
        assert h.status is DEGRADED and not h.damped
        t += 10
    h = observe(h, ok("eastus", t), mon, t)
    h = observe(h, ok("eastus", t + 1), mon, t + 1)
    assert h.status is ONLINE
    flap_at = t + 2
    h = observe(h, fail("eastus", flap_at), mon, flap_at)  # the third flap inside the window
    assert h.status is DEGRADED and h.damped and h.hold_until == flap_at + 120.0
    # Plenty of successes during the hold: still Degraded, and the reason says why.
    for k in range(1, 12):
        now = flap_at + 10 * k
        h = observe(h, ok("eastus", now), mon, now)
        assert h.status is DEGRADED, f"came back at +{10 * k}s inside the hold"
    assert "damped after 3 flaps" in describe("eastus", h)
    h = observe(h, ok("eastus", flap_at + 120.0), mon, flap_at + 120.0)
    assert h.status is ONLINE and not h.damped and h.since == flap_at + 120.0


def test_damped_endpoint_after_the_hold_still_needs_rise_successes() -> None:
    mon = monitor(fall=1, rise=3, flap_threshold=1, flap_window=600.0, flap_hold=30.0)
    h = observe(EndpointHealth(), ok("eastus", T0), mon, T0)
    h = observe(h, fail("eastus", T0 + 1), mon, T0 + 1)
    assert h.hold_until == T0 + 31
    h = observe(h, fail("eastus", T0 + 40), mon, T0 + 40)  # past the hold, but a failure
    for k, expected in ((41, DEGRADED), (42, DEGRADED), (43, ONLINE)):
        h = observe(h, ok("eastus", T0 + k), mon, T0 + k)
        assert h.status is expected


@pytest.mark.parametrize(
    ("configured_status", "configured", "runtime", "health", "expected"),
    [
        # Disabled wins over everything.
        (EndpointStatus.DISABLED, Override.OBEY, None, ONLINE, MonitorStatus.DISABLED),
        (EndpointStatus.DISABLED, Override.UP, None, ONLINE, MonitorStatus.DISABLED),
        (EndpointStatus.DISABLED, Override.OBEY, Override.UP, CHECKING, MonitorStatus.DISABLED),
        # Obey: the probes decide.
        (EndpointStatus.ENABLED, Override.OBEY, None, CHECKING, CHECKING),
        (EndpointStatus.ENABLED, Override.OBEY, None, ONLINE, ONLINE),
        (EndpointStatus.ENABLED, Override.OBEY, None, DEGRADED, DEGRADED),
        # Configured pins.
        (EndpointStatus.ENABLED, Override.UP, None, DEGRADED, ONLINE),
        (EndpointStatus.ENABLED, Override.UP, None, CHECKING, ONLINE),
        (EndpointStatus.ENABLED, Override.DOWN, None, ONLINE, DEGRADED),
        # The run-time override wins over the configured one.
        (EndpointStatus.ENABLED, Override.DOWN, Override.UP, DEGRADED, ONLINE),
        (EndpointStatus.ENABLED, Override.UP, Override.DOWN, ONLINE, DEGRADED),
        (EndpointStatus.ENABLED, Override.OBEY, Override.DOWN, ONLINE, DEGRADED),
        (EndpointStatus.ENABLED, Override.UP, Override.OBEY, DEGRADED, DEGRADED),
    ],
)
def test_effective_status(
    configured_status: EndpointStatus,
    configured: Override,
    runtime: Override | None,
    health: MonitorStatus,
    expected: MonitorStatus,
) -> None:
    ep = endpoint("eastus", 1, status=configured_status, override=configured)
    assert effective_status(ep, EndpointHealth(status=health), runtime) is expected


def test_override_does_not_stop_the_health_history() -> None:
    # A pinned endpoint is still judged by its probes underneath the pin.
    ep = endpoint("eastus", 1, override=Override.UP)
    h = fold([True, False, False, False], monitor(fall=3))
    assert h.status is DEGRADED
    assert effective_status(ep, h) is ONLINE
    assert effective_status(endpoint("eastus", 1), h) is DEGRADED


def test_latencies_keep_the_recent_successes_only() -> None:
    mon = monitor(fall=5)
    h = EndpointHealth()
    for i, lat in enumerate([0.5, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]):
        h = observe(h, ok("eastus", T0 + i, latency=lat), mon, T0 + i)
    h = observe(h, fail("eastus", T0 + 10), mon, T0 + 10)  # failures carry no latency
    assert h.latencies == (0.02, 0.03, 0.04, 0.05, 0.06)
    assert len(h.latencies) == LATENCY_WINDOW
    assert h.median_latency() == 0.04
    assert EndpointHealth().median_latency() is None


@pytest.mark.parametrize(
    ("reason", "detail", "text"),
    [
        (FailureReason.CONNECT_TIMEOUT, "", "eastus Degraded after 3 failures (connect-timeout)"),
        (FailureReason.TLS, "cert expired", "eastus Degraded after 3 failures (tls: cert expired)"),
        (FailureReason.REFUSED, "", "eastus Degraded after 3 failures (refused)"),
    ],
)
def test_describe_degraded_names_the_failures_and_the_last_reason(
    reason: FailureReason, detail: str, text: str
) -> None:
    h = EndpointHealth()
    for i in range(3):
        h = observe(h, fail("eastus", T0 + i, reason=reason, detail=detail), monitor(), T0 + i)
    assert describe("eastus", h) == text


def test_describe_http_status_and_online_and_checking() -> None:
    h = degraded(2)
    assert h.last is not None
    h = replace(h, last=replace(h.last, reason=FailureReason.HTTP_STATUS, status_code=503))
    assert describe("eastus", h) == "eastus Degraded after 2 failures (http-status 503)"
    assert describe("eastus", fold([True])) == "eastus Online"
    assert describe("eastus", EndpointHealth()).startswith("eastus CheckingEndpoint (no verdict yet")
    checking = fold([False], monitor(fall=3))
    assert "connect-timeout" in describe("eastus", checking)


def test_observe_is_pure() -> None:
    h = fold([True, False])
    before = h
    observe(h, fail("eastus", T0 + 100), monitor(), T0 + 100)
    assert h == before
