"""The engine: probe rounds fed into the pure core, with the per-profile state kept between rounds.

Shared by `check`, `plan`, `reconcile`, `run` and `serve`. The engine is the one owner of health
state: it is restored and snapshotted through `restore` and `snapshot`, changed only by its own
steps, and every step returns its outcome to the caller (who hands it on: there are no listeners).
It holds no lock: every caller drives it from one asyncio task at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from dnsctl.core import state as core_state
from dnsctl.core.model import DnsctlSpec, EndpointSpec, IsolationGuardSpec, Override, ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.core.restore import restored_state
from dnsctl.core.results import CanaryResult, ProbeResult
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.probes.base import Prober
from dnsctl.probes.canary import probe_canaries
from dnsctl.probes.round import ProbeLimit, probe_round
from dnsctl.process.clock import Clock


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

    @property
    def states(self) -> Mapping[str, ProfileState]:
        """A read-only view: only the engine's own methods change its state."""
        return MappingProxyType(self._states)

    def snapshot(self) -> dict[str, ProfileState]:
        return dict(self._states)

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
        canaries = await probe_canaries(guard.canaries, timeout) if guard.canaries else []
        return core_state.is_isolated(spec, results, canaries)

    async def _canaries(self, results: Sequence[ProbeResult]) -> list[CanaryResult]:
        """A look at the canaries, only when every probe went unanswered (the only time they matter)."""
        guard = self.spec.isolation_guard
        if not guard.canaries or not core_state.suspect_isolation(self.spec, results):
            return []
        timeout = max((p.monitor.timeout for p in self.spec.profiles), default=5.0)
        return await probe_canaries(guard.canaries, timeout)

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
