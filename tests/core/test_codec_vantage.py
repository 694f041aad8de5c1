"""The stored state's version 2: the vantage that judged the health (`run --site`); version 1 still read."""

from __future__ import annotations

import json

import pytest

from dnsctl.core import codec
from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.health import EndpointHealth, MonitorStatus
from dnsctl.core.state import ProfileState

from .factories import T0, profile

P = profile()
STATE = ProfileState(
    started_at=T0,
    endpoints={
        "eastus": EndpointHealth(status=MonitorStatus.DEGRADED, since=T0),
        "westeurope": EndpointHealth(status=MonitorStatus.ONLINE, since=T0),
    },
    routing=RoutingState(decision=Decision(DecisionKind.ENDPOINT, ("westeurope",), reason="r", since=T0)),
)


def test_without_a_vantage_the_state_is_version_1_as_before() -> None:
    doc = json.loads(codec.encode(P, STATE))
    assert doc["v"] == 1 and "vt" not in doc


def test_a_vantage_writes_version_2_naming_itself_and_reads_it_back() -> None:
    text = codec.encode(P, STATE, vantage="westeurope")
    doc = json.loads(text)
    assert doc["v"] == 2 and doc["vt"] == "westeurope"
    back = codec.decode(P, text, vantage="westeurope")
    assert back.dropped == ()
    assert back.state.endpoints["eastus"].status is MonitorStatus.DEGRADED


def test_a_version_1_state_is_read_by_a_vantage() -> None:
    back = codec.decode(P, codec.encode(P, STATE), vantage="eastus")
    assert back.dropped == ()
    assert back.state.endpoints["eastus"].status is MonitorStatus.DEGRADED


def test_health_judged_by_another_vantage_is_dropped_and_the_decision_kept() -> None:
    back = codec.decode(P, codec.encode(P, STATE, vantage="westeurope"), vantage="eastus")
    assert back.dropped == (
        "the endpoints' health judged by vantage 'westeurope' (this is vantage 'eastus')",
    )
    assert back.state.endpoints == {}
    assert back.state.decision is not None and back.state.decision.endpoints == ("westeurope",)


def test_a_reader_without_sites_reads_a_version_2_state() -> None:
    back = codec.decode(P, codec.encode(P, STATE, vantage="westeurope"))
    assert back.state.endpoints["eastus"].status is MonitorStatus.DEGRADED


@pytest.mark.parametrize("doc", [{"v": 2, "st": T0, "e": {}}, {"v": 2, "vt": 5, "st": T0, "e": {}}, {"v": 3}])
def test_a_bad_version_2_state_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(codec.StateDecodeError):
        codec.decode(P, json.dumps(doc))
