"""A one-shot pass without stored history reaches verdicts within the run; with history it probes
once, unless an endpoint is counting toward `fall` or `rise` (with the history in the records, counts
settle within the run)."""

from __future__ import annotations

from dnsctl.cli.exit_codes import ExitCode, exit_code

from .scripted import ScriptedProber
from .test_reconcile_pass import EAST, WEST, Harness, make_spec


async def test_no_history_probes_back_to_back_until_verdicts_and_publishes_the_healthy_replica() -> None:
    h = Harness(make_spec())  # fall 3, rise 2
    h.prober.down.add("eastus")
    r = await h.run()
    assert exit_code(r) is ExitCode.CONVERGED and h.cname() == WEST
    # max(fall, rise) = 3 rounds of two endpoints, and no more.
    assert h.prober.calls == 6
    assert r.outcome is not None
    assert [(t.endpoint, t.new.value) for t in r.outcome.transitions] == [
        ("westeurope", "Online"),
        ("eastus", "Degraded"),
    ]


async def test_with_history_a_steady_pass_probes_once() -> None:
    h = Harness(make_spec())
    await h.run()  # both Online, stored with the record
    h.prober = ScriptedProber()
    r = await h.run()
    assert h.prober.calls == 2, "a profile with a decision and nothing counting is not probed again"
    assert exit_code(r) is ExitCode.CONVERGED and h.cname() == EAST


async def test_with_history_in_the_records_counts_toward_fall_settle_within_the_run() -> None:
    # Counts toward fall are not kept in the record (that would cost a write per record per run):
    # the run probes again, back to back, until they settle, at most max(fall, rise) rounds.
    h = Harness(make_spec())  # fall 3, rise 2
    await h.run()
    writes = h.target.writes
    h.prober = ScriptedProber()
    h.prober.down.add("eastus")
    r = await h.run()
    assert h.prober.calls == 6
    assert exit_code(r) is ExitCode.CONVERGED and h.cname() == WEST
    assert h.target.writes == writes + 1, "the failover alone, no write of the counts"


async def test_verdicts_out_of_reach_exit_degraded_never_converged() -> None:
    h = Harness(make_spec())
    h.prober.silent.update({"eastus", "westeurope"})  # the guard judges nobody: no verdict can come
    r = await h.run()
    assert r.plan.waiting == ("myregistry",)
    assert h.prober.calls == 6  # bounded
    assert exit_code(r) is ExitCode.DEGRADED
