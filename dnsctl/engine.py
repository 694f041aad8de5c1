"""The engine: probe rounds fed into the pure core, with the per-profile state kept between rounds.

Shared by `check`, `plan`, `reconcile`, `run` and `serve`. The engine is the one owner of health
state: it is read from the stored state at start through `load` (the one place), snapshotted
through `snapshot`, changed only by its own steps, and every step returns its outcome to the
caller (who hands it on: there are no listeners). It holds no lock: every caller drives it from
one asyncio task at a time.

A pass's decisions reach a publisher one way, one-shot or long-running: as a `Batch` (the states
after the pass, what changed in it) handed to the publisher's `publish`. A publisher acts on the
batch, never on a re-read of the engine's state; one that coalesces (one zone listing for every
decision of a pass) gets the whole pass at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol, TypeVar

from dnsctl.core import state as core_state
from dnsctl.core.model import DnsctlSpec, EndpointSpec, IsolationGuardSpec, Override, ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.core.restore import restored_state
from dnsctl.core.results import CanaryResult, ProbeResult
from dnsctl.core.state import DecisionChange, ProfileState, RoundOutcome
from dnsctl.probes.base import Prober
from dnsctl.probes.canary import probe_canaries
from dnsctl.probes.round import ProbeLimit, probe_round
from dnsctl.process.clock import Clock
from dnsctl.process.state_store import Loaded, StateStore

R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Batch:
    """The decisions of one pass, as every publisher receives them.

    `states` are the engine's states after the pass (each profile's decision is in them);
    `changes` the decisions that changed in it, `probed` the profiles it probed, `moved` those
    with an endpoint transition. `full` asks for every profile to be published (a one-shot run,
    the start of a long-running one), whatever changed.
    """

    states: Mapping[str, ProfileState]
    changes: tuple[DecisionChange, ...] = ()
    probed: frozenset[str] = field(default_factory=frozenset)
    moved: frozenset[str] = field(default_factory=frozenset)
    full: bool = False

    @classmethod
    def of(cls, outcome: RoundOutcome, *, full: bool = False) -> Batch:
        return cls(
            states=outcome.states,
            changes=outcome.changes,
            probed=frozenset(r.profile for r in outcome.results),
            moved=frozenset(t.profile for t in outcome.transitions),
            full=full,
        )

    def changed(self, *, views: bool = True) -> list[str]:
        """The profiles whose decision changed (with `views=False`, only their default decision)."""
        return sorted({c.profile for c in self.changes if views or c.view is None})

    def touched(self) -> list[str]:
        """The profiles the pass probed, moved or re-decided."""
        return sorted(self.probed | self.moved | set(self.changed()))


class Publisher(Protocol[R_co]):
    """Where decisions go: a DNS zone, the resolver's answers, mirror files. One batch per pass."""

    async def publish(self, batch: Batch) -> R_co: ...


# What may follow each core step: (spec, the states before, the outcome) -> the outcome to keep.
Hold = Callable[[DnsctlSpec, Mapping[str, ProfileState], RoundOutcome], RoundOutcome]


class Engine:
    def __init__(
        self,
        spec: DnsctlSpec,
        prober: Prober,
        clock: Clock,
        *,
        concurrency: int = 256,
    ) -> None:
        self.spec = spec
        self.prober = prober
        self.clock = clock
        self.concurrency = concurrency
        self.limit = ProbeLimit(concurrency)  # one bound on probes in flight across every round
        self._states: dict[str, ProfileState] = core_state.initial_states(spec, clock.now())
        # `--site`: after each step, the vantage's quorum may hold the decisions (`Vantage.hold`).
        self.hold: Hold | None = None

    @property
    def states(self) -> Mapping[str, ProfileState]:
        """A read-only view: only the engine's own methods change its state."""
        return MappingProxyType(self._states)

    def snapshot(self) -> dict[str, ProfileState]:
        return dict(self._states)

    def load(self, store: StateStore | None, published: Mapping[str, Published] | None = None) -> Loaded:
        """The one start of every mode: read the stored histories (`published` holds record metadata)
        and restore every profile from them, else from what is published (never-flip)."""
        loaded = store.load(self.spec, published or {}) if store is not None else Loaded()
        self.restore(loaded.states, published)
        return loaded

    def restore(
        self, stored: Mapping[str, ProfileState], published: Mapping[str, Published] | None = None
    ) -> None:
        """Start every profile from its stored history, else from what is published (never-flip)."""
        now = self.clock.now()
        pub = published or {}
        self._states = {
            p.name: restored_state(p, stored.get(p.name), pub.get(p.name), now) for p in self.spec.profiles
        }

    def work(self, profiles: Sequence[str] | None = None) -> list[tuple[ProfileSpec, EndpointSpec]]:
        out: list[tuple[ProfileSpec, EndpointSpec]] = []
        wanted = None if profiles is None else set(profiles)
        for p in self.spec.profiles:
            if wanted is not None and p.name not in wanted:
                continue
            enabled = set(core_state.probed(p))
            out.extend((p, ep) for ep in p.endpoints if ep.name in enabled)
        return out

    async def round(self, profiles: Sequence[str] | None = None) -> RoundOutcome:
        """Probe the endpoints of `profiles` (default all) once, then step the core."""
        now = self.clock.now()
        results = await probe_round(
            self.prober, self.work(profiles), now=now, limit=self.limit, clock=self.clock
        )
        if not core_state.suspect_isolation(self.spec, results):
            return self.feed(results, profiles=profiles)
        # Nothing answered here: before judging anyone, look at every profile again (these included),
        # so that the isolation guard judges results of one moment, not a round that straddles a cut
        # or a recovery.
        wanted = None if profiles is None else set(profiles)
        if wanted is not None and any(p.name not in wanted for p in self.spec.profiles):
            results = await probe_round(
                self.prober, self.work(), now=self.clock.now(), limit=self.limit, clock=self.clock
            )
            profiles = None
        canaries = await self._canaries(results)
        return self.feed(results, profiles=profiles, canaries=canaries)

    async def until_verdicts(self, first: RoundOutcome) -> RoundOutcome:
        """A one-shot run with no history: reach verdicts within the run, not across runs that never come.

        A profile with no decision after `first` (an endpoint still `CheckingEndpoint`: it failed fewer
        than `fall` times) is probed again, back to back, up to `max(fall, rise)` rounds in all. Profiles
        that have a decision are not probed again: their hysteresis runs across runs, as stored.
        Returns one outcome for the whole run (every transition and decision change, the last states).
        """
        outcome = first
        transitions, changes, results = list(first.transitions), list(first.changes), list(first.results)
        rounds = 1
        while True:
            waiting = [p for p in self.spec.profiles if self._states[p.name].decision is None]
            bound = max((max(p.monitor.fall, p.monitor.rise) for p in waiting), default=0)
            if rounds >= bound:
                break
            outcome = await self.round([p.name for p in waiting])
            rounds += 1
            transitions.extend(outcome.transitions)
            changes.extend(outcome.changes)
            results.extend(outcome.results)
        return replace(
            outcome,
            transitions=tuple(transitions),
            changes=tuple(changes),
            results=tuple(results),
        )

    async def would_isolate(self, results: Sequence[ProbeResult], guard: IsolationGuardSpec) -> bool:
        """Whether `guard` would take these results (and a look at its canaries) for our own network cut.

        For `check`, which probes with the guard off (a diagnostic reports what it sees) and then says
        what the guard would have made of it.
        """
        spec = replace(self.spec, isolation_guard=guard)
        if not core_state.suspect_isolation(spec, results):
            return False
        timeout = max((p.monitor.timeout for p in spec.profiles), default=5.0)
        canaries = await probe_canaries(guard.canaries, timeout, self.clock) if guard.canaries else []
        return core_state.is_isolated(spec, results, canaries)

    async def _canaries(self, results: Sequence[ProbeResult]) -> list[CanaryResult]:
        """A look at the canaries, only when every probe went unanswered (the only time they matter)."""
        guard = self.spec.isolation_guard
        if not guard.canaries or not core_state.suspect_isolation(self.spec, results):
            return []
        timeout = max((p.monitor.timeout for p in self.spec.profiles), default=5.0)
        return await probe_canaries(guard.canaries, timeout, self.clock)

    def feed(
        self,
        results: Sequence[ProbeResult],
        *,
        profiles: Sequence[str] | None = None,
        canaries: Sequence[CanaryResult] = (),
    ) -> RoundOutcome:
        outcome = core_state.step(
            self.spec, self._states, results, self.clock.now(), profiles=profiles, canaries=canaries
        )
        if self.hold is not None:
            outcome = self.hold(self.spec, self._states, outcome)
        self._states = dict(outcome.states)
        return replace(outcome, results=tuple(results))

    def redecide(self, profile: str) -> RoundOutcome:
        return self.feed((), profiles=[profile])

    def set_override(self, profile: str, endpoint: str, override: Override | None) -> RoundOutcome:
        self.spec.profile(profile).endpoint(endpoint)  # KeyError for unknown names
        self._states[profile] = core_state.set_override(self._states[profile], endpoint, override)
        return self.redecide(profile)

    def request_failback(self, profile: str) -> RoundOutcome:
        self._states[profile] = core_state.request_failback(self._states[profile])
        return self.redecide(profile)
