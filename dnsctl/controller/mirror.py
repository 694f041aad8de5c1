"""`dnsctl mirror`: the node agent that keeps container runtime mirror configuration in health order.

The same engine, schedule, hysteresis and operator actions as `run`; instead of a DNS record it keeps
containerd's `hosts.toml` (and a CRI-O drop-in) for each profile's global name, listing the replicas
this node can reach in the order routing prefers. A change of the Online set re-renders the files even
when the decision itself stays (a second mirror that went down must leave the list too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from prometheus_client import Counter

from dnsctl.controller.base import ControllerBase
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.reports import MirrorReport, file_doc
from dnsctl.core.intent import degraded
from dnsctl.core.mirror import MirrorOrder, mirror_order
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.state import ProfileState
from dnsctl.documents.status import StatusDoc
from dnsctl.engine import Batch, Engine
from dnsctl.errors import NotReadyError
from dnsctl.process.state_store import Keeper, StateStore
from dnsctl.targets.mirror_files import FileResult, MirrorFiles, WriteOutcome

log = logging.getLogger("dnsctl.mirror")
audit = logging.getLogger("dnsctl.audit")

# How long `stop()` waits for a file write still running (a hung disk) before it stops without it.
STOP_WAIT = 10.0

T = TypeVar("T")


async def _in_daemon_thread(work: Callable[[], T]) -> T:
    """`work()` in a thread of its own that never holds up the process's exit (the default executor's
    threads are joined at exit: a write stuck in the kernel would keep a stopped agent alive)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as e:  # handed to the awaiting task
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="dnsctl-mirror-write", daemon=True).start()
    return await done


def build_files(spec: DnsctlSpec) -> MirrorFiles:
    return MirrorFiles(spec.mirror.containerd_hosts_dir, spec.mirror.crio_registries_dir)


def _orders(
    spec: DnsctlSpec, states: Mapping[str, ProfileState], names: Sequence[str] | None
) -> list[tuple[ProfileSpec, MirrorOrder | None]]:
    return [(p, mirror_order(p, states[p.name])) for p in spec.profiles if names is None or p.name in names]


def _write(files: MirrorFiles, work: list[tuple[ProfileSpec, MirrorOrder]]) -> list[FileResult]:
    out: list[FileResult] = []
    for profile, order in work:
        out.extend(files.sync(profile, order))
    return out


def _said(setting: str, value: str) -> str:
    # "(set)" and "(absent)" follow a space, not "=": the log mask would read `authorization=(set)` as a
    # credential and mangle the line.
    return f"{setting} {value}" if value.startswith("(") else f"{setting}={value}"


def report_results(results: Sequence[FileResult], reasons: dict[str, str]) -> None:
    """Audit every write, log refusals and failures (once per caller's call)."""
    for r in results:
        if r.outcome is WriteOutcome.WRITTEN:
            reason = reasons.get(r.profile, "")
            before = ",".join(r.before) if r.before is not None else "-"
            after = ",".join(r.hosts) or "(none)"
            if r.edits:
                # The file had been edited by hand: what it said, and what dnsctl put back.
                before += " (edited: " + "; ".join(_said(e.setting, e.before) for e in r.edits) + ")"
                after += " (" + "; ".join(_said(e.setting, e.after) for e in r.edits) + ")"
                reason += "; the file had been edited: put back"
            audit.info(
                "mirror change: profile=%s runtime=%s file=%s before=%s after=%s reason=%s",
                r.profile,
                r.runtime.value,
                r.path,
                before,
                after,
                reason,
                extra={
                    "audit": {
                        "profile": r.profile,
                        "runtime": r.runtime.value,
                        "file": str(r.path),
                        "before": list(r.before) if r.before is not None else None,
                        "after": list(r.hosts),
                        "edits": [
                            {"setting": e.setting, "before": e.before, "after": e.after} for e in r.edits
                        ],
                        "reason": reason,
                    }
                },
            )
        elif r.outcome is WriteOutcome.REFUSED:
            log.error("refused: %s: %s: %s", r.profile, r.path, r.error)
        elif r.outcome is WriteOutcome.FAILED:
            log.error("%s: cannot write %s: %s", r.profile, r.path, r.error)


def files_not_kept(last: Mapping[str, Sequence[FileResult]]) -> str | None:
    """A readiness reason naming the files the last writes refused or failed, or None."""
    stuck = [
        f"{r.profile}: {r.path}: {r.error}"
        for results in last.values()
        for r in results
        if r.outcome in (WriteOutcome.REFUSED, WriteOutcome.FAILED)
    ]
    return "mirror files not kept: " + "; ".join(stuck) if stuck else None


def _names(batch: Batch) -> list[str] | None:
    """The profiles whose files a batch asks for (None: every one).

    Every profile for a full batch, and for an operator action (a batch without probes): the Online
    set may change without a decision change. Else the profiles the pass touched.
    """
    if batch.full or not batch.probed:
        return None
    return batch.touched()


async def publish_files(
    spec: DnsctlSpec, files: MirrorFiles, batch: Batch
) -> tuple[list[FileResult], list[str]]:
    """Bring the files to the batch's decisions (the one hand-over); returns results and waiting."""
    orders = _orders(spec, batch.states, _names(batch))
    work = [(p, o) for p, o in orders if o is not None]
    waiting = [p.name for p, o in orders if o is None]
    return await write_orders(files, work), waiting


async def write_orders(files: MirrorFiles, work: list[tuple[ProfileSpec, MirrorOrder]]) -> list[FileResult]:
    """Write each profile's files in `work`'s order, audit and report (the one writer path: probing
    agents and agents following their site's decision from the exchange alike)."""
    # fsync may take a while on a busy node: off the event loop.
    results = await _in_daemon_thread(lambda: _write(files, work))
    report_results(results, {p.name: o.reason for p, o in work})
    return results


async def mirror_once(engine: Engine, files: MirrorFiles, store: StateStore | None = None) -> MirrorReport:
    """`dnsctl mirror --once`: restore the history, probe (until verdicts, bounded), keep, write, report."""
    spec = engine.spec
    engine.load(store)
    outcome = await engine.until_verdicts(await engine.round())
    Keeper(store).save(spec, outcome.states)
    results, waiting = await publish_files(spec, files, Batch.of(outcome, full=True))
    return MirrorReport(
        results=results,
        waiting=waiting,
        degraded=[p.name for p in spec.profiles if degraded(p, outcome.states[p.name])],
        isolated=outcome.isolated,
    )


class MirrorController(ControllerBase):
    def __init__(
        self,
        engine: Engine,
        files: MirrorFiles,
        *,
        store: StateStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(engine, store=store, metrics=metrics)
        self.files = files
        self.write_lock = asyncio.Lock()
        self.last: dict[str, list[FileResult]] = {}
        self.mirror_writes = Counter(
            "dnsctl_mirror_writes",
            "Runtime mirror file syncs that wrote, refused or failed",
            ["profile", "runtime", "outcome"],
            registry=self.registry,
        )

    async def start(self) -> None:
        # A state file never stops the agent: a bad one is moved aside and reported by the store.
        self.restore({})
        self.scheduler.start()
        self.scheduler.add_probes()

    async def stop(self) -> None:
        self.scheduler.shutdown()
        try:
            await asyncio.wait_for(self.write_lock.acquire(), STOP_WAIT)
        except TimeoutError:
            log.error("a mirror file write is still running after %.0f s; stopping without it", STOP_WAIT)
            self.persist(self.engine.snapshot())
            return
        try:
            self.persist(self.engine.snapshot())
        finally:
            self.write_lock.release()

    def ready(self) -> tuple[bool, str]:
        ready, why = super().ready()
        if not ready:
            return ready, why
        stuck = files_not_kept(self.last)
        if stuck:
            return False, stuck
        return True, why

    async def publish(self, batch: Batch) -> None:
        await self.sync(batch)

    async def sync(self, batch: Batch) -> list[FileResult]:
        async with self.write_lock:
            results, _ = await publish_files(self.spec, self.files, batch)
        return self.kept(results)

    def kept(self, results: list[FileResult]) -> list[FileResult]:
        """Count the writes and remember each profile's last results (status, readiness)."""
        for r in results:
            if r.outcome is not WriteOutcome.UNCHANGED:
                self.mirror_writes.labels(r.profile, r.runtime.value, r.outcome.value).inc()
        by_profile: dict[str, list[FileResult]] = {}
        for r in results:
            by_profile.setdefault(r.profile, []).append(r)
        self.last.update(by_profile)
        return results

    async def resync_now(self) -> str:
        """Re-read every mirror file and write back the ones that differ from the decisions."""
        if not self.state_read:
            raise NotReadyError(f"not yet: {self.unread_reason}; try again once /readyz says ready")
        results = await self.sync(Batch(self.engine.snapshot(), full=True))
        if not results:
            return "no file to re-read yet: no profile has verdicts"
        said = ", ".join(f"{r.path} ({r.outcome.value})" for r in results)
        return f"re-read {len(results)} file(s): {said}"

    def status(self) -> StatusDoc:
        doc = super().status()
        profiles = tuple(
            replace(p, mirror_files=tuple(file_doc(r, with_profile=False) for r in self.last.get(p.name, [])))
            for p in doc.profiles
        )
        return replace(doc, profiles=profiles)
