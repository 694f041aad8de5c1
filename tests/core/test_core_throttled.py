"""Throttled: 429 (or 503 with Retry-After) answers, counted toward `throttled_fall`, not toward `fall`."""

from __future__ import annotations

from dnsctl.core.codec import decode, encode
from dnsctl.core.health import EndpointHealth, MonitorStatus, observe
from dnsctl.core.model import IsolationGuardSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.core.state import ProfileState

from .factories import T0, Engine, fail, monitor, ok, profile, spec


def throttled(endpoint: str, at: float = T0) -> ProbeResult:
    return fail(endpoint, at, reason=FailureReason.THROTTLED, detail="manifest: HTTP 429, Retry-After 1")


def feed(h: EndpointHealth, results: list[ProbeResult], **mon: object) -> EndpointHealth:
    m = monitor(**mon)
    for i, r in enumerate(results):
        h = observe(h, r, m, T0 + i)
    return h


def test_throttled_fall_answers_make_an_online_endpoint_throttled() -> None:
    h = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 2], fall=3, throttled_fall=2)
    assert h.status is MonitorStatus.THROTTLED
    assert h.failures == 0 and h.throttles == 2


def test_throttled_answers_do_not_count_toward_fall() -> None:
    # fall 2, throttled_fall 5: four 429s keep it Online (the old code said Degraded after two).
    h = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 4], fall=2, throttled_fall=5)
    assert h.status is MonitorStatus.ONLINE
    h = feed(h, [throttled("eastus")], fall=2, throttled_fall=5)
    assert h.status is MonitorStatus.THROTTLED


def test_throttled_fall_defaults_to_fall() -> None:
    h = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 3], fall=3)
    assert h.status is MonitorStatus.THROTTLED


def test_a_throttled_endpoint_recovers_after_rise_and_degrades_on_real_failures() -> None:
    h = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 3], fall=3)
    back = feed(h, [ok("eastus")] * 2, fall=3, rise=2)
    assert back.status is MonitorStatus.ONLINE
    down = feed(h, [fail("eastus")] * 3, fall=3)
    assert down.status is MonitorStatus.DEGRADED


def test_a_throttled_primary_is_failed_over_with_the_reason() -> None:
    p = profile(monitor_spec=monitor(fall=3, throttled_fall=2))
    eng = Engine(spec(p))
    eng.round({"eastus": True, "westeurope": True})
    assert eng.decision() is not None and eng.decision().primary == "eastus"  # type: ignore[union-attr]
    for _ in range(2):
        eng.feed([throttled("eastus", eng.now), ok("westeurope", eng.now)])
    d = eng.decision()
    assert d is not None and d.primary == "westeurope"
    assert "eastus Throttled" in d.reason and "429" in d.reason
    assert [t.new for t in eng.transitions if t.endpoint == "eastus"][-1] is MonitorStatus.THROTTLED


def test_every_replica_throttled_is_not_isolation() -> None:
    p = profile(monitor_spec=monitor(fall=3, throttled_fall=1))
    eng = Engine(spec(p, guard=IsolationGuardSpec(True)))
    eng.round({"eastus": True, "westeurope": True})
    out = eng.feed([throttled("eastus", eng.now), throttled("westeurope", eng.now)])
    assert not out.isolated
    assert eng.health("eastus").status is MonitorStatus.THROTTLED
    assert eng.health("westeurope").status is MonitorStatus.THROTTLED


def test_throttled_state_survives_encoding() -> None:
    p = profile(monitor_spec=monitor(fall=3, throttled_fall=4))
    h1 = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 4], fall=3, throttled_fall=4)
    h2 = feed(EndpointHealth(), [ok("eastus"), *[throttled("eastus")] * 2], fall=3, throttled_fall=4)
    st = ProfileState(started_at=T0, endpoints={"eastus": h1, "westeurope": h2})
    back = decode(p, encode(p, st)).state.endpoints
    assert back["eastus"].status is MonitorStatus.THROTTLED
    assert (back["westeurope"].status, back["westeurope"].throttles) == (MonitorStatus.ONLINE, 2)
