"""Figures from the samples: the table, the goals of the issue (met or not, with the figure), the JSON."""

from __future__ import annotations

import os
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from failover_lib.scenarios import Row
from failover_lib.servers import DnsctlSettings

SCENARIOS = {
    "killed": "preferred replica killed (connection refused): failover time",
    "frozen": "preferred replica frozen (SIGSTOP, probes time out): failover time",
    "503": "preferred replica answers 503: failover time",
    "recovery": "killed replica back: failback time",
    "flaky": "preferred replica fails {flaky_share} of probes for {flaky_seconds} s: answer changes",
    "all-down": "all replicas killed at once: answer changes in 10 s",
    "restart": "server restarted while the preferred replica is down: wrong answers in its first 5 s",
    "restart, no state file": "the same, dnsctl started without --state-file",
}
FAILOVERS = ("killed", "frozen", "503")


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool | None  # None: not measured in this run
    figure: str

    def line(self) -> str:
        verdict = {True: "goal met", False: "NOT MET", None: "not measured"}[self.met]
        return f"[{verdict}] {self.text}: {self.figure}"


def values(row: Row) -> list[float]:
    return [s.value for s in row.samples if s.value is not None]


def med(row: Row | None) -> float | None:
    got = values(row) if row else []
    return median(got) if got else None


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if unit == "s" else f"{value:g}"


def notes(row: Row, target_answers: Sequence[str]) -> str:
    parts: list[str] = []
    missed = sum(1 for s in row.samples if s.value is None)
    if missed:
        parts.append(f"missed {missed}/{len(row.samples)}")
    if row.unit == "s":
        # Answers other than the one before and the one after the fault: a detour worth telling.
        odd = Counter(a for s in row.samples for _, a in s.timeline if a not in target_answers)
        if odd:
            parts.append("also answered " + ", ".join(f"{a} ({n}x)" for a, n in odd.most_common()))
        probe = [s.details["first_failed_probe"] for s in row.samples if "first_failed_probe" in s.details]
        after = [s.details["after_failed_probe"] for s in row.samples if "after_failed_probe" in s.details]
        if probe and after:
            parts.append(
                f"first failed probe after {median(probe):.2f} s, answer changed {median(after):.2f} s later"
            )
    elif row.scenario == "flaky":
        parts.append("per run " + ", ".join(fmt(s.value, row.unit) for s in row.samples))
        for key in ("probes failed", "flaps"):
            if key in row.extra:
                parts.append(f"{key} " + ", ".join(str(v) for v in row.extra[key]))
    elif row.scenario == "all-down":
        shares: Counter[str] = Counter()
        for s in row.samples:
            shares.update(s.details.get("shares", {}))
        runs = len(row.samples) or 1
        parts.append("answered " + ", ".join(f"{a} {n / runs:.0%}" for a, n in shares.most_common()))
    elif row.scenario.startswith("restart"):
        firsts = Counter(str(s.details["first_answer"]) for s in row.samples if "first_answer" in s.details)
        parts.append("first answer " + ", ".join(f"{a} ({n}x)" for a, n in firsts.most_common()))
        dead = sum(int(s.details.get("to_dead_replica", 0)) for s in row.samples)
        parts.append(f"{dead} answers to the dead replica in all")
    return "; ".join(p for p in parts if p)


def goals(
    rows: dict[tuple[str, str], Row], pdns: str, fall1: DnsctlSettings, defaults: DnsctlSettings
) -> list[Goal]:
    out: list[Goal] = []
    bound = defaults.fall * defaults.interval + defaults.timeout + 0.2
    for sc in FAILOVERS:
        p, d = med(rows.get((sc, pdns))), med(rows.get((sc, fall1.label)))
        met = None if p is None or d is None else d <= p + 0.2
        out.append(
            Goal(
                f"{sc}: {fall1.label} no slower than PowerDNS (median within 0.2 s)",
                met,
                f"{fmt(d, 's')} vs PowerDNS {fmt(p, 's')}",
            )
        )
    for sc in FAILOVERS:
        row = rows.get((sc, defaults.label))
        m = med(row)
        worst = max(values(row), default=None) if row else None
        missed = sum(1 for s in row.samples if s.value is None) if row else 0
        met = None if m is None else m <= bound and not missed
        out.append(
            Goal(
                f"{sc}: {defaults.label} within fall x interval + timeout + 0.2 s = {bound:.1f} s",
                met,
                f"median {fmt(m, 's')}, max {fmt(worst, 's')}" + (f", {missed} missed" if missed else ""),
            )
        )
    flaky = rows.get(("flaky", defaults.label))
    pdns_flaky = rows.get(("flaky", pdns))
    if flaky is not None:
        counts = [s.value for s in flaky.samples]
        out.append(
            Goal(
                f"flaky replica: no answer change at all with {defaults.label}",
                all(c == 0 for c in counts),
                "changes per run "
                + ", ".join(fmt(c, "n") for c in counts)
                + (f" (PowerDNS median {fmt(med(pdns_flaky), 'n')})" if pdns_flaky else ""),
            )
        )
    for label in (fall1.label, defaults.label):
        row = rows.get(("restart", label))
        if row is not None:
            wrong = [s.value for s in row.samples]
            out.append(
                Goal(
                    f"restart: no wrong answer after a restart ({label}, with its state file)",
                    all(w == 0 for w in wrong),
                    "wrong answers per run " + ", ".join(fmt(w, "n") for w in wrong),
                )
            )
    for settings in (fall1, defaults):
        row = rows.get(("recovery", settings.label))
        if row is not None and row.samples:
            got = values(row)
            early = [v for v in got if v < settings.failback_hold]
            out.append(
                Goal(
                    f"recovery: {settings.label} fails back no earlier than failback_hold "
                    f"({settings.failback_hold:g} s)",
                    not early and len(got) == len(row.samples),
                    f"failback after {fmt(min(got, default=None), 's')} at the earliest, "
                    f"median {fmt(med(row), 's')}",
                )
            )
    return out


def table(rows: dict[tuple[str, str], Row], addresses: Sequence[str]) -> str:
    header = ("scenario", "server", "median", "max", "n", "notes")
    lines: list[tuple[str, ...]] = []
    for scenario in SCENARIOS:
        for (sc, server), row in rows.items():
            if sc != scenario:
                continue
            got = values(row)
            lines.append(
                (
                    scenario,
                    server,
                    fmt(median(got) if got else None, row.unit),
                    fmt(max(got) if got else None, row.unit),
                    str(len(row.samples)),
                    notes(row, addresses),
                )
            )
    widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header) - 1)]
    out = []
    for r in (header, *lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    return "\n".join(out)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def rows_doc(rows: dict[tuple[str, str], Row]) -> list[dict[str, Any]]:
    out = []
    for row in rows.values():
        got = values(row)
        out.append(
            {
                "scenario": row.scenario,
                "server": row.server,
                "unit": row.unit,
                "median": median(got) if got else None,
                "max": max(got) if got else None,
                "samples": [
                    {"value": s.value, "note": s.note, "answer_changes": s.timeline, **s.details}
                    for s in row.samples
                ],
                **({"extra": row.extra} if row.extra else {}),
            }
        )
    return out
