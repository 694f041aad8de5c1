"""Failover of `dnsctl run` against the bundled Azure Private DNS emulator, with faults on both sides.

Three registry-like replicas run as child processes on 127.0.0.2, .3 and .4 (plain HTTP, one port), so
that a replica can really be killed (SIGKILL: connection refused), frozen (SIGSTOP: timeouts), made to
answer 503, or made flaky (a seeded 30 % of its probes fail). `dnsctl run` runs as a process against the
emulator; the bench polls the emulator's CNAME every 50 ms and reads its request log. Measured:

- failover: from the replica's death to the CNAME change in the emulator, and the ARM calls it cost;
- the same failover with Azure misbehaving at that moment: a 429 storm (Retry-After honoured: the gap
  between each 429 and the retry, from the request log), 500 errors on the write (SDK backoff), and a
  concurrent writer (the 412, the re-read, and no lost update: the other writer's metadata survives);
- failback: from the replica's return to the CNAME change (`failback_hold` must be honoured);
- a flaky replica (changes of the record: the damping number), all replicas down (what stays published),
  and `dnsctl run` restarted while a replica is down (the first values after the restart).

Rows: `fall: 1` and `fall: 3` (the default), both with interval 1 s and timeout 0.5 s (rise 2, the
default). Every timed scenario runs `--repeat` times (median and max); the table is printed and the
figures are written to bench/results/azure_failover.json.

    python bench/azure_failover.py [--repeat 5] [--failback-hold 3] [--flaky-seconds 60] [--seed 1]

About 13 minutes with the defaults. Flap damping is off for the timed scenarios (they flap eastus on
purpose, dozens of times); the outcome scenarios run on a fresh controller with the default damping.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from dnsctl.emulator import AzureEmulator, LoggedRequest, ZoneId

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-private-dns"
ZONE = "privatelink.azurecr.io"
ZONE_ID = ZoneId(SUB, RG, ZONE)
RECORD = "myregistry"
REGIONS = {"eastus": "127.0.0.2", "westeurope": "127.0.0.3", "southeastasia": "127.0.0.4"}
INTERVAL, TIMEOUT = 1.0, 0.5
POLL = 0.05
TOKEN = "bench-token"
STORM = 3  # 429s in a row: as many as the SDK's status retries (3) can absorb within one reconcile
RETRY_AFTER = 2.0
ERRORS = 3  # 500s in a row on the failover write
FLAKY_FAILURES = 0.3
RESULTS = Path(__file__).resolve().parent / "results" / "azure_failover.json"
REPO = Path(__file__).resolve().parents[1]


def target(region: str) -> str:
    return f"{RECORD}.{region}.geo.azurecr.io"


# --- replicas: child processes, so that they can be killed and frozen for real --------------------------


@dataclass
class _Behaviour:
    mode: str = "up"  # up | 503 | flaky
    share: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def failing(self) -> bool:
        return self.mode == "503" or (self.mode == "flaky" and self.rng.random() < self.share)


def _http(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n".encode()


async def _replica_child(host: str, port: int) -> None:
    """A registry front end: /v2/ answers 401 (up), 503 (down), or 503 for a seeded share (flaky)."""
    behaviour = _Behaviour()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(
                    _http(503, "Service Unavailable") if behaviour.failing() else _http(401, "Unauthorized")
                )
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    # One command per stdin line: "up", "503" or "flaky SHARE SEED"; EOF ends the replica.
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        words = line.split()
        behaviour.mode = words[0]
        if words[0] == "flaky":
            behaviour.share, behaviour.rng = float(words[1]), random.Random(int(words[2]))
        print(f"OK {words[0]}", flush=True)
    server.close()


class Replica:
    def __init__(self, name: str, host: str, port: int) -> None:
        self.name, self.host, self.port = name, host, port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Replica:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--replica", self.host, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self._line()
        if not line.startswith("READY "):
            raise RuntimeError(f"replica {self.name} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def _line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def mode(self, *words: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        if self._line() != f"OK {words[0]}":
            raise RuntimeError(f"replica {self.name} did not take {words}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGCONT)
        self.kill()


def common_port(hosts: Sequence[str]) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = int(s.getsockname()[1])
        try:
            for host in hosts[1:]:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every replica address")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the controller as a process -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    fall: int


class Controller:
    """`dnsctl run` as a process. Without `damping`, flap damping is off: the timed scenarios flap eastus
    on purpose, dozens of times, and must measure failover and failback rather than the damping hold."""

    def __init__(
        self, workdir: Path, emulator: AzureEmulator, row: Row, port: int, hold: float, *, damping: bool
    ) -> None:
        self.admin_port = free_port()
        stem = f"fall{row.fall}-{'damped' if damping else 'undamped'}"
        self.config = workdir / f"{stem}.yaml"
        self.log_path = workdir / f"{stem}.log"
        monitor: dict[str, Any] = {
            "protocol": "http",
            "port": port,
            "interval": f"{INTERVAL}s",
            "timeout": f"{TIMEOUT}s",
            "fall": row.fall,
        }
        if not damping:
            monitor["flap_threshold"] = 1_000_000
        doc = {
            "profiles": [
                {
                    "name": RECORD,
                    "fqdn": f"{RECORD}.azurecr.io",
                    "failback_hold": f"{hold}s",
                    "monitor": monitor,
                    "endpoints": [
                        {"name": region, "target": target(region), "priority": i + 1, "addresses": [ip]}
                        for i, (region, ip) in enumerate(REGIONS.items())
                    ],
                    "azure": {"subscription_id": SUB, "resource_group": RG, "zone": ZONE, "record": RECORD},
                }
            ],
            "azure": {"credential": "static", "base_url": emulator.base_url},
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
        }
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> None:
        env = {**os.environ, "DNSCTL_AZURE_TOKEN": TOKEN}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", "run", "-c", str(self.config)],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=log,
            )
        if wait:
            wait_until(self.ready, 30, "dnsctl run to be ready")

    def ready(self) -> bool:
        return self._get("/readyz") is not None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def _get(self, path: str) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"dnsctl run exited:\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
                return str(r.read().decode())
        except OSError:
            return None

    def status(self) -> dict[str, Any]:
        text = self._get("/status")
        return dict(json.loads(text)) if text else {}

    def metric(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self._get("/metrics") or ""):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return None


# --- watching the emulator ------------------------------------------------------------------------------


def wait_until(check: Callable[[], Any], limit: float, what: str) -> float:
    """Poll every 50 ms; the monotonic time at which `check` first held."""
    deadline = time.monotonic() + limit
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {limit:g} s")
        time.sleep(POLL)


def published(emulator: AzureEmulator) -> dict[str, Any] | None:
    return emulator.record_set(ZONE_ID, "CNAME", RECORD)


def cname(emulator: AzureEmulator) -> str | None:
    rs = published(emulator)
    return None if rs is None else str(rs["properties"]["cnameRecord"]["cname"])


def wait_cname(emulator: AzureEmulator, region: str, limit: float = 60) -> float:
    return wait_until(lambda: cname(emulator) == target(region), limit, f"CNAME to {region}")


def calls(log: Sequence[LoggedRequest], start: float, end: float) -> list[LoggedRequest]:
    return [r for r in log if start <= r.at <= end]


def retry_after_gaps(log: Sequence[LoggedRequest]) -> list[float]:
    """Seconds from each 429 to the next request (its retry), from the request log's timestamps."""
    ordered = sorted(log, key=lambda r: r.at)
    return [b.at - a.at for a, b in itertools.pairwise(ordered) if a.status == 429]


# --- scenarios ------------------------------------------------------------------------------------------


@dataclass
class Sample:
    failover: float | None = None
    failback: float | None = None
    arm_calls: int | None = None
    arm_reads: int | None = None
    arm_writes: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Lab:
    def __init__(
        self, emulator: AzureEmulator, replicas: dict[str, Replica], ctl: Controller, hold: float, seed: int
    ) -> None:
        self.emulator, self.replicas, self.ctl, self.hold = emulator, replicas, ctl, hold
        self.rng = random.Random(seed)

    @property
    def east(self) -> Replica:
        return self.replicas["eastus"]

    def settle(self) -> None:
        """Back to the start: every replica up, the record on eastus, no fault pending."""
        self.emulator.clear_faults()
        wait_cname(self.emulator, "eastus", 60 + self.hold)
        # At least one more round, so every endpoint's health is current; a random phase, so that the
        # death does not always fall just before (or after) a probe.
        time.sleep(INTERVAL * self.rng.uniform(1.0, 2.0))
        self.emulator.reset_request_log()

    def failover(
        self, kill: Callable[[], object], revive: Callable[[], object], inject: Callable[[], object]
    ) -> Sample:
        self.settle()
        inject()
        died = time.monotonic()
        kill()
        moved = wait_cname(self.emulator, "westeurope")
        time.sleep(0.2)  # the write is logged just after the record changes
        spent = calls(self.emulator.request_log(), died, moved + 0.2)
        sample = Sample(
            failover=moved - died,
            arm_calls=len(spent),
            arm_reads=sum(1 for r in spent if r.kind == "read"),
            arm_writes=sum(1 for r in spent if r.kind == "write"),
        )
        sample.detail["statuses"] = [r.status for r in spent]
        sample.detail["log"] = spent
        time.sleep(INTERVAL)  # the dead replica stays dead for a while
        revive()
        back = time.monotonic()  # listening again (a killed replica is restarted first)
        sample.failback = wait_cname(self.emulator, "eastus", 60 + self.hold) - back
        return sample

    # The kinds of death.

    def killed(self, _: int) -> Sample:
        return self.failover(self.east.kill, self.east.start, lambda: None)

    def frozen(self, _: int) -> Sample:
        return self.failover(
            lambda: self.east.signal(signal.SIGSTOP), lambda: self.east.signal(signal.SIGCONT), lambda: None
        )

    def unavailable(self, _: int) -> Sample:
        return self.failover(lambda: self.east.mode("503"), lambda: self.east.mode("up"), lambda: None)

    # Azure misbehaving during the failover.

    def throttled(self, _: int) -> Sample:
        def inject() -> None:
            self.emulator.inject_throttle(STORM, retry_after=RETRY_AFTER)

        s = self.failover(self.east.kill, self.east.start, inject)
        gaps = retry_after_gaps(s.detail["log"])
        s.detail.update(throttled=len(gaps), min_gap=min(gaps) if gaps else None)
        return s

    def server_errors(self, _: int) -> Sample:
        def inject() -> None:
            self.emulator.inject_error(ERRORS, status=500, applies_to="write")

        s = self.failover(self.east.kill, self.east.start, inject)
        s.detail["errors"] = sum(1 for r in s.detail["log"] if r.status == 500)
        return s

    def concurrent_writer(self, rep: int) -> Sample:
        note = f"ops change {rep}"

        def inject() -> None:
            current = published(self.emulator)
            assert current is not None
            metadata = {**current["properties"]["metadata"], "note": note}
            self.emulator.inject_concurrent_write(ZONE_ID, "CNAME", RECORD, properties={"metadata": metadata})

        s = self.failover(self.east.kill, self.east.start, inject)
        puts = [r for r in s.detail["log"] if r.method == "PUT"]
        conflicted = [r for r in puts if r.status == 412]
        retried = [r for r in puts if r.status == 200]
        final = published(self.emulator)
        s.detail.update(
            conflicts=len(conflicted),
            reread=any(r.kind == "read" for r in s.detail["log"] if conflicted and r.at > conflicted[0].at),
            new_if_match=bool(conflicted and retried and retried[-1].if_match != conflicted[0].if_match),
            note_kept=final is not None and final["properties"]["metadata"].get("note") == note,
        )
        return s

    # Outcomes rather than timings.

    def flaky(self, rep: int, seconds: float, seed: int) -> Sample:
        self.settle()
        self.east.mode("flaky", str(FLAKY_FAILURES), str(seed + rep))
        seen, changes, writes_before = cname(self.emulator), 0, self._dns_writes()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            now = cname(self.emulator)
            if now != seen:
                changes, seen = changes + 1, now
            time.sleep(POLL)
        flaps = self._endpoint("eastus").get("flaps")
        self.east.mode("up")
        return Sample(
            detail={
                "seed": seed + rep,
                "record_changes": changes,
                "writes": self._dns_writes() - writes_before,
                "flaps": flaps,
            }
        )

    def all_down(self, _: int) -> Sample:
        self.settle()
        for r in self.replicas.values():
            r.mode("503")
        wait_until(lambda: self.ctl.metric("dnsctl_isolation_guard_active") == 1, 30, "the isolation guard")
        time.sleep((3 + 2) * INTERVAL)  # more rounds than any fall: what stays published
        detail = {
            "published": cname(self.emulator),
            "guard": self.ctl.metric("dnsctl_isolation_guard_active"),
            "writes": self._dns_writes(),
        }
        for r in self.replicas.values():
            r.mode("up")
        wait_until(lambda: self.ctl.metric("dnsctl_isolation_guard_active") == 0, 30, "the guard to release")
        return Sample(detail=detail)

    def restart(self, _: int) -> Sample:
        self.settle()
        self.east.kill()
        wait_cname(self.emulator, "westeurope")
        self.ctl.stop()
        self.emulator.reset_request_log()
        restarted = time.monotonic()
        self.ctl.start(wait=False)
        # Every value the record takes from the restart on, until well after the controller is ready.
        values: list[str | None] = []
        ready: float | None = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (ready is None or time.monotonic() < ready + 5 * INTERVAL):
            value = cname(self.emulator)
            if not values or values[-1] != value:
                values.append(value)
            if ready is None and self.ctl.ready():
                ready = time.monotonic()
            time.sleep(POLL)
        log = self.emulator.request_log()
        detail = {
            "ready_after": None if ready is None else round(ready - restarted, 2),
            "values": values,
            "writes": [f"{r.method} {r.status}" for r in log if r.kind == "write"],
        }
        self.east.start()
        return Sample(detail=detail)

    def _dns_writes(self) -> int:
        return sum(1 for r in self.emulator.request_log() if r.kind == "write" and r.status < 300)

    def _endpoint(self, name: str) -> dict[str, Any]:
        for ep in self.ctl.status()["profiles"][0]["endpoints"]:
            if ep["name"] == name:
                return dict(ep)
        return {}


TIMED = {
    "killed (refused)": Lab.killed,
    "frozen (SIGSTOP)": Lab.frozen,
    "503": Lab.unavailable,
    f"killed + {STORM}x429 storm": Lab.throttled,
    f"killed + {ERRORS}x500 on write": Lab.server_errors,
    "killed + concurrent writer": Lab.concurrent_writer,
}


# --- running and reporting --------------------------------------------------------------------------------


def fresh_controller(
    emulator: AzureEmulator, workdir: Path, row: Row, port: int, hold: float, *, damping: bool
) -> Controller:
    """A controller with no history: an empty zone (the history lives in the record), then `dnsctl run`."""
    emulator.remove_zone(ZONE_ID)
    emulator.add_zone(ZONE_ID)
    emulator.reset()
    ctl = Controller(workdir, emulator, row, port, hold, damping=damping)
    ctl.start()
    return ctl


def run_row(row: Row, args: argparse.Namespace, emulator: AzureEmulator, workdir: Path) -> dict[str, Any]:
    port = common_port(list(REGIONS.values()))
    replicas = {name: Replica(name, ip, port) for name, ip in REGIONS.items()}
    out: dict[str, Any] = {"label": row.label, "fall": row.fall, "scenarios": {}}
    hold = args.failback_hold
    ctl: Controller | None = None
    try:
        for r in replicas.values():
            r.start()
        ctl = fresh_controller(emulator, workdir, row, port, hold, damping=False)
        lab = Lab(emulator, replicas, ctl, hold, args.seed)
        for name, scenario in TIMED.items():
            samples = []
            for rep in range(args.repeat):
                s = scenario(lab, rep)
                s.detail.pop("log", None)
                samples.append(s)
                print(f"  {row.label}: {name} #{rep + 1}: {describe(s)}", flush=True)
            out["scenarios"][name] = [asdict(s) for s in samples]
        # Outcomes, with dnsctl's default flap damping and no history of the flaps above.
        ctl.stop()
        ctl = lab.ctl = fresh_controller(emulator, workdir, row, port, hold, damping=True)
        for name, outcome in (
            ("all replicas down", lab.all_down),
            ("restart while eastus is down", lab.restart),
        ):
            s = outcome(0)
            print(f"  {row.label}: {name}: {describe(s)}", flush=True)
            out["scenarios"][name] = [asdict(s)]
        flaky = []
        for rep in range(args.flaky_repeat):
            ctl.stop()
            ctl = lab.ctl = fresh_controller(emulator, workdir, row, port, hold, damping=True)
            s = lab.flaky(rep, args.flaky_seconds, args.seed)
            print(f"  {row.label}: flaky #{rep + 1}: {describe(s)}", flush=True)
            flaky.append(asdict(s))
        out["scenarios"][f"flaky {FLAKY_FAILURES:.0%} for {args.flaky_seconds:g}s"] = flaky
    finally:
        if ctl is not None:
            ctl.stop()
        for r in replicas.values():
            r.stop()
    return out


def describe(s: Sample) -> str:
    parts = []
    if s.failover is not None:
        parts.append(f"failover {s.failover:.2f}s")
    if s.failback is not None:
        parts.append(f"failback {s.failback:.2f}s")
    if s.arm_calls is not None:
        parts.append(f"ARM {s.arm_calls} ({s.arm_reads}r/{s.arm_writes}w)")
    parts += [f"{k}={v}" for k, v in s.detail.items() if k != "statuses"]
    return ", ".join(parts)


def median_max(values: Sequence[float | int | None], digits: int = 2) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    return f"{statistics.median(got):.{digits}f} / {max(got):.{digits}f}"


def checks(name: str, samples: Sequence[dict[str, Any]], hold: float, fall: int) -> str:
    d = [s["detail"] for s in samples]
    if "429" in name:
        gaps = [x["min_gap"] for x in d if x["min_gap"] is not None]
        if not gaps:
            return "no 429 answered: NOT met"
        ok = min(gaps) >= RETRY_AFTER
        return (
            f"min 429->retry gap {min(gaps):.2f}s (Retry-After {RETRY_AFTER:g}s): {'ok' if ok else 'NOT met'}"
        )
    if "500" in name:
        return f"500s answered: {sorted({x['errors'] for x in d})}; change landed every time"
    if "concurrent" in name:
        ok = all(x["conflicts"] >= 1 and x["reread"] and x["new_if_match"] and x["note_kept"] for x in d)
        verdict = "ok" if ok else "NOT met"
        return f"412 -> re-read -> write on the new etag, other writer's metadata kept: {verdict}"
    failbacks = [s["failback"] for s in samples if s["failback"] is not None]
    ok = failbacks and min(failbacks) >= hold
    return f"failback >= failback_hold ({hold:g}s): {'ok' if ok else 'NOT met'}"


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"dnsctl run vs the Azure Private DNS emulator: interval {INTERVAL:g}s, timeout {TIMEOUT:g}s, "
        f"rise 2, failback_hold {args.failback_hold:g}s; {args.repeat} repetitions (median / max, seconds)"
    )
    head = f"{'row':8} {'scenario':28} {'failover':>13} {'failback':>13} {'ARM calls':>11}  checks"
    print(head)
    print("-" * len(head))
    for row in rows:
        for name, samples in row["scenarios"].items():
            if samples[0]["failover"] is None:
                continue
            print(
                f"{row['label']:8} {name:28} {median_max([s['failover'] for s in samples]):>13} "
                f"{median_max([s['failback'] for s in samples]):>13} "
                f"{median_max([s['arm_calls'] for s in samples], 0):>11}  "
                f"{checks(name, samples, args.failback_hold, row['fall'])}"
            )
        bound = row["fall"] * INTERVAL + TIMEOUT + 0.2
        medians = {
            name: statistics.median(s["failover"] for s in row["scenarios"][name])
            for name in ("killed (refused)", "frozen (SIGSTOP)", "503")
        }
        within = all(m <= bound for m in medians.values())
        print(
            f"{row['label']:8} {'goal':28} median failover of every death within fall x interval + timeout "
            f"+ 0.2 s = {bound:.1f}s: {'met' if within else 'NOT met'}"
        )
    print()
    for row in rows:
        for name, samples in row["scenarios"].items():
            if samples[0]["failover"] is not None:
                continue
            details = "; ".join(
                ", ".join(f"{k}={v}" for k, v in s["detail"].items() if k != "statuses") for s in samples
            )
            print(f"{row['label']:8} {name:28} {details}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each timed scenario")
    parser.add_argument("--failback-hold", type=float, default=3.0, help="failback_hold in seconds")
    parser.add_argument("--flaky-seconds", type=float, default=60.0)
    parser.add_argument("--flaky-repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1, help="seed of the flaky replica's failures")
    parser.add_argument("--rows", default="1,3", help="the fall values to run, comma-separated")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--replica", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        asyncio.run(_replica_child(args.replica[0], int(args.replica[1])))
        return
    rows = [Row(f"fall {f}", int(f)) for f in args.rows.split(",")]
    results = []
    with AzureEmulator() as emulator, tempfile.TemporaryDirectory(prefix="dnsctl-bench-") as tmp:
        emulator.add_zone(ZONE_ID)  # removed and added again for every fresh controller
        for row in rows:
            print(f"{row.label}: running", flush=True)
            results.append(run_row(row, args, emulator, Path(tmp)))
    report(results, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "settings": {
            "interval": INTERVAL,
            "timeout": TIMEOUT,
            "rise": 2,
            "failback_hold": args.failback_hold,
            "repeat": args.repeat,
            "storm": {"429s": STORM, "retry_after": RETRY_AFTER},
            "errors_500_on_write": ERRORS,
            "flaky": {"share": FLAKY_FAILURES, "seconds": args.flaky_seconds, "seed": args.seed},
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        },
        "rows": results,
    }
    args.json.write_text(json.dumps(doc, indent=1, default=str))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
