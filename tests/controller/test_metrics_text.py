"""`/metrics` writes the same series as prometheus_client, and writes again only what changed."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dnsctl.controller import metric_text
from dnsctl.controller.metric_text import EndpointSeries
from dnsctl.controller.metrics import Metrics, exposition
from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.model import DnsctlSpec, EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.core.state import DecisionChange, ProfileState, RoundOutcome, Transition

EPS = (EndpointSpec("east", "east.example", priority=1), EndpointSpec("west", "west.example", priority=2))
SPEC = DnsctlSpec(profiles=tuple(ProfileSpec(f"p{i}", f"p{i}.example", EPS) for i in range(3)))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith("_created"):
                continue  # the time a series was made: read at different moments
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def outcome(
    status: MonitorStatus,
    results: list[ProbeResult],
    transitions: tuple[Transition, ...] = (),
    changes: tuple[DecisionChange, ...] = (),
) -> RoundOutcome:
    health = EndpointHealth(status=status, flaps=1 if status is MonitorStatus.DEGRADED else 0)
    states = {p.name: ProfileState(0.0, endpoints={"east": health, "west": health}) for p in SPEC.profiles}
    return RoundOutcome(states, transitions, changes, False, results=tuple(results))


def test_the_scrape_writes_the_series_prometheus_client_writes_after_every_change() -> None:
    m = Metrics()
    m.init_profiles(SPEC)
    assert samples(exposition(m.registry).decode()) == samples(generate_latest(m.registry).decode())
    ok = [ProbeResult(p.name, e.name, 0.0, True, 0.02, e.target) for p in SPEC.profiles for e in EPS]
    m.observe_round(outcome(MonitorStatus.ONLINE, ok), ok)
    first = exposition(m.registry).decode()
    assert samples(first) == samples(generate_latest(m.registry).decode())
    assert samples(first)[("dnsctl_endpoint_up", (("endpoint", "east"), ("profile", "p1")))] == 1.0
    # A second round: one endpoint fails and moves, a decision changes; every cached part follows.
    bad = ProbeResult("p1", "east", 1.0, False, 3.0, "east.example", reason=FailureReason.TIMEOUT)
    moved = (Transition("p1", "east", MonitorStatus.ONLINE, MonitorStatus.DEGRADED, True, "timeout"),)
    new = Decision(DecisionKind.ENDPOINT, ("west",), "east Degraded", 1.0)
    old = Decision(DecisionKind.ENDPOINT, ("east",), "east Online", 0.0)
    m.observe_round(
        outcome(MonitorStatus.DEGRADED, [bad], moved, (DecisionChange("p1", None, old, new),)), [bad]
    )
    second = samples(exposition(m.registry).decode())
    assert second == samples(generate_latest(m.registry).decode())
    key = (("endpoint", "east"), ("profile", "p1"))
    assert second[("dnsctl_endpoint_up", key)] == 0.0
    assert second[("dnsctl_endpoint_flaps", key)] == 1.0
    assert second[("dnsctl_probe_duration_seconds_count", key)] == 2.0
    assert second[("dnsctl_probe_duration_seconds_bucket", tuple(sorted((*key, ("le", "5.0")))))] == 2.0
    assert second[("dnsctl_probe_failures_total", (*key, ("reason", "timeout")))] == 1.0
    assert second[("dnsctl_endpoint_transitions_total", (*key, ("to", "Degraded")))] == 1.0
    assert second[("dnsctl_decision_changes_total", (("profile", "p1"), ("view", "")))] == 1.0


def test_a_scrape_writes_again_only_the_parts_that_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Metrics()
    m.init_profiles(SPEC)
    ok = [ProbeResult(p.name, e.name, 0.0, True, 0.02, e.target) for p in SPEC.profiles for e in EPS]
    m.observe_round(outcome(MonitorStatus.ONLINE, ok), ok)
    exposition(m.registry)
    written: list[str] = []

    def counted(name: str, real: Any) -> Any:
        def render(eps: Any) -> Any:
            written.append(name)
            return real(eps)

        return staticmethod(render)

    for name in ("_render_states", "_render_events"):
        monkeypatch.setattr(EndpointSeries, name, counted(name, getattr(EndpointSeries, name)))
    real_text = metric_text.registry_text

    def text(registry: Any) -> str:
        written.append("per-profile")
        return real_text(registry)

    monkeypatch.setattr(metric_text, "registry_text", text)
    before = exposition(m.registry)
    assert written == []  # nothing changed: every part from the last scrape
    one = [ok[0]]
    m.observe_round(outcome(MonitorStatus.ONLINE, one), one)  # probed again, nothing else changed
    after = exposition(m.registry)
    assert written == [] and after != before  # its histogram alone was written again
    moved = (Transition("p0", "east", MonitorStatus.ONLINE, MonitorStatus.DEGRADED, True, "timeout"),)
    m.observe_round(outcome(MonitorStatus.DEGRADED, [], moved), [])
    exposition(m.registry)
    assert written == ["_render_states", "_render_events"]  # a status and a transition count changed
