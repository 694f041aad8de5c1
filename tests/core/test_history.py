"""The decision history: made by `step` on every decision change, bounded, stored by the codec
(state file and record metadata), and read back; an older state without it still loads."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from dnsctl.core import codec
from dnsctl.core.history import HISTORY_LIMIT, HistoryEntry
from dnsctl.core.model import IsolationGuardSpec, Override
from dnsctl.core.state import set_override
from dnsctl.process.state_store import MetadataStore

from .factories import PROFILE, Engine, profile, spec

UP = {"eastus": True, "westeurope": True}
EAST_DOWN = {"eastus": False, "westeurope": True}
ALL_DOWN = {"eastus": False, "westeurope": False}


def failed_over() -> Engine:
    e = Engine(spec(guard=IsolationGuardSpec(enabled=False)))
    e.round(UP)
    for _ in range(3):
        e.round(EAST_DOWN)
    return e


def test_a_failover_is_recorded_with_the_verdicts_that_led_to_it() -> None:
    e = failed_over()
    first, failover = e.states[PROFILE].history
    assert (first.kind, first.old, first.new) == ("first", None, "eastus")
    assert (failover.kind, failover.old, failover.new) == ("failover", "eastus", "westeurope")
    assert failover.profile == PROFILE and failover.view is None
    assert failover.reason == e.decision().reason  # type: ignore[union-attr]
    assert dict(failover.evidence) == {
        "eastus": "Degraded: connect-timeout",
        "westeurope": "Online",
    }
    assert failover.time == e.now - 10.0  # the round that decided


def test_all_down_and_a_drain_are_recorded_by_kind() -> None:
    e = failed_over()
    for _ in range(3):
        e.round(ALL_DOWN)
    assert e.states[PROFILE].history[-1].kind == "all-down"
    e2 = failed_over()
    e2.update(PROFILE, set_override(e2.states[PROFILE], "westeurope", Override.DOWN))
    e2.redecide()
    last = e2.states[PROFILE].history[-1]
    assert dict(last.evidence)["westeurope"] == "Degraded (override down)"


def test_a_steady_state_adds_nothing_and_the_history_is_bounded() -> None:
    e = failed_over()
    n = len(e.states[PROFILE].history)
    for _ in range(5):
        e.round(EAST_DOWN)
    assert len(e.states[PROFILE].history) == n, "no decision change, no entry"
    e.round(UP)
    e.round(UP)
    for i in range(40):  # an operator moving it back and forth: one change each time
        drained, other = ("eastus", "westeurope") if i % 2 else ("westeurope", "eastus")
        st = set_override(set_override(e.states[PROFILE], other, None), drained, Override.DOWN)
        e.update(PROFILE, st)
        e.redecide()
        assert e.states[PROFILE].history[-1].new == other
    assert len(e.states[PROFILE].history) == HISTORY_LIMIT


def test_the_history_survives_the_codec_and_a_state_without_it_still_loads() -> None:
    e = failed_over()
    p = profile()
    st = e.states[PROFILE]
    back = codec.decode(p, codec.encode(p, st)).state
    assert back.history == tuple(replace(h, time=float(round(h.time))) for h in st.history)
    # A state written before the history existed (same version, no "h"): loads, with no history.
    old = '{"e":{"eastus":{"s":"O","t":1700000000}},"st":1700000000,"v":1}'
    assert codec.decode(p, old).state.history == ()
    assert "h" not in json.loads(codec.encode(p, replace(st, history=())))


def _long(n: int) -> tuple[HistoryEntry, ...]:
    return tuple(
        HistoryEntry(
            1000.0 + i, PROFILE, None, "eastus", "westeurope", "failover", "x" * 500, (("eastus", "y" * 300),)
        )
        for i in range(n)
    )


def test_record_metadata_keeps_a_short_history() -> None:
    p = profile()
    st = replace(failed_over().states[PROFILE], history=_long(HISTORY_LIMIT))
    in_file = json.loads(codec.encode(p, st))["h"]
    in_record = json.loads(MetadataStore().record_state(p, st) or "")["h"]
    assert len(in_file) == HISTORY_LIMIT and len(in_record) == codec.METADATA_HISTORY
    assert in_record[-1]["t"] == 1000 + HISTORY_LIMIT - 1, "the newest are kept"
    assert max(len(h["r"]) for h in in_record) <= 120 and max(len(h["ev"][0][1]) for h in in_record) <= 80
    assert len(MetadataStore().record_state(p, st) or "") < 2000


@pytest.mark.parametrize(
    "bad",
    [
        {"h": "not a list"},
        {"h": [{"t": "noon", "n": "x", "k": "failover", "r": ""}]},
        {"h": [{"t": 1, "n": 5, "k": "failover", "r": ""}]},
        {"h": [{"t": 1, "n": "x", "k": "failover", "r": "", "ev": [["only one"]]}]},
        {"h": [{"t": 1, "n": "x", "k": "failover", "r": "z" * 5000}]},
    ],
)
def test_a_malformed_history_is_refused_like_any_malformed_state(bad: dict[str, object]) -> None:
    doc = {"e": {}, "st": 1, "v": 1, **bad}
    with pytest.raises(codec.StateDecodeError):
        codec.decode(profile(), json.dumps(doc))
