"""The plan: ownership, adoption, type switches, keep-last and the safety checks, as tables."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.model import EndpointSpec, ProfileSpec, WhenAllDown
from dnsctl.core.plan import (
    MANAGED_BY,
    PROFILE_KEY,
    STATE_KEY,
    Action,
    Change,
    Origin,
    Plan,
    Published,
    ReadRecord,
    RecordValue,
    make_plan,
    plan_profile,
    safety_problems,
)
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.refusals import Refusal, RefusalKind, SafetyKind, SafetyProblem

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
OWNED = {MANAGED_BY: "dnsctl", PROFILE_KEY: "myregistry"}


def profile(**azure: object) -> ProfileSpec:
    az = AzureRecordSpec("sub", "rg", "privatelink.azurecr.io", "myregistry")
    return ProfileSpec(
        name="myregistry",
        fqdn="myregistry.azurecr.io",
        ttl=30,
        endpoints=(
            EndpointSpec("eastus", EAST, 1, addresses=("10.1.0.5",)),
            EndpointSpec("westeurope", WEST, 2, addresses=("10.2.0.5", "10.2.0.6")),
        ),
        azure=replace(az, **azure),  # type: ignore[arg-type]
    )


def decide(*endpoints: str, keep: bool = False, fallback: str | None = None) -> Decision:
    kind = DecisionKind.ALL_DOWN if keep or fallback else DecisionKind.ENDPOINT
    return Decision(kind, endpoints, "because", 100.0, fallback=fallback, keep_current=keep)


def cname(target: str, ttl: int = 30) -> RecordValue:
    return RecordValue(RecordType.CNAME, (target,), ttl)


def published(*records: tuple[RecordType, ReadRecord]) -> Published:
    return Published("privatelink.azurecr.io/myregistry", dict(records))


def owned_cname(target: str, etag: str = "e1", **extra: str) -> tuple[RecordType, ReadRecord]:
    return RecordType.CNAME, ReadRecord(cname(target), etag, {**OWNED, **extra})


def test_absent_record_is_created_with_ownership_metadata() -> None:
    changes, refusal = plan_profile(profile(), published(), decide("eastus"), state="S")
    assert refusal is None
    assert [c.action for c in changes] == [Action.CREATE]
    c = changes[0]
    assert c.after == cname(EAST) and c.before is None and c.etag is None
    assert c.metadata == {**OWNED, STATE_KEY: "S"}


def test_steady_state_plans_nothing() -> None:
    pub = published(owned_cname(EAST, **{STATE_KEY: "S"}))
    assert plan_profile(profile(), pub, decide("eastus"), state="S") == ([], None)


def test_failover_updates_conditionally_on_the_read_etag() -> None:
    pub = published(owned_cname(EAST, etag="etag-7", **{STATE_KEY: "S"}))
    changes, _ = plan_profile(profile(), pub, decide("westeurope"), state="S2")
    assert [(c.action, c.before, c.after, c.etag) for c in changes] == [
        (Action.UPDATE, cname(EAST), cname(WEST), "etag-7")
    ]
    assert changes[0].reason == "because"


def test_ttl_drift_is_an_update() -> None:
    pub = published((RecordType.CNAME, ReadRecord(cname(EAST, ttl=3600), "e", dict(OWNED))))
    changes, _ = plan_profile(profile(), pub, decide("eastus"))
    assert changes[0].action is Action.UPDATE and changes[0].after == cname(EAST, 30)


def test_only_the_health_history_changed_is_a_state_write_that_does_not_count_as_dns() -> None:
    pub = published(owned_cname(EAST, **{STATE_KEY: "old"}))
    changes, _ = plan_profile(profile(), pub, decide("eastus"), state="new")
    assert [c.action for c in changes] == [Action.STATE]
    assert not changes[0].changes_dns
    assert Plan(tuple(changes)).dns_changes == ()


def test_other_metadata_keys_are_kept() -> None:
    pub = published(owned_cname(EAST, team="platform"))
    changes, _ = plan_profile(profile(), pub, decide("westeurope"))
    assert changes[0].metadata is not None and changes[0].metadata["team"] == "platform"


@pytest.mark.parametrize("metadata", [{}, None, {"managed-by": "someone-else"}])
def test_an_unowned_record_is_refused_without_adopt(metadata: dict[str, str] | None) -> None:
    pub = published((RecordType.CNAME, ReadRecord(cname(EAST), "e", metadata)))
    changes, refusal = plan_profile(profile(), pub, decide("westeurope"))
    assert changes == []
    assert refusal == Refusal("myregistry", pub.name, RefusalKind.NOT_MANAGED)
    assert str(refusal) == (
        f"myregistry: {pub.name}: the record exists and is not managed by dnsctl; "
        "set adopt: true on the profile to take it over"
    )


def test_adopt_takes_over_an_unowned_record_and_says_so() -> None:
    pub = published((RecordType.CNAME, ReadRecord(cname(EAST), "e9", {})))
    changes, refusal = plan_profile(profile(adopt=True), pub, decide("eastus"))
    assert refusal is None
    [c] = changes
    assert c.action is Action.ADOPT and c.etag == "e9" and "adopting" in c.reason
    assert c.metadata is not None and c.metadata[MANAGED_BY] == "dnsctl"


def test_a_record_owned_by_another_profile_is_never_touched() -> None:
    other = {MANAGED_BY: "dnsctl", PROFILE_KEY: "other"}
    pub = published((RecordType.CNAME, ReadRecord(cname(EAST), "e", other)))
    changes, refusal = plan_profile(profile(adopt=True), pub, decide("westeurope"))
    assert changes == []
    assert refusal == Refusal("myregistry", pub.name, RefusalKind.OTHER_PROFILE, owner="other")
    assert refusal.reason == "the record is managed by dnsctl profile 'other', not this one"


def test_type_switch_needs_allow_type_change() -> None:
    a_record = (RecordType.A, ReadRecord(RecordValue(RecordType.A, ("10.1.0.5",), 30), "ea", dict(OWNED)))
    pub = published(a_record)
    changes, refusal = plan_profile(profile(), pub, decide("eastus"))
    assert changes == []
    assert refusal == Refusal(
        "myregistry", pub.name, RefusalKind.TYPE_SWITCH, have=(RecordType.A,), want=RecordType.CNAME
    )
    assert refusal.reason == (
        "the name holds A and the profile publishes CNAME; switching types deletes "
        "the old record first: set allow_type_change: true to allow it"
    )


def test_type_switch_deletes_then_creates_when_allowed() -> None:
    a_record = (RecordType.A, ReadRecord(RecordValue(RecordType.A, ("10.1.0.5",), 30), "ea", dict(OWNED)))
    changes, refusal = plan_profile(profile(allow_type_change=True), published(a_record), decide("eastus"))
    assert refusal is None
    assert [(c.action, c.etag) for c in changes] == [(Action.DELETE, "ea"), (Action.CREATE, None)]
    assert changes[1].after == cname(EAST)


def test_record_type_a_publishes_the_chosen_endpoints_ipv4_addresses() -> None:
    p = profile(record_type=RecordType.A)
    changes, _ = plan_profile(p, published(), decide("westeurope"))
    assert changes[0].after == RecordValue(RecordType.A, ("10.2.0.5", "10.2.0.6"), 30)


def test_keep_last_keeps_an_existing_record_as_it_is() -> None:
    pub = published(owned_cname(WEST))
    changes, _ = plan_profile(profile(), pub, decide("eastus", keep=True))
    assert changes == []


def test_keep_last_puts_our_last_answer_back_over_someone_elses_value() -> None:
    ours = replace(decide("eastus", keep=True), last_answer=True)
    pub = published(owned_cname("hijack.example.com"))
    changes, refused = plan_profile(profile(), pub, ours)
    assert refused is None
    assert [(c.action, c.before, c.after, c.etag) for c in changes] == [
        (Action.UPDATE, cname("hijack.example.com"), cname(EAST), "e1")
    ]
    assert plan_profile(profile(), published(owned_cname(EAST)), ours)[0] == []


def test_keep_last_recreates_our_last_answer_when_the_record_was_deleted() -> None:
    ours = replace(decide("eastus", keep=True), last_answer=True)
    changes, _ = plan_profile(profile(), published(), ours)
    assert [(c.action, c.after) for c in changes] == [(Action.CREATE, cname(EAST))]


def test_keep_last_with_nothing_published_creates_nothing_and_says_so() -> None:
    # Publishing an endpoint that is down would be a guess: keep-last has nothing to keep.
    changes, refused = plan_profile(profile(), published(), decide("eastus", keep=True))
    assert changes == [] and refused is None
    plan = make_plan([profile()], {"myregistry": published()}, {"myregistry": decide("eastus", keep=True)})
    assert plan.changes == () and plan.unpublished == ("myregistry",)


def test_serve_first_with_nothing_published_creates_the_record() -> None:
    all_down = Decision(DecisionKind.ALL_DOWN, ("eastus",), "no endpoint Online; serving eastus", 100.0)
    changes, _ = plan_profile(profile(), published(), all_down)
    assert changes[0].action is Action.CREATE and changes[0].after == cname(EAST)


def test_fallback_target_is_published_as_the_cname() -> None:
    p = replace(profile(), when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")
    changes, _ = plan_profile(p, published(owned_cname(EAST)), decide(fallback="myregistry.azurecr.io"))
    assert changes[0].after == cname("myregistry.azurecr.io")


def test_a_decision_that_would_empty_an_a_record_is_refused() -> None:
    p = replace(
        profile(record_type=RecordType.A),
        endpoints=(EndpointSpec("eastus", EAST, 1, addresses=("fd00::1",)),),
    )
    pub = published()
    changes, refusal = plan_profile(p, pub, decide("eastus"))
    assert changes == [] and refusal == Refusal("myregistry", pub.name, RefusalKind.EMPTY_RECORD)
    assert refusal.reason == "the plan would empty the record; refused"


def test_no_decision_yet_writes_nothing_and_is_listed_as_waiting() -> None:
    p = profile()
    plan = make_plan([p], {p.name: published(owned_cname(EAST))}, {p.name: None})
    assert plan.changes == () and plan.waiting == ("myregistry",)


def _update(i: int) -> Change:
    return Change(f"p{i}", f"z/p{i}", Action.UPDATE, cname(EAST), cname(WEST), "r", "e")


def test_safety_limit_refuses_a_larger_plan_unless_forced() -> None:
    plan = Plan(tuple(_update(i) for i in range(3)))
    assert safety_problems(plan, 3, force=False) == []
    [problem] = safety_problems(plan, 2, force=False)
    assert problem == SafetyProblem(SafetyKind.TOO_MANY_CHANGES, changes=3, limit=2)
    assert "3 configuration changes, more than max_changes_per_run (2)" in str(problem)
    assert safety_problems(plan, 2, force=True) == []


def test_state_writes_do_not_count_toward_the_safety_limit() -> None:
    state = Change("p", "z/p", Action.STATE, cname(EAST), cname(EAST), "r", "e")
    assert safety_problems(Plan((state, state, _update(0))), 1, force=False) == []


def test_an_emptying_change_is_refused_even_with_force() -> None:
    empty = Change("p", "z/p", Action.UPDATE, cname(EAST), RecordValue(RecordType.A, (), 30), "r", "e")
    [problem] = safety_problems(Plan((empty,)), 10, force=True)
    assert problem == SafetyProblem(SafetyKind.EMPTY_RECORD, name="z/p")
    assert str(problem) == "z/p: the change would leave the record empty"


# --- failover versus configuration changes -------------------------------------------------------


def _failover(i: int) -> Change:
    return replace(_update(i), origin=Origin.HEALTH)


def test_failover_changes_do_not_count_toward_the_safety_limit() -> None:
    plan = Plan(tuple(_failover(i) for i in range(20)))
    assert safety_problems(plan, 5, force=False) == []
    mixed = Plan((*plan.changes, *(_update(i) for i in range(6))))
    [problem] = safety_problems(mixed, 5, force=False)
    assert (problem.changes, problem.limit, problem.failover) == (6, 5, 20)
    assert "6 configuration changes (besides 20 failover change(s)" in str(problem)


@pytest.mark.parametrize(
    ("before", "after", "origin"),
    [
        (cname(EAST), cname(WEST), Origin.HEALTH),  # failover between configured endpoints
        (cname(WEST), cname(EAST), Origin.HEALTH),  # failback
        (cname(EAST), cname("myregistry.azurecr.io"), Origin.HEALTH),  # when_all_down fallback
        (cname("old.eastus.example"), cname(EAST), Origin.CONFIG),  # a new target name
        (cname(EAST, ttl=300), cname(WEST), Origin.CONFIG),  # a TTL edit rides along
    ],
)
def test_an_update_says_whether_health_or_configuration_caused_it(
    before: RecordValue, after: RecordValue, origin: Origin
) -> None:
    p = replace(profile(), when_all_down=WhenAllDown.FALLBACK, fallback="myregistry.azurecr.io")
    target = after.values[0]
    d = (
        decide(fallback=target)
        if target == "myregistry.azurecr.io"
        else decide("eastus" if target == EAST else "westeurope")
    )
    rec = ReadRecord(before, "e1", dict(OWNED))
    changes, _ = plan_profile(p, published((RecordType.CNAME, rec)), d)
    assert changes[0].action is Action.UPDATE and changes[0].origin is origin


def test_creation_adoption_and_type_switches_are_configuration() -> None:
    p = profile(adopt=True, allow_type_change=True)
    created, _ = plan_profile(p, published(), decide("eastus"))
    adopted, _ = plan_profile(
        p, published((RecordType.CNAME, ReadRecord(cname(WEST), "e1", {}))), decide("eastus")
    )
    a_rec = ReadRecord(RecordValue(RecordType.A, ("10.1.0.5",), 30), "e2", dict(OWNED))
    switched, _ = plan_profile(p, published((RecordType.A, a_rec)), decide("eastus"))
    for c in (*created, *adopted, *switched):
        assert c.counts_toward_limit, c
    assert [c.type_switch for c in switched] == [True, True]
    assert all("no record between the delete and the create" in c.reason for c in switched)
