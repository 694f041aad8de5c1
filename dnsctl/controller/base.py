"""What `dnsctl serve` and `dnsctl run` share: the engine on a schedule, metrics, status and operator actions.

Every outcome of the engine (a probe round, an operator action, a re-decision) takes one path,
`handle`: it is observed (logs, metrics), kept in the state store (the one save path, `Keeper`),
then handed to the publisher as a `Batch`. Subclasses say what publishing means (re-render the
resolver's answers, write the mirror files, or write Azure), from the batch alone.

Nothing is kept or published before the stored state has been read: until then the engine holds
a fresh state that must never overwrite a stored drain, a manual failback or a running hold.
Whether it has been read is this class's alone to say (`restore`, `unread`).

An operator action is saved before it is acknowledged: after the one path above, `save_action`
makes sure the stored state holds it (the state file was written; for `run`, the record's
metadata). When that fails the action stays in effect in this process and is shown pending in
/status until a later save succeeds, and the caller is told it was not saved (never a 200).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry

from dnsctl.controller import notify
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.notify import Notification, Notifier
from dnsctl.controller.scheduling import ProbeScheduler
from dnsctl.controller.vantage import Vantage
from dnsctl.core.model import DnsctlSpec, Failback, Override, ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.core.state import ProfileState, RoundOutcome
from dnsctl.documents.jsonable import ABSENT
from dnsctl.documents.status import StateDoc, StatusDoc, history_doc, profile_docs
from dnsctl.engine import Batch, Engine
from dnsctl.errors import NotReadyError, NotSavedError, OperatorConflict, OperatorError
from dnsctl.process.clock import Clock
from dnsctl.process.state_store import Keeper, Loaded, MetadataStore, StateStore

log = logging.getLogger("dnsctl.controller")


class ControllerBase:
    def __init__(
        self,
        engine: Engine,
        *,
        store: StateStore | None = None,
        metrics: Metrics | None = None,
        vantage: Vantage | None = None,
    ):
        self.engine = engine
        self.spec: DnsctlSpec = engine.spec
        self.clock: Clock = engine.clock
        self.metrics = metrics or Metrics()
        self.registry: CollectorRegistry = self.metrics.registry
        self.metrics.init_profiles(self.spec)
        # Computed when scraped, from the same answer /readyz gives: the two can never disagree.
        self.metrics.ready.set_function(lambda: 1.0 if self.ready()[0] else 0.0)
        self.store = store
        self.keeper = Keeper(store, on_error=self.metrics.state_save_errors.inc)
        self.scheduler = ProbeScheduler(engine, self._on_round, metrics=self.metrics)
        self.last_round = self.clock.monotonic()
        self.isolated = False
        self.state_read = False  # until True, nothing is kept or published
        self.unread_reason = "the stored state has not been read yet"
        # Operator actions taken in this process whose state is not saved yet: profile -> what was done.
        self.pending: dict[str, str] = {}
        self.notifier: Notifier | None = (
            Notifier(self.spec.notify, self.registry, clock=self.clock) if self.spec.notify.webhooks else None
        )
        self.vantage = vantage  # `--site`: this process is that site's vantage (controller/vantage.py)
        if vantage is not None:
            engine.hold = vantage.hold  # a blind vantage's site keeps its last answer

    # --- life cycle -------------------------------------------------------------------------

    def restore(self, published: Mapping[str, Published]) -> Loaded:
        """Read the stored state and hand it to the engine; from now on outcomes are kept and published."""
        loaded = self.engine.load(self.store, published)
        self.metrics.show_states(self.engine.states)
        self.state_read = True
        self.unread_reason = ""
        self.metrics.state_read.set(1)
        problem = self.store.describe().problem if self.store is not None else None
        self.metrics.state_problem.set(1 if problem else 0)
        self.last_round = self.clock.monotonic()
        return loaded

    def unread(self, reason: str) -> None:
        """The stored state must be read again (a takeover): until then nothing is kept or published."""
        self.state_read = False
        self.unread_reason = reason
        self.metrics.state_read.set(0)

    @property
    def history_in_records(self) -> bool:
        """The history travels with the DNS record (written by the publisher), not in a file."""
        return isinstance(self.store, MetadataStore)

    def persist(self, states: Mapping[str, ProfileState]) -> None:
        if self.store is None or not self.state_read:
            return
        if self.keeper.save(self.spec, states) is None and not self.history_in_records:
            self.saved([p.name for p in self.spec.profiles])

    def saved(self, profiles: list[str]) -> None:
        """The stored state of `profiles` now holds every action taken before: nothing is pending."""
        for name in profiles:
            if self.pending.pop(name, None) is not None:
                log.warning("profile %s: the operator's action is saved now", name)

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    # --- the one path of an outcome -----------------------------------------------------------

    async def _on_round(self, profiles: Sequence[str], outcome: RoundOutcome) -> None:
        await self.handle(outcome)

    async def handle(self, outcome: RoundOutcome, *, full: bool = False, tell: bool = True) -> None:
        """Observe, keep and publish `outcome` (`full`: every profile); `tell` the webhooks about it."""
        was_isolated = self.isolated
        self._observe(outcome)
        self.persist(outcome.states)
        # Queued only (never waits): a slow or failing webhook cannot delay the write below.
        if tell:
            self._notify_outcome(outcome, was_isolated)
        if self.vantage is not None and outcome.results:
            # Verdicts to the exchange and the others' read back, before the site's records are written.
            if self.vantage.due() or outcome.changes or outcome.transitions:
                await self.vantage.exchange_round(outcome.states, isolated=self.isolated)
            self.vantage.log_changes(outcome.changes)
        await self.publish(Batch.of(outcome, full=full))

    # --- notifications --------------------------------------------------------------------------

    def notifying(self) -> bool:
        """Whether this process tells the webhooks (a standby of `run` keeps quiet)."""
        return True

    def notify(self, n: Notification, *, even_standby: bool = False) -> None:
        if self.notifier is not None and (even_standby or self.notifying()):
            self.notifier.submit(n)

    def _notify_outcome(self, outcome: RoundOutcome, was_isolated: bool) -> None:
        if self.notifier is None or not self.notifying():
            return
        for n in notify.from_outcome(outcome):
            self.notifier.submit(n)
        if self.isolated != was_isolated:
            self.notifier.submit(notify.isolation(self.clock.now(), self.isolated))

    async def close_notifications(self) -> None:
        if self.notifier is not None:
            await self.notifier.close()

    async def publish(self, batch: Batch) -> None:
        """Bring what this mode publishes to the batch's decisions (see `dnsctl.engine.Publisher`)."""
        raise NotImplementedError

    def _observe(self, outcome: RoundOutcome) -> None:
        results = outcome.results
        if results:
            self.last_round = self.clock.monotonic()
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

    # --- admin Operations ----------------------------------------------------------------------

    def alive(self) -> bool:
        if not self.state_read:
            return (
                True  # waiting for the stored state, by design; the admin API answering is the proof of life
            )
        # Alive while rounds keep coming: a wedged loop stops them.
        longest = max((p.monitor.interval for p in self.spec.profiles), default=10.0)
        return self.clock.monotonic() - self.last_round < max(3 * longest, 30.0) or not self.spec.profiles

    def ready(self) -> tuple[bool, str]:
        if not self.state_read:
            return False, f"stored state not read yet ({self.unread_reason}); nothing is written until it is"
        waiting = [p.name for p in self.spec.profiles if self.engine.states[p.name].decision is None]
        if waiting:
            more = f" and {len(waiting) - 10} more" if len(waiting) > 10 else ""
            return False, f"waiting for verdicts: {', '.join(waiting[:10])}{more}"
        if (late := self.scheduler.running_late()) is not None:
            return False, late
        return True, "every profile has a decision"

    def status(self) -> StatusDoc:
        profiles = tuple(
            dataclasses.replace(p, history=tuple(history_doc(h) for h in self.engine.states[p.name].history))
            for p in profile_docs(self.spec, self.engine.states)
        )
        state = self.store.describe() if self.store is not None else StateDoc(kind="none")
        state = dataclasses.replace(
            state,
            read=self.state_read,
            unread_reason=self.unread_reason or None,
            save_error=self.keeper.error,
            # Operator actions in effect here but not saved yet (a restart now would forget them).
            pending=dict(self.pending),
        )
        sites = self.vantage.doc() if self.vantage is not None else ABSENT
        return StatusDoc(profiles=profiles, isolated=self.isolated, state=state, sites=sites)

    def _check_names(self, profile: str, endpoint: str | None = None) -> ProfileSpec:
        try:
            p = self.spec.profile(profile)
        except KeyError:
            known = ", ".join(q.name for q in self.spec.profiles) or "none"
            raise OperatorError(f"no profile {profile!r} (profiles: {known})") from None
        if endpoint is not None and endpoint not in {e.name for e in p.endpoints}:
            known = ", ".join(e.name for e in p.endpoints)
            raise OperatorError(f"no endpoint {endpoint!r} in profile {profile!r} (endpoints: {known})")
        if not self.state_read:
            # The action would land on a fresh state, then be lost when the stored one is read.
            raise NotReadyError(f"not yet: {self.unread_reason}; try again once /readyz says ready")
        return p

    async def _check_writer(self, action: str) -> None:
        """Refuse an operator action this instance cannot make durable (a standby). Default: none."""
        return None

    async def save_action(self, profile: str, check: Callable[[ProfileState], bool] | None) -> str | None:
        """After an action's outcome went down the one path: why its state is not saved, or None.

        `check` says whether a stored state holds the action (where it can be read back).
        """
        if self.store is None:
            return None
        return self.keeper.error

    async def _act(
        self, profile: str, what: str, outcome: RoundOutcome, check: Callable[[ProfileState], bool] | None
    ) -> str:
        await self.handle(outcome)
        problem = await self.save_action(profile, check)
        if problem is not None:
            self.pending[profile] = what
            log.error("profile %s: %s is in effect here but NOT saved: %s", profile, what, problem)
            raise NotSavedError(
                f"{what} is in effect in this process but was NOT saved ({problem}); /status shows it "
                "pending until a later save succeeds, and a restart before that forgets it: send it again"
            )
        if self.store is None:
            return "not kept across a restart: no state file"
        self.saved([profile])
        return "saved"

    async def drain(self, profile: str, endpoint: str) -> str:
        self._check_names(profile, endpoint)
        await self._check_writer("drain")
        outcome = self.engine.set_override(profile, endpoint, Override.DOWN)
        saved = await self._act(
            profile,
            f"the drain of {profile}/{endpoint}",
            outcome,
            lambda st: st.overrides.get(endpoint) is Override.DOWN,
        )
        return f"{profile}/{endpoint} drained ({saved}); {self._decision_text(profile)}"

    async def undrain(self, profile: str, endpoint: str) -> str:
        self._check_names(profile, endpoint)
        await self._check_writer("undrain")
        outcome = self.engine.set_override(profile, endpoint, None)
        saved = await self._act(
            profile,
            f"the undrain of {profile}/{endpoint}",
            outcome,
            lambda st: endpoint not in st.overrides,
        )
        return f"{profile}/{endpoint} follows its probes again ({saved}); {self._decision_text(profile)}"

    async def failback(self, profile: str) -> str:
        spec = self._check_names(profile)
        await self._check_writer("failback")  # a standby says where the leader is, whatever the request
        if spec.failback is Failback.AUTO:
            raise OperatorConflict(
                f"profile {profile!r} uses failback: auto: it returns to its preferred endpoint by itself "
                "once that endpoint has been Online for failback_hold; there is nothing to do"
            )
        saved = await self._act(
            profile, f"the failback of {profile}", self.engine.request_failback(profile), None
        )
        return f"failback requested for {profile} ({saved}); {self._decision_text(profile)}"

    async def resync_now(self) -> str:
        """`dnsctl resync`: re-read what is published and correct drift now, not at the next resync."""
        raise OperatorConflict("this controller publishes nothing it could re-read")

    def _decision_text(self, profile: str) -> str:
        d = self.engine.states[profile].decision
        if d is None:
            return "no decision yet"
        return f"now -> {', '.join(d.endpoints) or d.fallback}: {d.reason}"
