"""The scenarios: inject a fault into the replicas (or the servers), watch what every server answers.

Every repetition starts from the same place: all replicas up, dnsctl restarted with no health history
(so that flap damping from an earlier repetition never leaks into the next), every server answering the
preferred replica (eastus, 127.0.0.2) for a while, then a random wait so that the fault lands at a
random phase of every probe schedule. That wait spans two whole mean probe periods of dnsctl: the
settling ends at a fixed offset from dnsctl's first round, so a wait of one plain interval (shorter than
the mean period, which APScheduler's 0-10% jitter stretches to 1.05 intervals) would favour faults just
after a round, and overstate dnsctl's times by about 0.1 s.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from failover_lib.querier import NO_ANSWER, Observation, Querier
from failover_lib.servers import DnsctlServe, PowerDns, Replicas

PREFERRED, SECOND = "eastus", "westeurope"
SETTLE = 2.0  # seconds every server must have answered the preferred replica before a fault
WINDOW = 20.0  # seconds a failover may take before it counts as missed
TAIL = 1.0  # seconds watched after the last server switched, to see a switch back
MEAN_PERIOD = 1.05  # dnsctl's mean probe period in intervals: APScheduler adds 0-10% to each one


class Server(Protocol):
    label: str

    def started(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


@dataclass
class Sample:
    """One server in one repetition: a time in seconds or a count (None: it never happened)."""

    value: float | None
    note: str = ""
    timeline: list[tuple[float, str]] = field(default_factory=list)  # answer changes, seconds after the fault
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    scenario: str
    server: str
    unit: str
    samples: list[Sample] = field(default_factory=list)
    extra: dict[str, list[object]] = field(default_factory=dict)


def timeline(observations: Sequence[Observation], before: str | None, t0: float) -> list[tuple[float, str]]:
    changes: list[tuple[float, str]] = []
    previous = before
    for o in observations:
        if o.answer != previous:
            changes.append((round(o.received - t0, 3), o.answer))
            previous = o.answer
    return changes


class Lab:
    def __init__(
        self,
        replicas: Replicas,
        pdns: PowerDns,
        dnsctl: Sequence[DnsctlServe],
        querier: Querier,
        rng: random.Random,
    ) -> None:
        self.replicas = replicas
        self.pdns = pdns
        self.dnsctl = list(dnsctl)
        self.querier = querier
        self.rng = rng
        self.rows: dict[tuple[str, str], Row] = {}

    @property
    def servers(self) -> list[str]:
        return [self.pdns.label, *(d.label for d in self.dnsctl)]

    def address(self, region: str) -> str:
        return self.replicas.address(region)

    def row(self, scenario: str, server: str, unit: str) -> Row:
        return self.rows.setdefault((scenario, server), Row(scenario, server, unit))

    # --- getting to the starting line -------------------------------------------------------------

    def reset(self) -> None:
        """Replicas up, dnsctl restarted without history, everyone answering the preferred replica."""
        self.replicas.restore()
        for d in self.dnsctl:
            d.stop()
        for d in self.dnsctl:
            d.launch(fresh=True)
        for d in self.dnsctl:
            d.started()
        for d in self.dnsctl:
            d.wait_ready()
        self.settle(self.address(PREFERRED))
        period = MEAN_PERIOD * max(d.settings.interval for d in self.dnsctl)
        time.sleep(self.rng.uniform(0.0, 2 * period))

    def settle(self, expected: str, *, stable: float = SETTLE, timeout: float = 60.0) -> None:
        """Wait until every server answered `expected` to every query of the last `stable` seconds."""
        deadline = time.monotonic() + timeout
        began = time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - began >= stable and all(self._steady(s, expected, now - stable) for s in self.servers):
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"servers did not settle on {expected} within {timeout:.0f} s: "
            + ", ".join(f"{s}={self.querier.last_answer(s)}" for s in self.servers)
        )

    def _steady(self, server: str, expected: str, since: float) -> bool:
        seen = self.querier.since(server, since)
        return len(seen) >= 5 and all(o.answer == expected for o in seen)

    # --- measuring -----------------------------------------------------------------------------------

    def watch_switch(self, t0: float, target: str, window: float = WINDOW) -> dict[str, Sample]:
        """Per server: seconds from `t0` to its first answer `target`, and every answer change."""
        before = {s: self.querier.since(s, t0 - 0.5, t0) for s in self.servers}
        deadline = t0 + window
        while time.monotonic() < deadline:
            if all(any(o.answer == target for o in self.querier.since(s, t0)) for s in self.servers):
                break
            time.sleep(0.05)
        time.sleep(TAIL)
        out: dict[str, Sample] = {}
        for s in self.servers:
            seen = self.querier.since(s, t0)
            last_before = before[s][-1].answer if before[s] else None
            hit = next((o for o in seen if o.answer == target), None)
            changes = timeline(seen, last_before, t0)
            value = round(hit.received - t0, 3) if hit else None
            note = "" if hit else f"no switch to {target} within {window:.0f} s"
            out[s] = Sample(value, note, changes)
        return out

    def watch(self, t0: float, seconds: float) -> dict[str, list[Observation]]:
        time.sleep(max(0.0, t0 + seconds - time.monotonic()))
        return {s: self.querier.since(s, t0, t0 + seconds) for s in self.servers}

    # --- scenarios -------------------------------------------------------------------------------------

    def failover(self, scenario: str, inject: Callable[[], None], *, recovery: bool = False) -> float:
        """One repetition: the preferred replica fails by `inject`; with `recovery`, it comes back.

        Returns the time of the fault."""
        self.reset()
        t0 = time.monotonic()
        inject()
        for server, sample in self.watch_switch(t0, self.address(SECOND)).items():
            self.row(scenario, server, "s").samples.append(sample)
        if not recovery:
            return t0
        time.sleep(2.0)
        t1 = self.replicas.start(PREFERRED)
        slowest = max(d.settings.failback_hold + d.settings.rise * d.settings.interval for d in self.dnsctl)
        window = slowest + 10.0
        for server, sample in self.watch_switch(t1, self.address(PREFERRED), window).items():
            self.row("recovery", server, "s").samples.append(sample)
        return t0

    def killed(self) -> None:
        self.failover("killed", lambda: self.replicas.kill(PREFERRED), recovery=True)

    def frozen(self) -> None:
        self.failover("frozen", lambda: self.replicas.freeze(PREFERRED))

    def unavailable(self) -> None:
        """Also splits each failover time in two: until the server's first failed probe, and after it."""
        t0 = self.failover("503", lambda: expect_ok(self.replicas.command(PREFERRED, "503")))
        for label, (_, _, first) in self._probe_stats().items():
            sample = self.row("503", label, "s").samples[-1]
            if first is not None and sample.value is not None:
                sample.details["first_failed_probe"] = round(first - t0, 3)
                sample.details["after_failed_probe"] = round(sample.value - (first - t0), 3)

    def _probe_stats(self) -> dict[str, list[float | None]]:
        """The preferred replica's request counts by server: [requests, failed, first failure]."""
        stats: dict[str, list[float | None]] = json.loads(self.replicas.command(PREFERRED, "stats"))
        labelled = {self._agent_label(agent): counts for agent, counts in stats.items()}
        return {label: counts for label, counts in labelled.items() if label is not None}

    def flaky(self, seconds: float, probability: float, seed: int) -> None:
        self.reset()
        t0 = time.monotonic()
        expect_ok(self.replicas.command(PREFERRED, f"flaky {probability} {seed}"))
        seen = self.watch(t0, seconds)
        stats = self._probe_stats()
        expect_ok(self.replicas.command(PREFERRED, "up"))
        preferred = self.address(PREFERRED)
        for server, observations in seen.items():
            changes = timeline(observations, preferred, t0)
            away = sum(1 for o in observations if o.answer != preferred) * self.querier.period
            row = self.row("flaky", server, "changes")
            row.samples.append(Sample(len(changes), f"{away:.1f} s away from {PREFERRED}", changes))
            row.extra.setdefault("seeds", []).append(seed)
        for d in self.dnsctl:
            self.row("flaky", d.label, "changes").extra.setdefault("flaps", []).append(d.flaps(PREFERRED))
        for label, (requests, failed, _) in stats.items():
            row = self.row("flaky", label, "changes")
            row.extra.setdefault("probes failed", []).append(f"{failed:g}/{requests:g}")

    def _agent_label(self, agent: str) -> str | None:
        if agent == "pdns-bench":
            return self.pdns.label
        return next((d.label for d in self.dnsctl if agent.endswith(d.config.stem)), None)

    def all_down(self, seconds: float = 10.0) -> None:
        self.reset()
        t0 = time.monotonic()
        for region in list(self.replicas.procs):
            self.replicas.kill(region)
        preferred = self.address(PREFERRED)
        for server, observations in self.watch(t0, seconds).items():
            answered = Counter(o.answer for o in observations)
            shares = {a: round(n / len(observations), 3) for a, n in answered.most_common()}
            note = ", ".join(f"{a} {share:.0%}" for a, share in shares.items())
            changes = timeline(observations, preferred, t0)
            sample = Sample(len(changes), note, changes, {"shares": shares})
            self.row("all-down", server, "changes").samples.append(sample)

    def restart(self, seconds: float = 5.0) -> None:
        """The preferred replica is down; every server restarts (dnsctl: with, then without its state)."""
        self.reset()
        t0 = time.monotonic()
        self.replicas.kill(PREFERRED)
        self.watch_switch(t0, self.address(SECOND))
        time.sleep(2.0)
        everyone: list[PowerDns | DnsctlServe] = [self.pdns, *self.dnsctl]
        self._restart_round(everyone, "restart", lambda s: s.launch(), seconds)
        self._restart_round(
            self.dnsctl, "restart, no state file", lambda d: d.launch(state_file=False, fresh=True), seconds
        )

    def _restart_round(
        self, servers: Sequence[S], scenario: str, launch: Callable[[S], None], seconds: float
    ) -> None:
        """Stop `servers`, start them again, and judge what each answered in its first `seconds`."""
        second, down = self.address(SECOND), self.address(PREFERRED)
        for s in servers:
            s.stop()
        t0 = time.monotonic()
        for s in servers:
            launch(s)
        for s in servers:
            s.started()
        deadline = t0 + seconds + 20.0
        while time.monotonic() < deadline:
            firsts = [self._first_answer(s.label, t0) for s in servers]
            if all(f is not None and time.monotonic() > f.sent + seconds + 0.2 for f in firsts):
                break
            time.sleep(0.1)
        for s in servers:
            first = self._first_answer(s.label, t0)
            if first is None:
                self.row(scenario, s.label, "wrong answers").samples.append(Sample(None, "no answer"))
                continue
            seen = self.querier.since(s.label, first.sent, first.sent + seconds)
            window = [o for o in seen if o.answer != NO_ANSWER]
            wrong = [o for o in window if o.answer != second]
            to_dead = sum(1 for o in wrong if down in o.answer.split(","))
            note = f"first answer {first.answer} {first.received - t0:.2f} s after start"
            details = {"first_answer": first.answer, "to_dead_replica": to_dead}
            sample = Sample(len(wrong), note, timeline(window, None, t0), details)
            self.row(scenario, s.label, "wrong answers").samples.append(sample)

    def _first_answer(self, server: str, t0: float) -> Observation | None:
        return next((o for o in self.querier.since(server, t0) if o.answer != NO_ANSWER), None)


def expect_ok(answer: str) -> None:
    if not answer.startswith(("OK", "{")):
        raise RuntimeError(f"replica answered {answer!r}")
