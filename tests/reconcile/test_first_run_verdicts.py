"""A one-shot pass without stored history reaches verdicts within the run; with history it probes once."""

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


async def test_with_history_the_pass_probes_once_and_hysteresis_runs_across_runs() -> None:
    h = Harness(make_spec())
    await h.run()  # both Online, stored with the record
    h.prober = ScriptedProber()
    h.prober.down.add("eastus")
    r = await h.run()
    assert h.prober.calls == 2, "a profile with a decision is not probed again within the run"
    assert exit_code(r) is ExitCode.CONVERGED and h.cname() == EAST


async def test_verdicts_out_of_reach_exit_degraded_never_converged() -> None:
    h = Harness(make_spec())
    h.prober.silent.update({"eastus", "westeurope"})  # the guard judges nobody: no verdict can come
    r = await h.run()
    assert r.plan.waiting == ("myregistry",)
    assert h.prober.calls == 6  # bounded
    assert exit_code(r) is ExitCode.DEGRADED
