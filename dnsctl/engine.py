"""The engine: probe rounds fed into the pure core, with the per-profile state kept between rounds.

Shared by `check`, `plan`, `reconcile`, `run` and `serve`. It holds no lock: every caller drives it
from one asyncio task at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from dnsctl.clock import Clock
from dnsctl.core import state as core_state
from dnsctl.core.model import DnsctlSpec, EndpointSpec, Override, ProfileSpec
from dnsctl.core.results import CanaryResult, ProbeResult
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.probes.base import Prober
from dnsctl.probes.canary import probe_canaries
from dnsctl.probes.round import probe_round

Listener = Callable[[RoundOutcome, Sequence[ProbeResult]], None]


class Engine:
    def __init__(
        self,
        spec: DnsctlSpec,
        prober: Prober,
        clock: Clock,
        *,
        states: Mapping[str, ProfileState] | None = None,
        concurrency: int = 256,
    ) -> None:
        self.spec = spec
        self.prober = prober
        self.clock = clock
        self.concurrency = concurrency
        self.states: dict[str, ProfileState] = dict(states or core_state.initial_states(spec, clock.now()))
        self.listeners: list[Listener] = []

    def work(self, profiles: Sequence[str] | None = None) -> list[tuple[ProfileSpec, EndpointSpec]]:
        out: list[tuple[ProfileSpec, EndpointSpec]] = []
        for p in self.spec.profiles:
            if profiles is not None and p.name not in profiles:
                continue
            enabled = set(core_state.probed(p))
            out.extend((p, ep) for ep in p.endpoints if ep.name in enabled)
        return out

    async def round(self, profiles: Sequence[str] | None = None) -> RoundOutcome:
        """Probe the endpoints of `profiles` (default all) once, then step the core."""
        now = self.clock.now()
        results = await probe_round(self.prober, self.work(profiles), now=now, concurrency=self.concurrency)
        if not core_state.suspect_isolation(self.spec, results):
            return self.feed(results, profiles=profiles)
        # Nothing answered here: before judging anyone, look at every profile again (these included),
        # so that the isolation guard judges results of one moment, not a round that straddles a cut
        # or a recovery.
        if profiles is not None and any(p.name not in profiles for p in self.spec.profiles):
            results = await probe_round(
                self.prober, self.work(), now=self.clock.now(), concurrency=self.concurrency
            )
            profiles = None
        canaries = await self._canaries(results)
        return self.feed(results, profiles=profiles, canaries=canaries)

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
            self.spec, self.states, results, self.clock.now(), profiles=profiles, canaries=canaries
        )
        self.states = dict(outcome.states)
        for listener in self.listeners:
            listener(outcome, results)
        return outcome

    def redecide(self, profile: str) -> RoundOutcome:
        return self.feed((), profiles=[profile])

    def set_override(self, profile: str, endpoint: str, override: Override | None) -> RoundOutcome:
        self.spec.profile(profile).endpoint(endpoint)  # KeyError for unknown names
        self.states[profile] = core_state.set_override(self.states[profile], endpoint, override)
        return self.redecide(profile)

    def request_failback(self, profile: str) -> RoundOutcome:
        self.states[profile] = core_state.request_failback(self.states[profile])
        return self.redecide(profile)
