"""The decision step runs only for profiles whose inputs changed, and skipping it changes nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dnsctl.core import state as core_state
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.results import ProbeResult
from dnsctl.core.state import RoundOutcome, initial_states, step

from .factories import T0, endpoint, fail, monitor, ok, profile
from .test_core_properties import Replay, operations, specs


class Unsettled(Replay):
    """The same replay with every profile decided again at every step (the step before the skip)."""

    def apply(self, op: tuple[object, ...]) -> RoundOutcome:
        if self.states:
            self.states = {k: replace(v, settled=None) for k, v in self.states.items()}
        return super().apply(op)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_skipping_the_decision_step_gives_the_same_outcomes(data: st.DataObject) -> None:
    spec = data.draw(specs())
    ops = data.draw(operations(spec))
    skipping, deciding = Replay(spec), Unsettled(spec)
    for op in ops:
        assert skipping.apply(op) == deciding.apply(op), op  # states, transitions, changes
        for name, st_ in skipping.states.items():
            assert st_.history == deciding.states[name].history
            if st_.settled is not None:
                event("a settled profile")


def _fleet(n: int) -> DnsctlSpec:
    eps = (endpoint("eastus", 1), endpoint("westeurope", 2), endpoint("centralus", 3))
    profiles = tuple(profile(*eps, name=f"reg{i}", monitor_spec=monitor(fall=1, rise=1)) for i in range(n))
    return DnsctlSpec(profiles=profiles)


def _round(spec: DnsctlSpec, now: float, down: frozenset[tuple[str, str]] = frozenset()) -> list[ProbeResult]:
    return [
        fail(ep.name, now, profile=p.name) if (p.name, ep.name) in down else ok(ep.name, now, 0.01, p.name)
        for p in spec.profiles
        for ep in p.endpoints
    ]


def test_the_decision_step_runs_only_for_the_profile_whose_results_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _fleet(50)
    calls: list[str] = []
    decide_all = core_state._decide_all

    def counted(spec_: Any, prof: Any, *args: Any) -> Any:
        calls.append(prof.name)
        return decide_all(spec_, prof, *args)

    monkeypatch.setattr(core_state, "_decide_all", counted)
    states = initial_states(spec, T0)
    now = T0
    for _ in range(3):  # verdicts, then decisions that settle
        now += 10
        states = dict(step(spec, states, _round(spec, now), now).states)
    calls.clear()
    now += 10
    out = step(spec, states, _round(spec, now, down=frozenset({("reg7", "eastus")})), now)
    # Every profile's health took its results; one profile's inputs changed: one decision step.
    assert calls == ["reg7"]
    assert [c.profile for c in out.changes] == ["reg7"]
    assert out.states["reg7"].decision is not None and out.states["reg7"].decision.primary == "westeurope"
    assert all(out.states[f"reg{i}"].endpoints["eastus"].successes == 4 for i in range(50) if i != 7)
    calls.clear()
    now += 10
    step(spec, dict(out.states), _round(spec, now, down=frozenset({("reg7", "eastus")})), now)
    # reg7 is decided while an endpoint is down (its reason counts the failures); the others are not.
    assert calls == ["reg7"]
