"""The one-shot pass against the in-memory target: hysteresis across runs, conflicts, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import Report
from dnsctl.core.decision import DecisionKind
from dnsctl.core.model import DnsctlSpec, EndpointSpec, MonitorSpec, ProfileSpec, SafetySpec
from dnsctl.core.plan import MANAGED_BY, PROFILE_KEY, STATE_KEY, Action, Change, ReadRecord, RecordValue
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.engine import Engine
from dnsctl.process.state_store import FileStore, MetadataStore, StateStore
from dnsctl.targets.memory import MemoryTarget
from tests.support.clock import ManualClock

from .scripted import ScriptedProber

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
KEY = ("privatelink.azurecr.io", "myregistry")


def make_spec(n_profiles: int = 1, max_changes: int = 5, isolation: bool = True) -> DnsctlSpec:
    profiles = []
    for i in range(n_profiles):
        name = "myregistry" if i == 0 else f"reg{i}"
        profiles.append(
            ProfileSpec(
                name=name,
                fqdn=f"{name}.azurecr.io",
                endpoints=(EndpointSpec("eastus", EAST, 1), EndpointSpec("westeurope", WEST, 2)),
                monitor=MonitorSpec(fall=3, rise=2, interval=60, timeout=5),
                failback_hold=120,
                azure=AzureRecordSpec("sub", "rg", "privatelink.azurecr.io", name),
            )
        )
    from dnsctl.core.model import IsolationGuardSpec

    return DnsctlSpec(
        profiles=tuple(profiles),
        safety=SafetySpec(max_changes_per_run=max_changes),
        isolation_guard=IsolationGuardSpec(enabled=isolation),
    )


class Harness:
    def __init__(self, spec: DnsctlSpec) -> None:
        self.spec = spec
        self.clock = ManualClock()
        self.prober = ScriptedProber()
        self.target = MemoryTarget()

    async def run(
        self, store: StateStore | None = None, *, dry_run: bool = False, force: bool = False
    ) -> Report:
        engine = Engine(self.spec, self.prober, self.clock)  # a fresh process each run, like a CronJob
        report = await reconcile_once(
            engine, self.target, store or MetadataStore(), dry_run=dry_run, force=force
        )
        self.clock.advance(60)
        return report

    def cname(self, key: tuple[str, str] = KEY) -> str:
        rec = self.target.records[key][RecordType.CNAME]
        return rec.value.values[0]


async def test_first_run_creates_the_record_and_steady_state_writes_nothing() -> None:
    h = Harness(make_spec())
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED
    assert h.cname() == EAST
    md = h.target.records[KEY][RecordType.CNAME].metadata or {}
    assert md[MANAGED_BY] == "dnsctl" and md[PROFILE_KEY] == "myregistry" and STATE_KEY in md
    writes = h.target.writes
    for _ in range(3):
        await h.run()
    assert h.target.writes == writes, "a steady state must cost no write"


async def test_failover_waits_for_fall_failures_and_failback_for_rise_and_hold() -> None:
    h = Harness(make_spec())
    await h.run()
    writes = h.target.writes
    h.prober.down.add("eastus")
    r = await h.run()  # fall (3) failures, probed back to back within the run
    assert h.cname() == WEST
    assert [c.change.action for c in r.results] == [Action.UPDATE]
    assert "eastus Degraded after 3 failures" in r.results[0].change.reason
    assert h.target.writes == writes + 1, "no write of the counts toward fall"
    h.prober.down.clear()
    r = await h.run()  # rise (2) successes within the run: Online, but failback_hold (120 s) runs
    assert h.cname() == WEST
    # eastus Online since now: that is kept with the record (it times the hold across runs).
    assert [c.change.action for c in r.results] == [Action.STATE]
    await h.run()  # 60 s Online
    assert h.cname() == WEST
    await h.run()  # 120 s Online: fail back
    assert h.cname() == EAST


async def test_one_failure_then_recovery_writes_nothing() -> None:
    h = Harness(make_spec())
    await h.run()
    writes = h.target.writes
    h.prober.fail_once = {"eastus"}
    await h.run()
    assert h.cname() == EAST
    assert h.target.writes == writes, "a count that settled back to zero is no write"


async def test_all_down_keeps_the_record_and_exits_degraded() -> None:
    h = Harness(make_spec(isolation=False))
    await h.run()
    h.prober.down.update({"eastus", "westeurope"})
    for _ in range(3):
        r = await h.run()
    assert h.cname() == EAST
    assert exit_code(r) is ExitCode.DEGRADED


async def test_isolation_guard_freezes_instead_of_failing_over() -> None:
    h = Harness(make_spec(n_profiles=2))
    await h.run()
    h.prober.silent.update({"eastus", "westeurope"})
    for _ in range(5):
        r = await h.run()
    assert h.cname() == EAST
    assert r.outcome is not None and r.outcome.isolated
    assert exit_code(r) is ExitCode.DEGRADED


async def test_refusals_everywhere_are_an_outage_not_isolation() -> None:
    # A refusal proves the path to the endpoint works: the all-down policy applies, the guard stays out.
    h = Harness(make_spec(n_profiles=2))
    await h.run()
    h.prober.down.update({"eastus", "westeurope"})
    for _ in range(3):
        r = await h.run()
    assert r.outcome is not None and not r.outcome.isolated
    d = r.outcome.states["myregistry"].decision
    assert d is not None and d.kind is DecisionKind.ALL_DOWN


async def test_a_concurrent_edit_is_re_read_and_re_planned_never_overwritten_blindly() -> None:
    h = Harness(make_spec())
    await h.run()
    h.prober.down.add("eastus")  # the next run fails over (fall failures within it)
    edits: list[Change] = []

    def concurrent_writer(change: Change) -> None:
        if not edits:  # someone else touches the record between our read and our write, once
            edits.append(change)
            cur = h.target.records[KEY][RecordType.CNAME]
            h.target.put(
                KEY, RecordType.CNAME, ReadRecord(cur.value, None, {**(cur.metadata or {}), "team": "x"})
            )

    h.target.before_write = concurrent_writer
    r = await h.run()
    assert r.conflicts_retried == 1
    assert exit_code(r) is ExitCode.CONVERGED
    rec = h.target.records[KEY][RecordType.CNAME]
    assert rec.value.values == (WEST,)
    assert (rec.metadata or {})["team"] == "x", "the other writer's change survived"


async def test_a_concurrent_takeover_by_someone_else_is_refused_after_re_read() -> None:
    h = Harness(make_spec())
    await h.run()
    h.prober.down.add("eastus")  # the next run fails over (fall failures within it)

    def takeover(change: Change) -> None:
        h.target.put(
            KEY, RecordType.CNAME, ReadRecord(RecordValue(RecordType.CNAME, ("manual.example.com",), 5))
        )
        h.target.before_write = None

    h.target.before_write = takeover
    r = await h.run()
    assert h.cname() == "manual.example.com"
    assert exit_code(r) is ExitCode.REFUSED


async def test_safety_limit_refuses_then_force_applies() -> None:
    h = Harness(make_spec(n_profiles=3, max_changes=2))
    r = await h.run()
    assert exit_code(r) is ExitCode.REFUSED
    assert h.target.records == {}
    r = await h.run(force=True)
    assert exit_code(r) is ExitCode.CONVERGED and len(h.target.records) == 3


async def test_dry_run_changes_nothing() -> None:
    h = Harness(make_spec())
    r = await h.run(dry_run=True)
    assert h.target.records == {} and h.target.writes == 0
    assert [c.action for c in r.plan.changes] == [Action.CREATE]


async def test_state_file_carries_hysteresis_when_metadata_is_not_used(tmp_path: Path) -> None:
    h = Harness(make_spec())
    sf = FileStore(tmp_path / "state.json", clock=h.clock)
    await h.run(sf)
    md = h.target.records[KEY][RecordType.CNAME].metadata or {}
    assert STATE_KEY not in md
    h.prober.down.add("eastus")
    for _ in range(2):
        await h.run(sf)
    assert h.cname() == EAST
    stored = json.loads((tmp_path / "state.json").read_text())
    assert '"ko":2' in stored["myregistry"]
    await h.run(sf)
    assert h.cname() == WEST


async def test_a_restart_never_flips_dns() -> None:
    # A record points at westeurope (an earlier failover) and there is no stored history: the
    # first pass has verdicts for every endpoint but must not "fail back" at once.
    h = Harness(make_spec())
    h.target.put(
        KEY,
        RecordType.CNAME,
        ReadRecord(
            RecordValue(RecordType.CNAME, (WEST,), 30),
            None,
            {MANAGED_BY: "dnsctl", PROFILE_KEY: "myregistry"},
        ),
    )
    r = await h.run()
    assert h.cname() == WEST, "the published choice stands until failback_hold has passed"
    assert r.outcome is not None
    decision = r.outcome.states["myregistry"].decision
    assert decision is not None and "failback to it in" in decision.reason
    for _ in range(2):
        await h.run()
    assert h.cname() == EAST
