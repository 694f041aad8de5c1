"""Adding a target needs no change in dnsctl/core: a test-only kind, registered from here, is built by
compose and reconciled through the same plan; the plan follows each target's declared capabilities."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dnsctl import compose
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.model import DnsctlSpec, EndpointSpec, IsolationGuardSpec, ProfileSpec
from dnsctl.core.plan import (
    ABSENT_NOTE,
    MANAGED_BY,
    PROFILE_KEY,
    STATE_KEY,
    Action,
    Capabilities,
    Published,
    ReadRecord,
    RecordValue,
    plan_profile,
)
from dnsctl.core.publication import RecordType
from dnsctl.engine import Engine
from dnsctl.process.clock import Clock
from dnsctl.process.state_store import MetadataStore
from dnsctl.targets.memory import MemoryTarget
from dnsctl.targets.router import TargetRouter
from tests.reconcile.scripted import ScriptedProber
from tests.support.clock import ManualClock

EAST = "myregistry.eastus.geo.azurecr.io"


@dataclass(frozen=True, slots=True)
class LabRecordSpec:
    """A publication of a kind dnsctl does not know: only the fields the core reads."""

    kind: str
    zone: str
    record: str
    record_type: RecordType = RecordType.CNAME
    adopt: bool = False
    allow_type_change: bool = False


def profile(name: str, kind: str, **kw: object) -> ProfileSpec:
    return ProfileSpec(
        name=name,
        fqdn=f"{name}.azurecr.io",
        endpoints=(EndpointSpec("eastus", EAST, 1, addresses=("10.1.0.4",)),),
        target=LabRecordSpec(kind, "lab.example", name, **kw),  # type: ignore[arg-type]
    )


@pytest.fixture
def lab_kinds() -> Iterator[dict[str, MemoryTarget]]:
    built: dict[str, MemoryTarget] = {}

    def factory(kind: str) -> compose.TargetFactory:
        def build(spec: DnsctlSpec, clock: Clock) -> MemoryTarget:
            return built.setdefault(kind, MemoryTarget())

        return build

    saved = dict(compose.TARGETS)
    compose.register_target("lab-a", factory("lab-a"))
    compose.register_target("lab-b", factory("lab-b"))
    try:
        yield built
    finally:
        compose.TARGETS.clear()
        compose.TARGETS.update(saved)


async def test_a_test_only_target_kind_is_built_by_compose_and_reconciled(
    lab_kinds: dict[str, MemoryTarget],
) -> None:
    spec = DnsctlSpec(
        profiles=(profile("one", "lab-a"), profile("two", "lab-b")),
        isolation_guard=IsolationGuardSpec(enabled=False),
    )
    target = compose.build_target(spec, ManualClock())
    assert isinstance(target, TargetRouter) and set(target.targets) == {"lab-a", "lab-b"}
    report = await reconcile_once(Engine(spec, ScriptedProber(), ManualClock()), target, MetadataStore())
    assert not report.errors and len(report.results) == 2
    assert lab_kinds["lab-a"].records[("lab.example", "one")][RecordType.CNAME].value.values == (EAST,)
    assert lab_kinds["lab-b"].records[("lab.example", "two")][RecordType.CNAME].value.values == (EAST,)
    assert ("lab.example", "two") not in lab_kinds["lab-a"].records


def test_one_kind_is_built_alone(lab_kinds: dict[str, MemoryTarget]) -> None:
    spec = DnsctlSpec(profiles=(profile("one", "lab-a"),))
    assert isinstance(compose.build_target(spec, ManualClock()), MemoryTarget)


OWNED = {MANAGED_BY: "dnsctl", PROFILE_KEY: "one"}
DECISION = Decision(DecisionKind.ENDPOINT, ("eastus",), "eastus is first by priority", 0.0)


def test_an_atomic_target_switches_types_in_one_change() -> None:
    p = profile("one", "lab-a", allow_type_change=True)
    a = ReadRecord(RecordValue(RecordType.A, ("10.1.0.4",), 30), "g1", OWNED)
    atomic = Capabilities(metadata=False, atomic_type_replace=True)
    changes, refused = plan_profile(p, Published("lab/one", {RecordType.A: a}, atomic), DECISION)
    assert refused is None
    [change] = changes
    assert change.action is Action.UPDATE and change.type_switch
    assert change.before == a.value and change.after == RecordValue(RecordType.CNAME, (EAST,), 30)
    assert ABSENT_NOTE not in change.reason and "never without a record" in change.reason
    # The same record on a target without an atomic switch: a delete, then a create.
    changes, _ = plan_profile(p, Published("lab/one", {RecordType.A: a}), DECISION)
    assert [c.action for c in changes] == [Action.DELETE, Action.CREATE]


def test_a_target_without_metadata_gets_no_history_to_store() -> None:
    p = profile("one", "lab-a")
    cname = ReadRecord(RecordValue(RecordType.CNAME, (EAST,), 30), "g1", OWNED)
    bare = Capabilities(metadata=False)
    assert plan_profile(p, Published("lab/one", {RecordType.CNAME: cname}, bare), DECISION, "S") == ([], None)
    [create], _ = plan_profile(p, Published("lab/one", {}, bare), DECISION, "S")
    assert STATE_KEY not in (create.metadata or {})
    # With metadata (Azure), the history travels with the record.
    [state], _ = plan_profile(p, Published("lab/one", {RecordType.CNAME: cname}), DECISION, "S")
    assert state.action is Action.STATE and (state.metadata or {})[STATE_KEY] == "S"


def test_metrics_name_each_profiles_target_kind() -> None:
    from dnsctl.controller.metrics import Metrics

    m = Metrics()
    m.init_profiles(DnsctlSpec(profiles=(profile("one", "lab-a"), profile("two", "rfc2136"))))
    value = m.registry.get_sample_value
    assert value("dnsctl_profile_target", {"profile": "one", "kind": "lab-a"}) == 1
    assert value("dnsctl_profile_target", {"profile": "two", "kind": "rfc2136"}) == 1
