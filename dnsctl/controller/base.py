"""What `dnsctl serve` and `dnsctl run` share: the engine on a schedule, metrics, status and operator actions.

Subclasses say what a decision change does (re-render the resolver's answers, or write Azure) and
where state is persisted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from dnsctl import render
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.scheduling import ProbeScheduler
from dnsctl.core import codec
from dnsctl.core.model import DnsctlSpec, Override
from dnsctl.core.results import ProbeResult
from dnsctl.core.state import DecisionChange, RoundOutcome
from dnsctl.engine import Engine
from dnsctl.errors import OperatorError
from dnsctl.reconcile import StateFile

log = logging.getLogger("dnsctl.controller")


class ControllerBase:
    def __init__(
        self, engine: Engine, *, state_file: StateFile | None = None, metrics: Metrics | None = None
    ):
        self.engine = engine
        self.spec: DnsctlSpec = engine.spec
        self.metrics = metrics or Metrics()
        self.registry: CollectorRegistry = self.metrics.registry
        self.metrics.init_profiles(self.spec)
        self.state_file = state_file
        self.scheduler = ProbeScheduler(engine, self._on_round)
        self.engine.listeners.append(self._observe)
        self.started = time.monotonic()
        self.last_round = time.monotonic()
        self.stopping = asyncio.Event()
        self.isolated = False

    # --- life cycle -------------------------------------------------------------------------

    def restore_from_file(self) -> None:
        if self.state_file is None:
            return
        stored = self.state_file.load()
        for p in self.spec.profiles:
            if p.name in stored:
                try:
                    self.engine.states[p.name] = codec.decode(p, stored[p.name])
                except codec.StateDecodeError as e:
                    log.warning("profile %s: ignoring stored state: %s", p.name, e)

    def save_state(self) -> None:
        if self.state_file is not None:
            self.state_file.save(
                {p.name: codec.encode(p, self.engine.states[p.name]) for p in self.spec.profiles}
            )

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    # --- rounds and decisions ----------------------------------------------------------------

    def _observe(self, outcome: RoundOutcome, results: Sequence[ProbeResult]) -> None:
        self.last_round = time.monotonic()
        self.metrics.observe_round(outcome, results)
        for t in outcome.transitions:
            log.info(
                "%s/%s: %s -> %s (%s)%s",
                t.profile,
                t.endpoint,
                t.old.value,
                t.new.value,
                t.reason,
                " [flap]" if t.flap else "",
            )
        if outcome.isolated and not self.isolated:
            log.error(
                "ISOLATION GUARD: every endpoint of every profile is failing; decisions are frozen "
                "(check this controller's own network)"
            )
        for c in outcome.changes:
            where = f" view {c.view}" if c.view else ""
            log.info(
                "decision%s: %s -> %s: %s",
                where,
                c.profile,
                ", ".join(c.new.endpoints) or c.new.fallback,
                c.new.reason,
            )
        if not results:
            return  # a re-decision without probes says nothing about isolation
        if self.isolated and not outcome.isolated:
            log.warning("isolation guard released: probes answer again")
        self.isolated = outcome.isolated

    async def _on_round(self, profile: str, outcome: RoundOutcome) -> None:
        if outcome.changes:
            await self._dispatch(outcome)
            self.save_state()

    async def _dispatch(self, outcome: RoundOutcome) -> None:
        # A round may decide for more profiles than the one scheduled (the isolation check looks at all).
        by_profile: dict[str, list[DecisionChange]] = {}
        for c in outcome.changes:
            by_profile.setdefault(c.profile, []).append(c)
        for name, changes in by_profile.items():
            await self.on_decisions(name, changes)

    async def on_decisions(self, profile: str, changes: list[DecisionChange]) -> None:
        raise NotImplementedError

    # --- admin Operations ----------------------------------------------------------------------

    def alive(self) -> bool:
        # Alive while rounds keep coming: a wedged loop stops them.
        longest = max((p.monitor.interval for p in self.spec.profiles), default=10.0)
        return time.monotonic() - self.last_round < max(3 * longest, 30.0) or not self.spec.profiles

    def ready(self) -> tuple[bool, str]:
        waiting = [p.name for p in self.spec.profiles if self.engine.states[p.name].decision is None]
        if waiting:
            return False, f"waiting for verdicts: {', '.join(waiting)}"
        return True, "every profile has a decision"

    def status(self) -> dict[str, Any]:
        doc = render.health_doc(self.spec, self.engine.states)
        doc["isolated"] = self.isolated
        return doc

    def _check_names(self, profile: str, endpoint: str | None = None) -> None:
        try:
            p = self.spec.profile(profile)
            if endpoint is not None:
                p.endpoint(endpoint)
        except KeyError:
            what = f"endpoint {endpoint!r} in profile {profile!r}" if endpoint else f"profile {profile!r}"
            raise OperatorError(f"no {what}") from None

    async def _after_action(self, outcome: RoundOutcome) -> None:
        self.save_state()
        await self._dispatch(outcome)

    async def drain(self, profile: str, endpoint: str) -> str:
        self._check_names(profile, endpoint)
        outcome = self.engine.set_override(profile, endpoint, Override.DOWN)
        await self._after_action(outcome)
        return f"{profile}/{endpoint} drained; {self._decision_text(profile)}"

    async def undrain(self, profile: str, endpoint: str) -> str:
        self._check_names(profile, endpoint)
        outcome = self.engine.set_override(profile, endpoint, None)
        await self._after_action(outcome)
        return f"{profile}/{endpoint} follows its probes again; {self._decision_text(profile)}"

    async def failback(self, profile: str) -> str:
        self._check_names(profile)
        outcome = self.engine.request_failback(profile)
        await self._after_action(outcome)
        return f"failback requested for {profile}; {self._decision_text(profile)}"

    def _decision_text(self, profile: str) -> str:
        d = self.engine.states[profile].decision
        if d is None:
            return "no decision yet"
        return f"now -> {', '.join(d.endpoints) or d.fallback}: {d.reason}"
