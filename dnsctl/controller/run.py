"""`dnsctl run`: the long-running controller that keeps Azure Private DNS records on the decisions.

A decision change reconciles its profile at once (failover costs probe rounds plus one write);
a periodic resync re-reads every zone, reports drift and puts owned records back. Only the
lease holder writes; standbys probe and keep warm state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from dnsctl.controller.base import ControllerBase
from dnsctl.controller.lease import Lease, NoLease
from dnsctl.controller.metrics import Metrics
from dnsctl.core.plan import Action, Change, Published, ReadRecord, RecordValue
from dnsctl.core.state import DecisionChange
from dnsctl.engine import Engine
from dnsctl.errors import TargetError
from dnsctl.reconcile import Report, StateFile, azure_profiles, converge, restore_states
from dnsctl.render import change_doc, iso
from dnsctl.targets.base import Outcome, Target

log = logging.getLogger("dnsctl.run")


class RunController(ControllerBase):
    def __init__(
        self,
        engine: Engine,
        target: Target,
        *,
        lease: Lease | None = None,
        state_file: StateFile | None = None,
        metrics: Metrics | None = None,
        force: bool = False,
    ) -> None:
        super().__init__(engine, state_file=state_file, metrics=metrics)
        self.target = target
        self.lease: Lease = lease or NoLease()
        self.force = force
        self.write_lock = asyncio.Lock()
        self.published: dict[str, Published] = {}
        self.written: dict[str, RecordValue] = {}  # what this controller last wrote, to tell drift
        self.consecutive_errors = 0
        self.last_success: float | None = None
        self.last_report: Report | None = None
        self._backoff: dict[str, float] = {}  # profile -> seconds until its failed write is tried again
        self._lease_errors_counted = 0
        self.last_error: str | None = None  # the last reconcile's problem, until one succeeds

    async def start(self) -> None:
        """Restore the health history before the first probe, so that a restart never flips DNS."""
        try:
            self.published = dict(await self.target.read(azure_profiles(self.spec)))
        except TargetError as e:
            log.error("cannot read the zones at start (%s); starting without stored history", e)
        stored = self.state_file.load() if self.state_file is not None else {}
        self.engine.states = restore_states(self.spec, self.published, stored, self.engine.clock.now())
        await self.lease.start()
        self._observe_lease()
        self.scheduler.start()
        self.scheduler.add_job(self.resync, self.spec.resync_interval, "resync")
        self.scheduler.add_job(self._lease_tick, max(1.0, self.lease.renew_every), "lease")

    async def stop(self) -> None:
        """Stop scheduling, let an in-flight write finish, release the lease."""
        self.scheduler.shutdown()
        async with self.write_lock:
            await self.lease.release()
            self.metrics.leader.set(0)
        await self.target.close()

    async def _lease_tick(self) -> None:
        was = self.lease.held
        held = await self.lease.renew()
        self._observe_lease()
        if held and not was:
            log.warning("this replica now holds the lease and writes DNS; converging every profile")
            await self.reconcile(None)
        elif was and not held:
            log.error("lost the lease: this replica stops writing DNS")

    def _observe_lease(self) -> None:
        self.metrics.leader.set(1 if self.lease.held else 0)
        new_errors = self.lease.errors - self._lease_errors_counted
        if new_errors > 0:
            self.metrics.lease_errors.inc(new_errors)
        self._lease_errors_counted = self.lease.errors

    async def on_decisions(self, profile: str, changes: list[DecisionChange]) -> None:
        if any(c.view is None for c in changes):
            await self.reconcile([profile])

    async def resync(self) -> None:
        await self.reconcile(None, resync=True)

    async def reconcile(self, profiles: list[str] | None, *, resync: bool = False) -> Report | None:
        async with self.write_lock:
            if not self.lease.held_now():
                return None
            report = await converge(
                self.engine,
                self.target,
                profiles=profiles,
                force=self.force,
                in_metadata=self.state_file is None,
            )
            self._record(report, resync, profiles or [p.name for p in azure_profiles(self.spec)])
            return report

    def _record(self, report: Report, resync: bool, attempted: list[str]) -> None:
        self.last_report = report
        self.published.update(report.published)
        if resync:
            self._report_drift(report)
        self.metrics.observe_writes(report.results)
        for r in report.results:
            if r.outcome is Outcome.APPLIED:
                self._remember(r.change, r.etag)
        for problem in report.refused:
            log.error("refused: %s", problem)
        for e in report.errors:
            log.error("reconcile failed: %s", e)
        failed = report.errors or any(r.outcome is not Outcome.APPLIED for r in report.results)
        self._schedule_retries(report, attempted)
        if failed:
            self.consecutive_errors += 1
            self.last_error = _first_problem(report)
        else:
            self.last_error = None
            self.consecutive_errors = 0
            self.last_success = time.time()
            self.metrics.last_reconcile.set(self.last_success)
        self.metrics.reconcile_errors.set(self.consecutive_errors)

    def _schedule_retries(self, report: Report, attempted: list[str]) -> None:
        """A failed write is tried again soon (not at the next resync), backing off up to resync_interval.

        Each try costs a zone read, so the backoff doubles: Azure allows about 500 reads per 5 minutes.
        """
        failed = {r.change.profile for r in report.results if r.outcome is not Outcome.APPLIED}
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
            self.written[change.profile] = change.after
        self.published[change.profile] = Published(change.name, records)

    def _report_drift(self, report: Report) -> None:
        for name, pub in report.published.items():
            profile = self.spec.profile(name)
            assert profile.azure is not None
            rec = pub.of(profile.azure.record_type)
            wrote = self.written.get(name)
            if rec is None or wrote is None or rec.value == wrote:
                continue
            owned = rec.owner is not None
            self.metrics.drift.labels(name, "true" if owned else "false").inc()
            if owned:
                log.warning(
                    "drift: %s was changed outside dnsctl (%s, expected %s); putting it back",
                    pub.name,
                    rec.value,
                    wrote,
                )
            else:
                log.warning(
                    "drift: %s is no longer managed by dnsctl (%s); reporting only", pub.name, rec.value
                )

    def ready(self) -> tuple[bool, str]:
        trouble = self.lease.trouble()
        if trouble is not None:
            return False, f"lease: {trouble}"
        ok, why = super().ready()
        if not ok:
            return ok, why
        return True, f"{why}; {'leader' if self.lease.held else 'standby'}"

    def status(self) -> dict[str, Any]:
        doc = super().status()
        doc["leadership"] = {
            "held": self.lease.held,
            "writing": self.lease.held_now(),
            "kind": self.lease.kind,
            "holder": self.lease.identity,
            "errors": self.lease.errors,
            "last_error": self.lease.last_error or None,
        }
        doc["last_error"] = self.last_error
        doc["last_successful_reconcile"] = iso(self.last_success)
        doc["consecutive_errors"] = self.consecutive_errors
        for p in doc["profiles"]:
            pub = self.published.get(p["name"])
            profile = self.spec.profile(p["name"])
            if pub is None or profile.azure is None:
                p["published"] = None
                continue
            rec = pub.of(profile.azure.record_type)
            p["published"] = {
                "record": pub.name,
                "value": str(rec.value) if rec else None,
                "etag": rec.etag if rec else None,
                "managed": rec.owner is not None if rec else None,
            }
        if self.last_report is not None:
            doc["last_plan"] = [change_doc(c) for c in self.last_report.plan.changes]
        return doc


def _first_problem(report: Report) -> str:
    if report.errors:
        return report.errors[0]
    for r in report.results:
        if r.outcome is not Outcome.APPLIED:
            hint = f"; {r.hint}" if r.hint else ""
            return f"{r.change.profile}: {r.change.name}: {r.outcome.value} ({r.error or 'no detail'}){hint}"
    return "unknown"
