"""The RFC 2136 target against real BIND 9, Knot and PowerDNS: the same scenarios on each."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.core.model import EndpointStatus
from dnsctl.core.plan import Action
from dnsctl.core.publication import RecordType
from dnsctl.targets.base import Outcome
from dnsctl.targets.rfc2136 import KEY_HINT
from tests.rfc2136.harness import EAST, NAME, OWNER, WEST, Harness, hand_edit, make_spec, query
from tests.rfc2136.servers import Primary


async def test_create_failover_and_failback(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED, r.errors
    assert query(primary, NAME, "CNAME") == [EAST]
    assert query(primary, OWNER, "TXT") == ["heritage=dnsctl,profile=myregistry,generation=1"]
    r = await h.run()
    assert r.results == [], "a steady state costs no write"
    h.prober.down.add("eastus")
    for _ in range(2):  # fall - 1 failed runs: the history moves (state file), DNS does not
        await h.run()
        assert query(primary, NAME, "CNAME") == [EAST]
    r = await h.run()
    assert query(primary, NAME, "CNAME") == [WEST]
    assert r.results[0].outcome is Outcome.APPLIED and "eastus Degraded" in r.results[0].change.reason
    h.prober.down.clear()
    for _ in range(3):  # rise, then failback_hold
        await h.run()
        assert query(primary, NAME, "CNAME") == [WEST]
    await h.run()
    assert query(primary, NAME, "CNAME") == [EAST]
    assert query(primary, OWNER, "TXT") == ["heritage=dnsctl,profile=myregistry,generation=3"]


async def test_all_down_keeps_the_last_answer(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    h.prober.down.update({"eastus", "westeurope"})
    for _ in range(4):
        r = await h.run()
    assert query(primary, NAME, "CNAME") == [EAST], "never emptied"
    assert exit_code(r) is ExitCode.DEGRADED


async def test_drain_moves_the_name_off_a_disabled_endpoint(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    h.spec = make_spec(primary, east_status=EndpointStatus.DISABLED)
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED, r.errors
    assert query(primary, NAME, "CNAME") == [WEST]


async def test_a_restart_without_history_does_not_flip(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    h.prober.down.add("eastus")
    for _ in range(3):
        await h.run()
    assert query(primary, NAME, "CNAME") == [WEST]
    h.prober.down.clear()
    h.state_file.unlink()  # a new host: no stored history, every endpoint Online at once
    r = await h.run()
    assert query(primary, NAME, "CNAME") == [WEST], "the published choice stands until failback_hold"
    assert r.results == []


async def test_a_hand_edit_between_read_and_write_is_refused_not_overwritten(
    primary: Primary, tmp_path: Path
) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    target = h.target()
    published = await target.read(h.spec.profiles)
    assert published["myregistry"].of(RecordType.CNAME) is not None
    hand_edit(primary, NAME, "CNAME", "manual.example.com.")  # after our read, before our write
    from dnsctl.core.decision import Decision, DecisionKind
    from dnsctl.core.plan import make_plan

    decision = Decision(DecisionKind.ENDPOINT, ("westeurope",), "failover", 0.0)
    plan = make_plan(h.spec.profiles, published, {"myregistry": decision})
    [result] = await target.apply(plan.changes)
    assert result.outcome is Outcome.CONFLICT, result
    assert query(primary, NAME, "CNAME") == ["manual.example.com"], "the hand edit was not overwritten"


async def test_a_hand_edit_of_the_owner_generation_is_refused(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    target = h.target()
    published = await target.read(h.spec.profiles)
    # Another dnsctl wrote in between: the value is the same, the generation moved on.
    hand_edit(primary, OWNER, "TXT", '"heritage=dnsctl,profile=myregistry,generation=7"')
    from dnsctl.core.decision import Decision, DecisionKind
    from dnsctl.core.plan import make_plan

    decision = Decision(DecisionKind.ENDPOINT, ("westeurope",), "failover", 0.0)
    [result] = await target.apply(make_plan(h.spec.profiles, published, {"myregistry": decision}).changes)
    assert result.outcome is Outcome.CONFLICT
    assert query(primary, NAME, "CNAME") == [EAST]


async def test_a_record_owned_by_nobody_is_refused_without_adopt(primary: Primary, tmp_path: Path) -> None:
    hand_edit(primary, NAME, "CNAME", "manual.example.com.")
    h = Harness(make_spec(primary), tmp_path)
    r = await h.run()
    assert exit_code(r) is ExitCode.REFUSED
    assert "adopt" in str(r.refused[0])
    assert query(primary, NAME, "CNAME") == ["manual.example.com"]
    assert query(primary, OWNER, "TXT") == []
    h.spec = make_spec(primary, adopt=True)
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED, r.errors
    assert r.results[0].change.action is Action.ADOPT
    assert query(primary, NAME, "CNAME") == [EAST]


async def test_a_record_of_another_profile_is_refused(primary: Primary, tmp_path: Path) -> None:
    hand_edit(primary, NAME, "CNAME", "other.example.com.")
    hand_edit(primary, OWNER, "TXT", '"heritage=dnsctl,profile=other,generation=4"')
    h = Harness(make_spec(primary, adopt=True), tmp_path)
    r = await h.run()
    assert exit_code(r) is ExitCode.REFUSED
    assert "'other'" in str(r.refused[0])
    assert query(primary, NAME, "CNAME") == ["other.example.com"]


async def test_a_to_cname_is_one_update_and_the_plan_says_so(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary, record_type=RecordType.A), tmp_path)
    await h.run()
    assert query(primary, NAME, "A") == ["10.1.0.4"]
    h.spec = make_spec(primary, allow_type_change=True)
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED, r.errors
    [change] = [res.change for res in r.results]
    assert change.type_switch and change.action is Action.UPDATE and "never without a record" in change.reason
    assert query(primary, NAME, "CNAME") == [EAST]
    assert query(primary, NAME, "A") == []


async def test_a_wrong_tsig_key_is_a_clear_error(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path, secret="d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCAhISEhIQ==")
    r = await h.run()
    assert exit_code(r) is ExitCode.FAILED
    [result] = r.results
    assert result.outcome is Outcome.FAILED and result.hint == KEY_HINT, result
    assert "d3Jvbmcg" not in result.error
    assert query(primary, NAME, "CNAME") == []


async def test_a_server_down_ends_the_pass_with_an_error_and_no_write(
    primary: Primary, tmp_path: Path
) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    primary.stop()
    r = await h.run()
    assert exit_code(r) is ExitCode.FAILED and r.errors and r.results == []
    # A server that takes the connection and never answers: the wait is bounded by `timeout`.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        h.spec = make_spec(primary, timeout=1.0, port=silent.getsockname()[1])
        r = await h.run()
    assert exit_code(r) is ExitCode.FAILED and "no answer within 1 s" in r.errors[0].message
    primary.start()  # the restart after the outage: the record and its owner are as they were
    h.spec = make_spec(primary)
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED and r.results == []
    assert query(primary, NAME, "CNAME") == [EAST]


async def test_kill_9_after_a_write_loses_nothing(primary: Primary, tmp_path: Path) -> None:
    h = Harness(make_spec(primary), tmp_path)
    await h.run()
    h.prober.down.add("eastus")
    for _ in range(3):
        await h.run()
    assert query(primary, NAME, "CNAME") == [WEST]
    primary.kill()  # the acknowledged update must survive (journal / database)
    primary.start()
    assert query(primary, NAME, "CNAME") == [WEST], "0 lost updates"
    r = await h.run()
    assert r.results == [] and query(primary, NAME, "CNAME") == [WEST], "0 flips"


async def test_powerdns_rejecting_silently_is_caught_by_the_read_back(tmp_path: Path) -> None:
    # PowerDNS answers NOERROR when its update policy (here a Lua script) rejects the change.
    pdns = Primary("pdns", tmp_path / "pdns", silent_reject=True)
    pdns.start()
    try:
        h = Harness(make_spec(pdns), tmp_path)
        r = await h.run()
        assert exit_code(r) is ExitCode.FAILED
        [result] = r.results
        assert result.outcome is Outcome.FAILED and "did not change (read back)" in result.error
        assert "update policy" in result.hint
        assert query(pdns, NAME, "CNAME") == []
    finally:
        pdns.stop()


async def test_a_server_closing_the_connection_is_a_target_error_not_a_crash(tmp_path: Path) -> None:
    import threading

    from dnsctl.errors import TargetError
    from dnsctl.targets.rfc2136 import Rfc2136Target

    with socket.socket() as closing:
        closing.bind(("127.0.0.1", 0))
        closing.listen(8)

        def accept_and_close() -> None:
            for _ in range(3):
                conn, _ = closing.accept()
                conn.recv(4096)  # the whole query read: the close is a clean FIN, not a reset
                conn.close()

        threading.Thread(target=accept_and_close, daemon=True).start()
        spec = make_spec(Primary("bind", tmp_path), port=closing.getsockname()[1])
        with pytest.raises(TargetError, match="closed without an answer") as raised:
            await Rfc2136Target(spec, {}).read(spec.profiles)
    assert raised.value.transient


async def test_several_a_records_in_any_server_order_cost_no_rewrite(
    primary: Primary, tmp_path: Path
) -> None:
    from dataclasses import replace

    from dnsctl.core.model import WhenAllDown

    spec = make_spec(primary, record_type=RecordType.A)
    p = spec.profiles[0]
    # Addresses listed against their numeric order: serve-all publishes both endpoints' addresses.
    east, west = p.endpoints
    endpoints = (replace(east, addresses=("10.9.0.4", "10.1.0.4")), replace(west, addresses=("10.2.0.4",)))
    spec = replace(spec, profiles=(replace(p, endpoints=endpoints, when_all_down=WhenAllDown.SERVE_ALL),))
    h = Harness(spec, tmp_path)
    h.prober.down.update({"eastus", "westeurope"})
    for _ in range(4):
        await h.run()
    assert query(primary, NAME, "A") == ["10.1.0.4", "10.2.0.4", "10.9.0.4"]
    r = await h.run()
    assert r.results == [], "the same addresses in another order are not a change"
