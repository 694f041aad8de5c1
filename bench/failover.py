"""Failover time and stability of `dnsctl serve`, side by side with PowerDNS's LUA `ifurlup` records.

    python bench/failover.py [--repeat 5] [--seed 1] [--quick] [--json bench/results/failover.json]
                             [--only killed,frozen,503,flaky,all-down,restart]

Installs pdns-server and pdns-backend-bind with apt-get when they are missing (needs root). Starts, all on
loopback: three registry-like replicas (eastus 127.0.0.2, westeurope .3, southeastasia .4; one process
each, so that one can be killed or frozen), PowerDNS 4.7 answering myregistry.azurecr.io from a LUA
record `ifurlup` over them in priority order, and `dnsctl serve` twice: with `fall: 1` (rise 1) and with
its default fall 3 / rise 2; both probe every 1 s with a 500 ms timeout. A querier asks every server every
50 ms and records each answer change (compared on the A address; dnsctl answers CNAME + A).

Scenarios, each repeated --repeat times: the preferred replica killed (connection refused), frozen
(SIGSTOP: timeouts), answering 503; its recovery after the kill (failback time, and failback_hold
honoured); a flaky replica failing 30% of probes at random for 60 s (answer changes; --seed); all
replicas down at once (what each answers); every server restarted while the preferred replica is down
(what it answers first). Prints a table and the issue's goals (met or not, with the figure) and writes
JSON. Times are from the fault to the first query answered with the new address: they include up to
50 ms of sampling. Figures vary with the machine's load: compare servers within one run.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from failover_lib import report
from failover_lib.processes import Children
from failover_lib.querier import Querier
from failover_lib.scenarios import Lab
from failover_lib.servers import (
    FQDN,
    DnsctlServe,
    DnsctlSettings,
    PowerDns,
    Replicas,
    ensure_powerdns,
    powerdns_version,
)

HERE = Path(__file__).resolve().parent
FALL_1 = DnsctlSettings("dnsctl fall=1", fall=1, rise=1, failback_hold=5.0)
DEFAULTS = DnsctlSettings("dnsctl defaults", fall=3, rise=2, failback_hold=10.0)
FLAKY_SHARE = 0.3
ALL = ("killed", "frozen", "503", "flaky", "all-down", "restart")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each scenario (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="flaky sequences and fault phases (default 1)")
    parser.add_argument("--flaky-seconds", type=float, default=60.0, help="flaky length (default 60)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repetition, flaky for 15 s")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "failover.json", help="JSON output")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.flaky_seconds = 1, 15.0
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(ALL)
    if unknown or args.repeat < 1:
        parser.error(f"unknown scenarios {sorted(unknown)}" if unknown else "--repeat must be at least 1")
    return args


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that `finally` stops every child process


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Also when started in the background by a script, which leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    installed = ensure_powerdns()
    if installed:
        print(f"installed: {', '.join(installed)}")
    logs = args.json.parent / "failover-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    started = datetime.now(UTC)
    at_start = report.machine()
    print(
        f"PowerDNS {powerdns_version()}; {at_start['cpus']} CPUs ({at_start['cpu_model']}); "
        f"load average {at_start['load_average_1m']}; logs in {logs}",
        flush=True,
    )
    children = Children()
    querier: Querier | None = None
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dnsctl-failover-") as tmp:
        try:
            replicas = Replicas(children, logs)
            replicas.start_all()
            pdns = PowerDns(children, Path(tmp), logs, replicas.port)
            dnsctl = [DnsctlServe(children, Path(tmp), logs, replicas.port, s) for s in (FALL_1, DEFAULTS)]
            pdns.start()
            for d in dnsctl:
                d.start(fresh=True)
            querier = Querier(FQDN, {pdns.label: pdns.port} | {d.label: d.port for d in dnsctl})
            querier.start()
            lab = Lab(replicas, pdns, dnsctl, querier, random.Random(args.seed))
            run_scenarios(lab, args, errors)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping every process started", file=sys.stderr)
            return 130
        finally:
            if querier is not None:
                querier.stop()
            children.stop_all()
    print_and_save(lab, pdns.label, args, started, at_start, installed, errors)
    return 0


def run_scenarios(lab: Lab, args: argparse.Namespace, errors: list[str]) -> None:
    plan: list[tuple[str, Callable[[int], None]]] = [
        ("killed", lambda _: lab.killed()),
        ("frozen", lambda _: lab.frozen()),
        ("503", lambda _: lab.unavailable()),
        ("flaky", lambda rep: lab.flaky(args.flaky_seconds, FLAKY_SHARE, args.seed * 1000 + rep)),
        ("all-down", lambda _: lab.all_down()),
        ("restart", lambda _: lab.restart()),
    ]
    for name, run in plan:
        if name not in args.only:
            continue
        for rep in range(args.repeat):
            began = time.monotonic()
            try:
                run(rep)
            except RuntimeError as e:  # a server or replica that would not start or settle: next one
                errors.append(f"{name} {rep + 1}: {e}")
                print(f"{name} {rep + 1}/{args.repeat}: FAILED: {e}", flush=True)
                continue
            summary = "; ".join(
                f"{server}: {report.fmt(row.samples[-1].value, row.unit)}"
                for (sc, server), row in lab.rows.items()
                if sc == name or (name == "killed" and sc == "recovery") or sc.startswith(f"{name},")
            )
            print(f"{name} {rep + 1}/{args.repeat} ({time.monotonic() - began:.0f} s): {summary}", flush=True)


def print_and_save(
    lab: Lab,
    pdns_label: str,
    args: argparse.Namespace,
    started: datetime,
    at_start: dict[str, Any],
    installed: list[str],
    errors: list[str],
) -> None:
    addresses = [lab.address(r) for r in ("eastus", "westeurope")]
    print()
    print(report.table(lab.rows, addresses))
    print()
    goals = report.goals(lab.rows, pdns_label, FALL_1, DEFAULTS)
    for goal in goals:
        print(goal.line())
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": at_start,
        "load_average_1m_at_end": report.machine()["load_average_1m"],
        "installed": installed,
        "repeat": args.repeat,
        "seed": args.seed,
        "flaky": {"share": FLAKY_SHARE, "seconds": args.flaky_seconds},
        "servers": {
            pdns_label: {"record": lab.pdns.record, "settings": lab.pdns.settings()},
            **{d.label: {"config": d.config_doc} for d in lab.dnsctl},
        },
        "rows": report.rows_doc(lab.rows),
        "goals": [{"goal": g.text, "met": g.met, "figure": g.figure} for g in goals],
        "errors": errors,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=1))
    print(f"\nload average {report.machine()['load_average_1m']} at end; JSON: {args.json}")


if __name__ == "__main__":
    sys.exit(main())
