"""`dnsctl run`: the long-running controller that keeps Azure Private DNS records on the decisions.

Nothing is written before the records and their stored state have been read: a restart during
an Azure outage keeps retrying the read (with backoff, not ready, saying why) instead of starting
fresh, so a stored drain, a manual failback or a running failback_hold is never overwritten.

Decisions are written by the zone (`controller/zone_writes.py`), failovers first; a periodic
resync re-reads every zone, reports drift and puts owned records back. Drift (`controller/drift.py`)
is a record that holds neither what dnsctl last saw or wrote nor what the decision requires. Only the
lease holder writes; standbys probe and keep warm state, and read the stored state again when
they take over.

An operator action is acknowledged once its state is in the record's metadata: when the decision
does not change, that is a conditional (etag) write of the metadata alone, logged as a state write,
not a DNS change. A standby refuses operator actions and names the lease holder: it could not save
them, and the holder would never hear of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from dnsctl.controller import notify
from dnsctl.controller.base import ControllerBase
from dnsctl.controller.drift import Drift
from dnsctl.controller.lease import Lease, NoLease
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.reconcile import RecordPublisher, first_problem, published_profiles, state_saved
from dnsctl.controller.reports import Report, ReportError
from dnsctl.controller.vantage import Vantage
from dnsctl.controller.zone_writes import Take, ZoneWrites
from dnsctl.core.intent import Intent
from dnsctl.core.plan import Action, Change, Plan, Published, ReadRecord
from dnsctl.core.state import ProfileState
from dnsctl.documents.jsonable import ABSENT, iso
from dnsctl.documents.status import LeadershipDoc, PublishedDoc, StatusDoc, change_doc
from dnsctl.engine import Batch, Engine
from dnsctl.errors import NotReadyError, OperatorActionFailed, OperatorConflict, StandbyError, TargetError
from dnsctl.process.state_store import MetadataStore, StateStore
from dnsctl.targets.base import Outcome, Target

log = logging.getLogger("dnsctl.run")
audit = logging.getLogger("dnsctl.audit")

# Seconds between attempts to read the stored state at start: doubling up to the cap.
READ_BACKOFF = (1.0, 30.0)


class RunController(ControllerBase):
    def __init__(
        self,
        engine: Engine,
        target: Target,
        *,
        lease: Lease | None = None,
        store: StateStore | None = None,
        metrics: Metrics | None = None,
        force: bool = False,
        read_backoff: tuple[float, float] = READ_BACKOFF,
        vantage: Vantage | None = None,  # `--site`: this process is that site's vantage
    ) -> None:
        super().__init__(engine, store=store or MetadataStore(), metrics=metrics, vantage=vantage)
        self.target = target
        self.lease: Lease = lease or NoLease()
        self.force = force
        self.read_backoff = read_backoff
        self.write_lock = asyncio.Lock()
        self.published: dict[str, Published] = {}
        self.records = RecordPublisher(self.spec, target, self.store, force=force)
        self.drift = Drift(self.spec, self.clock, self.metrics, self.notify)
        self.consecutive_errors = 0
        self.last_success: float | None = None
        self.last_report: Report | None = None
        self._backoff: dict[str, float] = {}  # profile -> seconds until its failed write is tried again
        self._lease_errors_counted = 0
        self.last_error: str | None = None  # the last reconcile's problem, until one succeeds
        self._reader: asyncio.Task[None] | None = None
        self._scheduled = False
        self.zones = ZoneWrites(self.spec, target, self.clock, self._check_drift, self.scheduler.once)

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the records and their stored state before the first probe: a restart never flips DNS."""
        await self.lease.start()
        self._observe_lease()
        self.scheduler.start()
        self.scheduler.add_job(self._lease_tick, max(1.0, self.lease.renew_every), "lease")
        if not await self._read_stored():
            self._reader = asyncio.create_task(self._read_until_done(converge_after=False))

    async def stop(self) -> None:
        """Stop scheduling, let an in-flight write finish, release the lease."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.scheduler.shutdown()
        async with self.write_lock:
            await self.lease.release()
            self.metrics.leader.set(0)
        self.persist(self.engine.snapshot())
        await self.target.close()

    async def _read_stored(self) -> bool:
        """One attempt to read the records and the stored state; on success the engine is restored."""
        self.target.begin_pass()
        try:
            published = dict(await self.target.read(published_profiles(self.spec)))
        except TargetError as e:
            self.metrics.state_read_errors.inc()
            self.unread_reason = f"reading the records failed: {e}"
            log.error(
                "cannot read the records and their stored state (%s); writing nothing until they are read",
                e,
            )
            return False
        loaded = self.restore(published)
        self.published = published
        self.records.take(Batch(self.engine.snapshot(), full=True))
        self.drift.start(published, loaded)
        log.info(
            "read the records and their stored state: %d of %d profile(s) restored with history",
            len(loaded.states),
            len(self.spec.profiles),
        )
        if not self._scheduled:
            self._scheduled = True
            self.scheduler.add_probes()
            self.scheduler.add_job(self.resync, self.spec.resync_interval, "resync")
        return True

    async def _read_until_done(self, *, converge_after: bool) -> None:
        delay, cap = self.read_backoff
        while True:
            log.warning("trying to read the records again in %.0fs", delay)
            await self.clock.sleep(delay)
            try:
                done = await self._read_stored()
            except Exception:
                # A bug must not end the retries silently: nothing would ever be written again.
                log.exception("reading the stored state failed unexpectedly")
                done = False
            if done:
                if converge_after:
                    await self.reconcile(None)
                return
            delay = min(delay * 2, cap)

    async def _lease_tick(self) -> None:
        was = self.lease.held
        held = await self.lease.renew()
        self._observe_lease()
        if held and not was:
            log.warning("this replica now holds the lease and writes DNS; reading the stored state first")
            # The previous holder's drains and holds are in the stored state, not in this replica's.
            if self._reader is not None and not self._reader.done():
                return  # the start-up read is still trying; it covers this
            self.unread("took the lease over: reading the stored state again")
            if await self._read_stored():
                await self.reconcile(None)
            else:
                self._reader = asyncio.create_task(self._read_until_done(converge_after=True))
        elif was and not held:
            log.error("lost the lease: this replica stops writing DNS")
            self.notify(notify.lease_lost(self.clock.now()), even_standby=True)

    def notifying(self) -> bool:
        return self.lease.held_now()  # a standby's decisions are not the ones written

    def _observe_lease(self) -> None:
        self.metrics.leader.set(1 if self.lease.held else 0)
        new_errors = self.lease.errors - self._lease_errors_counted
        if new_errors > 0:
            self.metrics.lease_errors.inc(new_errors)
        self._lease_errors_counted = self.lease.errors

    # --- decisions ----------------------------------------------------------------------------

    @property
    def intents(self) -> dict[str, Intent]:
        return self.records.intents

    async def publish(self, batch: Batch) -> None:
        # A drift found at start is put back as soon as the profile has been probed, not at the resync.
        changed = set(self.records.take(batch)) | self.drift.due(batch.probed)
        if changed and await self.zones.window(changed):  # the first of a window writes the window's
            await self.reconcile(None, Take.QUEUED)

    async def resync(self) -> None:
        await self.reconcile(None)

    async def resync_now(self) -> str:
        """`dnsctl resync`: the periodic resync now (re-read every zone, report drift, put records back)."""
        if not self.state_read:
            raise NotReadyError(f"not yet: {self.unread_reason}; try again once /readyz says ready")
        if not self.lease.held_now():
            raise OperatorConflict(
                "this replica is a standby: another replica holds the lease and writes; "
                "run resync against the leader"
            )
        seen = dict(self.drift.found)
        report = await self.reconcile(None)
        if report is None:
            raise NotReadyError("not now: the state is being read again or the lease was just lost")
        drifted = sorted(n for n, d in self.drift.found.items() if seen.get(n) is not d)
        applied = [r for r in report.results if r.outcome is Outcome.APPLIED and r.change.changes_dns]
        parts = [f"re-read {len(published_profiles(self.spec))} record(s)"]
        parts.append(f"drift found: {', '.join(drifted)}" if drifted else "no drift")
        parts.append(f"{len(applied)} change(s) applied")
        if report.failed or report.refused:
            problem = first_problem(report) if report.failed else str(report.refused[0])
            raise OperatorActionFailed(f"resync did not converge: {problem}")
        return "; ".join(parts)

    async def reconcile(self, profiles: list[str] | None, take: Take = Take.NONE) -> Report | None:
        async with self.write_lock:
            profiles = self.zones.take(take, profiles)  # a window's decisions, or the writes held back
            if not self.state_read or not self.lease.held_now() or profiles == []:
                return None
            chosen = [p for p in published_profiles(self.spec) if profiles is None or p.name in profiles]
            self.target.begin_pass()
            try:
                published = await self.zones.listing(chosen, self.published, take)
            except TargetError as e:
                report = Report(
                    Plan(()), errors=[ReportError(f"{e} ({e.hint})" if e.hint else str(e), e.transient)]
                )
            else:
                report = await self.records.write(
                    [p.name for p in chosen],
                    published=published,
                    guard=self.lease,  # every write, and every wait before one, within the lease
                    observe=self._check_drift,  # a 412's re-read may find someone else's value
                )
            self._record(report, [p.name for p in chosen])
            if self.history_in_records:
                self.saved([p.name for p in chosen if self._state_saved(report, p.name) is None])
            return report

    def _record(self, report: Report, attempted: list[str]) -> None:
        self.last_report = report
        self.published.update(report.published)
        self.metrics.observe_writes(report.results)
        for r in report.results:
            if r.outcome is Outcome.APPLIED:
                self._remember(r.change, r.etag)
        for problem in report.refused:
            log.error("refused: %s", problem)
        for e in report.errors:
            log.error("reconcile failed: %s", e)
        self._schedule_retries(report, attempted)
        if report.failed:
            self.consecutive_errors += 1
            self.last_error = first_problem(report)
        else:
            self.last_error = None
            self.consecutive_errors = 0
            self.last_success = self.clock.now()
            self.metrics.last_reconcile.set(self.last_success)
        self.metrics.reconcile_errors.set(self.consecutive_errors)

    def _schedule_retries(self, report: Report, attempted: list[str]) -> None:
        """A failed write is tried again soon (not at the next resync), backing off up to resync_interval.

        Each try costs a zone read, so the backoff doubles: Azure allows about 500 reads per 5 minutes.
        """
        failed = {r.change.profile for r in report.results if r.outcome is not Outcome.APPLIED}
        failed -= self.zones.hold(report.results, self.reconcile)  # held back: not failed
        if report.errors:
            failed.update(attempted)
        for name in attempted:
            if name not in failed:
                self._backoff.pop(name, None)
                continue
            interval = self.spec.profile(name).monitor.interval
            delay = min(self._backoff.get(name, interval / 2) * 2, self.spec.resync_interval)
            self._backoff[name] = delay
            log.warning("profile %s: trying the write again in %.0fs", name, delay)
            self.scheduler.once(self.reconcile, delay, f"retry:{name}", [name])

    def _remember(self, change: Change, etag: str | None) -> None:
        """What is published now, after our own write (the read before it is stale)."""
        pub = self.published.get(change.profile)
        records = dict(pub.records) if pub is not None else {}
        if change.action is Action.DELETE:
            if change.before is not None:
                records.pop(change.before.type, None)
        elif change.after is not None:
            records[change.after.type] = ReadRecord(change.after, etag, dict(change.metadata or {}))
            self.drift.wrote(change.profile, change.after)
        self.published[change.profile] = Published(change.name, records)

    def _check_drift(self, published: Mapping[str, Published]) -> None:
        self.drift.check(published, self.intents)

    # --- operator actions ---------------------------------------------------------------------

    async def _check_writer(self, action: str) -> None:
        if self.lease.held:
            return
        leader = await self.lease.leader()
        where = f"the leader is {leader}" if leader else "the leader is not known here"
        raise StandbyError(
            f"this instance ({self.lease.identity}) is a standby and does not take operator actions; "
            f"{where}: send the {action} there"
        )

    async def save_action(self, profile: str, check: Callable[[ProfileState], bool] | None) -> str | None:
        """Write the action's state into the record's metadata now, even if the DNS value stays."""
        problem = await super().save_action(profile, check)
        if problem is not None or not self.history_in_records:
            return problem
        if self.spec.profile(profile).publication is None:
            return "the profile has no Azure record to keep its state with"
        report = await self.reconcile([profile])
        if report is None:
            return "this replica is not writing now (the lease is not held, or not with a safe margin)"
        problem = self._state_saved(report, profile, check)
        if problem is not None:
            return problem
        for r in report.results:
            c = r.change
            if c.profile == profile and r.outcome is Outcome.APPLIED and c.action is Action.STATE:
                audit.info(
                    "state write: profile=%s record=%s reason=operator action etag=%s (DNS value unchanged)",
                    c.profile,
                    c.name,
                    r.etag or "-",
                    extra={
                        "audit": {
                            "profile": c.profile,
                            "record": c.name,
                            "state_write": True,
                            "reason": "operator action",
                            "etag": r.etag,
                        }
                    },
                )
        return None

    def _state_saved(
        self, report: Report, profile: str, check: Callable[[ProfileState], bool] | None = None
    ) -> str | None:
        return state_saved(self.spec, report, self.published, profile, check)

    # --- admin --------------------------------------------------------------------------------

    def ready(self) -> tuple[bool, str]:
        trouble = self.lease.trouble()
        if trouble is not None:
            return False, f"lease: {trouble}"
        ok, why = super().ready()
        if not ok:
            return ok, why
        return True, f"{why}; {'leader' if self.lease.held else 'standby'}"

    def status(self) -> StatusDoc:
        doc = super().status()
        profiles = []
        for p in doc.profiles:
            pub = self.published.get(p.name)
            profile = self.spec.profile(p.name)
            published: PublishedDoc | None = None
            if pub is not None and profile.publication is not None:
                rec = pub.of(profile.publication.record_type)
                published = PublishedDoc(
                    record=pub.name,
                    value=str(rec.value) if rec else None,
                    etag=rec.etag if rec else None,
                    managed=rec.owner is not None if rec else None,
                )
            profiles.append(replace(p, drift=self.drift.found.get(p.name), published=published))
        return replace(
            doc,
            profiles=tuple(profiles),
            leadership=LeadershipDoc(
                held=self.lease.held,
                writing=self.lease.held_now() and self.state_read,  # nothing is written before the read
                kind=self.lease.kind,
                holder=self.lease.identity,
                errors=self.lease.errors,
                last_error=self.lease.last_error or None,
            ),
            last_error=self.last_error,
            last_successful_reconcile=iso(self.last_success),
            consecutive_errors=self.consecutive_errors,
            last_plan=(
                tuple(change_doc(c) for c in self.last_report.plan.changes)
                if self.last_report is not None
                else ABSENT
            ),
        )
