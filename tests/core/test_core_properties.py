"""Property tests over random probe histories, clocks, configs and operator actions."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.health import MAX_HOLD_FACTOR, EndpointHealth, MonitorStatus, effective_status, observe
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    EndpointStatus,
    Failback,
    IsolationGuardSpec,
    MonitorSpec,
    Override,
    ProfileSpec,
    ResolverSpec,
    Routing,
    ViewSpec,
    WhenAllDown,
)
from dnsctl.core.state import (
    ProfileState,
    RoundOutcome,
    initial_states,
    probed,
    request_failback,
    set_override,
    step,
)
from tests.support.waits import run_process

from .factories import T0, fail, ok

CHECKING, ONLINE, DEGRADED = MonitorStatus.CHECKING, MonitorStatus.ONLINE, MonitorStatus.DEGRADED
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

monitors = st.builds(
    MonitorSpec,
    fall=st.integers(1, 5),
    rise=st.integers(1, 5),
    flap_threshold=st.integers(1, 4),
    flap_window=st.sampled_from([0.0, 30.0, 100.0, 600.0, 1e9]),
    flap_hold=st.sampled_from([0.0, 10.0, 45.0, 120.0]),
)
histories = st.lists(
    st.tuples(st.booleans(), st.floats(min_value=0.0, max_value=120.0, allow_nan=False)),
    max_size=80,
)


# --- health -----------------------------------------------------------------------------------


@SETTINGS
@given(mon=monitors, history=histories)
def test_health_follows_the_hysteresis_and_damping_rules(
    mon: MonitorSpec, history: list[tuple[bool, float]]
) -> None:
    h = EndpointHealth()
    now = T0
    run_ok = run_fail = 0
    flaps: list[float] = []
    for up, dt in history:
        now += dt
        new = observe(h, ok("e", now) if up else fail("e", now), mon, now)
        run_ok, run_fail = (run_ok + 1, 0) if up else (0, run_fail + 1)
        old_s, new_s = h.status, new.status
        assert (new.successes, new.failures) == (run_ok, run_fail)
        if new_s is DEGRADED and old_s is not DEGRADED:
            assert run_fail >= mon.fall, "Degraded before `fall` consecutive failures"
        if old_s is DEGRADED and new_s is ONLINE:
            assert run_ok >= mon.rise, "back Online before `rise` consecutive successes"
            assert h.hold_until is None or now >= h.hold_until, "back Online inside a damping hold"
        # Liveness: the rules also fire when they should.
        if old_s is CHECKING:
            expected = ONLINE if up else (DEGRADED if run_fail >= mon.fall else CHECKING)
        elif old_s is ONLINE:
            expected = DEGRADED if run_fail >= mon.fall else ONLINE
        else:
            held = h.hold_until is not None and now < h.hold_until
            expected = ONLINE if up and run_ok >= mon.rise and not held else DEGRADED
        assert new_s is expected, (old_s, up, run_ok, run_fail)
        if old_s is ONLINE and new_s is DEGRADED:
            flaps = [t for t in flaps if now - t < mon.flap_window] + [now]
            k = len(flaps) - mon.flap_threshold
            want = None if k < 0 else now + mon.flap_hold * min(2**k, MAX_HOLD_FACTOR)
            assert new.hold_until == want
        assert new.flaps == h.flaps + (old_s is ONLINE and new_s is DEGRADED)
        assert new.since == (now if new_s is not old_s else h.since)
        assert new.last is not None and new.last.at == now
        h = new


@SETTINGS
@given(mon=monitors, history=histories)
def test_health_is_deterministic(mon: MonitorSpec, history: list[tuple[bool, float]]) -> None:
    def replay() -> list[EndpointHealth]:
        h, now, out = EndpointHealth(), T0, []
        for up, dt in history:
            now += dt
            h = observe(h, ok("e", now, latency=dt / 1000) if up else fail("e", now), mon, now)
            out.append(h)
        return out

    assert replay() == replay()


# --- the whole engine -------------------------------------------------------------------------

NAMES = ("a", "b", "c")


@st.composite
def profiles(draw: st.DrawFn, name: str) -> ProfileSpec:
    n = draw(st.integers(1, 3))
    priorities = draw(st.permutations(range(1, n + 1)))
    disabled = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if all(disabled):
        disabled[draw(st.integers(0, n - 1))] = False
    endpoints = tuple(
        EndpointSpec(
            name=NAMES[i],
            target=f"{NAMES[i]}.{name}.example",
            priority=priorities[i],
            weight=draw(st.integers(0, 3)),
            status=EndpointStatus.DISABLED if disabled[i] else EndpointStatus.ENABLED,
            override=draw(st.sampled_from([Override.OBEY] * 4 + [Override.UP, Override.DOWN])),
        )
        for i in range(n)
    )
    policy = draw(st.sampled_from(list(WhenAllDown)))
    return ProfileSpec(
        name=name,
        fqdn=f"{name}.example",
        endpoints=endpoints,
        routing=draw(st.sampled_from(list(Routing))),
        failback=draw(st.sampled_from(list(Failback))),
        failback_hold=draw(st.sampled_from([0.0, 15.0, 60.0])),
        when_all_down=policy,
        fallback="global.example" if policy is WhenAllDown.FALLBACK else None,
        monitor=draw(monitors),
        performance_margin=draw(st.sampled_from([0.0, 0.2, 0.5])),
        weight_seed=draw(st.integers(0, 2**16)),
        startup_grace=draw(st.sampled_from([0.0, 30.0, 60.0])),
    )


@st.composite
def specs(draw: st.DrawFn) -> DnsctlSpec:
    profs = [draw(profiles("p0"))]
    if draw(st.booleans()):
        profs.append(draw(profiles("p1")))
    views: tuple[ViewSpec, ...] = ()
    if draw(st.booleans()):
        names = [ep.name for ep in profs[0].endpoints]
        order = draw(st.permutations(names))
        views = (
            ViewSpec(
                "v", (ip_network("10.0.0.0/8"),), (("p0", tuple(order[: draw(st.integers(1, len(names)))])),)
            ),
        )
    guard = IsolationGuardSpec(enabled=draw(st.booleans()), min_endpoints=draw(st.integers(1, 3)))
    return DnsctlSpec(profiles=tuple(profs), resolver=ResolverSpec(views=views), isolation_guard=guard)


# One operator action or one round: ("round", dt, {(profile, endpoint): (ok, latency) or None}), ...
Op = tuple[object, ...]


@st.composite
def operations(draw: st.DrawFn, spec: DnsctlSpec) -> list[Op]:
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["round"] * 6 + ["override", "failback", "redecide"]))
        prof = draw(st.sampled_from(spec.profiles))
        if kind == "round":
            # Mostly one profile at a time (separate schedules), sometimes all of them at once.
            targets = spec.profiles if draw(st.booleans()) else (prof,)
            results = {}
            for p in targets:
                for name in probed(p):
                    if draw(st.integers(0, 5)) > 0:
                        results[(p.name, name)] = (
                            draw(st.booleans()),
                            draw(st.sampled_from([0.01, 0.05, 0.2])),
                        )
            ops.append(("round", draw(st.sampled_from([1.0, 5.0, 10.0, 30.0])), results))
        elif kind == "override":
            ep = draw(st.sampled_from([e.name for e in prof.endpoints]))
            ops.append(("override", prof.name, ep, draw(st.sampled_from([None, *Override]))))
        elif kind == "failback":
            ops.append(("failback", prof.name))
        else:
            ops.append(("redecide", prof.name, draw(st.sampled_from([1.0, 20.0, 60.0]))))
    return ops


@dataclass
class Replay:
    spec: DnsctlSpec
    now: float = T0
    states: dict[str, ProfileState] = field(default_factory=dict)
    outcomes: list[RoundOutcome] = field(default_factory=list)

    def apply(self, op: Op) -> RoundOutcome:
        if not self.states:
            self.states = initial_states(self.spec, T0)
        kind = op[0]
        if kind == "round":
            _, dt, verdicts = op
            assert isinstance(dt, float) and isinstance(verdicts, dict)
            self.now += dt
            results = [
                (ok(ep, self.now, lat, prof) if up else fail(ep, self.now, profile=prof))
                for (prof, ep), (up, lat) in verdicts.items()
            ]
            out = step(self.spec, self.states, results, self.now)
        else:
            prof = str(op[1])
            if kind == "override":
                override = op[3]
                assert override is None or isinstance(override, Override)
                self.states[prof] = set_override(self.states[prof], str(op[2]), override)
            elif kind == "failback":
                self.states[prof] = request_failback(self.states[prof])
            else:
                assert isinstance(op[2], float)
                self.now += op[2]
            out = step(self.spec, self.states, (), self.now, profiles=[prof])
        self.states = dict(out.states)
        self.outcomes.append(out)
        return out


def check_decision(
    profile: ProfileSpec,
    st_: ProfileState,
    decision: Decision | None,
    before: Decision | None,
    now: float,
    decided: bool,
) -> None:
    """`before`: the decision before this operation; `decided`: just decided outside an isolation."""
    status = {
        ep.name: effective_status(
            ep, st_.endpoints.get(ep.name, EndpointHealth()), st_.overrides.get(ep.name)
        )
        for ep in profile.endpoints
    }
    checking = any(s is CHECKING for s in status.values())
    if decision is None:
        # Only ignorance within the startup grace leaves a profile undecided.
        assert not decided or (checking and now - st_.started_at < profile.startup_grace)
        return
    if before is None:
        # A first decision waits for every verdict, or for the end of the startup grace.
        assert not checking or now - st_.started_at >= profile.startup_grace
    assert decision.endpoints or decision.fallback, "an empty decision"
    configured = {ep.name for ep in profile.endpoints}
    assert set(decision.endpoints) <= configured
    if decision.kind is DecisionKind.ENDPOINT:
        anyone_online = any(s is ONLINE for s in status.values())
        assert not (status[decision.endpoints[0]] in (DEGRADED, MonitorStatus.DISABLED) and anyone_online)
        # A kept choice may still await its verdict (no reason to move); the rest must be Online.
        assert status[decision.endpoints[0]] in (ONLINE, CHECKING)
        assert all(status[n] is ONLINE for n in decision.endpoints[1:])
    if decision.kind is DecisionKind.ALL_DOWN:
        assert not any(s is ONLINE for s in status.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_invariants_over_random_rounds_and_operator_actions(data: st.DataObject) -> None:
    spec = data.draw(specs())
    ops = data.draw(operations(spec))
    replay = Replay(spec)
    runs: dict[tuple[str, str], list[int]] = {}  # consecutive [successes, failures] per endpoint
    for op in ops:
        before = {
            (name, view): rs.decision
            for name, st_ in replay.states.items()
            for view, rs in [(None, st_.routing), *st_.views.items()]
        }
        out = replay.apply(op)
        if op[0] == "round" and not out.isolated:
            verdicts = op[2]
            assert isinstance(verdicts, dict)
            for key, (up, _lat) in verdicts.items():
                s, f = runs.get(key, [0, 0])
                runs[key] = [s + 1, 0] if up else [0, f + 1]
        if out.isolated:
            assert out.transitions == ()
        for t in out.transitions:
            prof = spec.profile(t.profile)
            s, f = runs[(t.profile, t.endpoint)]
            if t.new is DEGRADED:
                assert f >= prof.monitor.fall
            if t.old is DEGRADED and t.new is ONLINE:
                assert s >= prof.monitor.rise
            assert t.flap == (t.old is ONLINE and t.new is DEGRADED)
        for prof in spec.profiles:
            st_ = replay.states[prof.name]
            decided = not out.isolated and (op[0] == "round" or op[1] == prof.name)
            check_decision(prof, st_, st_.decision, before.get((prof.name, None)), replay.now, decided)
            for view, rs in st_.views.items():
                check_decision(prof, st_, rs.decision, before.get((prof.name, view)), replay.now, decided)
        for change in out.changes:
            assert not change.new.same_outcome(change.old)
            event(f"decision {change.new.kind.value}" + (" failover" if change.failover else ""))
        if out.isolated:
            event("isolated round")

    again = Replay(spec)
    for op in ops:
        again.apply(op)
    assert again.outcomes == replay.outcomes, "same inputs, different outputs"


def _held_then_thawed(second_round: dict[tuple[str, str], tuple[bool, float]]) -> dict[str, Decision | None]:
    """Serve-all (nothing judged), a round where every probe fails (the guard holds), then `second_round`."""
    monitor = MonitorSpec(fall=1, rise=1, flap_threshold=1, flap_window=0.0, flap_hold=0.0)
    both = (EndpointSpec("a", "a.p0.example", 1), EndpointSpec("b", "b.p0.example", 2))
    spec = DnsctlSpec(
        profiles=(
            ProfileSpec(
                "p0",
                "p0.example",
                both,
                when_all_down=WhenAllDown.SERVE_ALL,
                startup_grace=0.0,
                monitor=monitor,
            ),
            ProfileSpec("p1", "p1.example", both[:1], startup_grace=0.0, monitor=monitor),
        )
    )
    replay = Replay(spec)
    for _ in range(2):  # the first keeps what is published; the second serves all
        replay.apply(("round", 1.0, {}))
    served = replay.states["p0"].decision
    assert served is not None and served.kind is DecisionKind.ALL_DOWN and served.endpoints == ("a", "b")
    everything_fails = {("p0", "a"): (False, 0.01), ("p0", "b"): (False, 0.01), ("p1", "a"): (False, 0.01)}
    assert replay.apply(("round", 1.0, everything_fails)).isolated
    replay.apply(("round", 1.0, second_round))
    return {name: st_.decision for name, st_ in replay.states.items()}


def test_a_held_serve_all_answer_is_judged_again_when_the_hold_ends() -> None:
    # Found by the property test above: the hold (FROZEN) forgot that [a, b] was an all-down answer, and the
    # next round relabelled it a choice of a and b although b had no verdict.
    decided = _held_then_thawed({})
    p0 = decided["p0"]
    assert p0 is not None and p0.kind is DecisionKind.ALL_DOWN and p0.endpoints == ("a", "b")
    decided = _held_then_thawed({("p0", "a"): (True, 0.01)})
    p0 = decided["p0"]
    assert p0 is not None and p0.kind is DecisionKind.ENDPOINT and p0.endpoints == ("a",)


SCENARIO = """
import random
from dnsctl.core.model import *
from dnsctl.core.results import ProbeResult
from dnsctl.core.state import initial_states, step
rng = random.Random(7)
eps = tuple(EndpointSpec(n, n + ".example", i + 1, weight=i + 1) for i, n in enumerate("abcdef"))
profs = tuple(
    ProfileSpec(f"p{r.value}", f"p{r.value}.example", eps, routing=r, monitor=MonitorSpec(fall=2, rise=2))
    for r in Routing
)
spec = DnsctlSpec(profiles=profs, resolver=ResolverSpec(views=(ViewSpec("v", ("10.0.0.0/8",),
    (("ppriority", ("f", "e")),)),)))
states = initial_states(spec, 0.0)
for i in range(200):
    now = 10.0 * (i + 1)
    results = [ProbeResult(p.name, e.name, now, rng.random() < 0.7, rng.random(), "127.0.0.1")
               for p in profs for e in eps if rng.random() < 0.8]
    out = step(spec, states, results, now)
    states = out.states
    print(out.transitions, out.changes)
print(sorted(states.items()))
"""


def test_engine_does_not_depend_on_hash_randomisation() -> None:
    def run(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        root = Path(__file__).resolve().parents[2]
        done = run_process(
            [sys.executable, "-c", SCENARIO], env=env, cwd=root, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run("1")
    assert "DecisionChange" in first and "Transition" in first
    assert run("2") == first
    assert run("12345") == first
