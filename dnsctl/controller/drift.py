"""Drift of the Azure records `dnsctl run` writes: what each owned record should hold, and who changed it.

`Drift` is the one owner of that expectation: the value last read or written, or at start what the
stored decision requires. A read that holds neither it nor what the decision now requires is drift:
it is logged, counted, notified and shown in /status; a record found edited while dnsctl was stopped
is put back after its profile's first probe round (`due`), not at the next resync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from dnsctl.controller import notify
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.notify import Notification
from dnsctl.core.decision import Decision
from dnsctl.core.intent import Intent
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.plan import Published, ReadRecord, RecordValue, desired_value
from dnsctl.documents.jsonable import iso
from dnsctl.documents.status import DriftDoc
from dnsctl.process.clock import Clock
from dnsctl.process.state_store import Loaded

log = logging.getLogger("dnsctl.run")


def ours(d: Decision) -> bool:
    """Whether the decision says what the record holds (keep-last keeps dnsctl's last answer)."""
    return not d.keep_current or d.last_answer


class Drift:
    def __init__(
        self, spec: DnsctlSpec, clock: Clock, metrics: Metrics, tell: Callable[[Notification], None]
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.metrics = metrics
        self.tell = tell
        # What each owned record holds unless someone edits it. A read that differs from it is drift.
        self.expected: dict[str, RecordValue] = {}
        self.found: dict[str, DriftDoc] = {}  # the last drift seen per profile, for /status
        # Profiles whose record was found edited while dnsctl was stopped: put back after their first
        # probe round (a decision that stays the same would otherwise wait for the next resync).
        self.put_back: set[str] = set()

    def start(self, published: Mapping[str, Published], loaded: Loaded) -> None:
        """Expect what the records hold now; report those that do not hold their own stored decision."""
        self.expected = {}
        self.put_back = set()
        for p in self.spec.profiles:
            pub = published.get(p.name)
            if p.publication is None or pub is None:
                continue
            rec = pub.of(p.publication.record_type)
            if rec is None or rec.owner is None:
                continue
            self.expected[p.name] = rec.value
            stored = loaded.states.get(p.name)
            d = stored.decision if stored is not None else None
            if d is None or not ours(d):
                continue
            want = desired_value(p, d)
            if not want.values or (want.type, want.values) == (rec.value.type, rec.value.values):
                continue
            if loaded.in_records:
                # The history is written together with the value: a record that does not point where its
                # own stored decision does was changed by someone else while dnsctl was not running.
                self._report(p.name, pub.name, rec, want, put_back=True, while_stopped=True)
            else:
                # A state file is saved before the write: the last write did not land (the process
                # stopped in between, or the server lost it). It is written after the first probe round.
                log.warning(
                    "%s holds %s, not %s as decided before the restart: the last write did not land; "
                    "writing it after the first probe round",
                    pub.name,
                    rec.value,
                    want,
                )
            self.put_back.add(p.name)

    def due(self, probed: Iterable[str]) -> set[str]:
        """The records found edited at start whose profiles have now been probed: put them back now."""
        now = self.put_back.intersection(probed)
        self.put_back -= now
        return now

    def wrote(self, profile: str, value: RecordValue) -> None:
        """dnsctl's own write: the record holds `value` now."""
        self.expected[profile] = value

    def check(self, published: Mapping[str, Published], intents: Mapping[str, Intent]) -> None:
        """Report records changed by someone else, before the plan puts owned ones back."""
        for name, pub in published.items():
            profile = self.spec.profile(name)
            assert profile.publication is not None
            rec = pub.of(profile.publication.record_type)
            expected = self.expected.get(name)
            if expected is None:
                if rec is not None and rec.owner is not None:
                    self.expected[name] = rec.value
                continue
            wanted = intents.get(name)
            d = wanted.decision if wanted is not None else None
            required = desired_value(profile, d) if d is not None and ours(d) else None
            if rec is not None and rec.owner is not None and rec.value in (expected, required):
                self.expected[name] = rec.value
                continue
            self._report(name, pub.name, rec, expected, put_back=d is not None and ours(d))

    def _report(
        self,
        name: str,
        record: str,
        rec: ReadRecord | None,
        expected: RecordValue,
        *,
        put_back: bool,
        while_stopped: bool = False,
    ) -> None:
        owned = rec is not None and rec.owner is not None
        self.metrics.drift.labels(name, "true" if owned or rec is None else "false").inc()
        found = str(rec.value) if rec is not None else "(deleted)"
        self.found[name] = DriftDoc(
            at=iso(self.clock.now()), record=record, found=found, expected=str(expected), owned=owned
        )
        self.tell(notify.drift(name, record, found, str(expected), owned, self.clock.now()))
        if rec is not None and not owned:
            log.warning("drift: %s is no longer managed by dnsctl (%s); reporting only", record, rec.value)
            self.expected.pop(name, None)
            return
        log.warning(
            "drift: %s was changed outside dnsctl%s (%s, expected %s)%s",
            record,
            " while it was not running (or a configuration change moved its target)" if while_stopped else "",
            found,
            expected,
            "; putting it back" if put_back else "",
        )
        if rec is not None:
            self.expected[name] = rec.value  # said once; the put-back write updates it again
        else:
            self.expected.pop(name, None)
