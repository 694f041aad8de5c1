"""The controller with sites: N profiles x E endpoints x S sites, one `dnsctl run --site` per site.

Real processes: S vantages (`dnsctl run -c CFG --site NAME`) sharing a directory exchange in a temporary
directory; the bundled Azure Private DNS emulator holding one zone per site (one resource group each, one
subscription); HTTP stand-ins answering 401 as a registry's /v2/ does (bench/scale.py), one per
(endpoint, site) address, so every site probes its own addresses. The emulator keeps Azure's request
budgets (250 reads, 800 writes per subscription and window) in a window shortened to `WINDOW` seconds.

Printed per vantage: one round's probe time (the median time between its consecutive reports in the
exchange while rounds run back to back: the interval is shorter than a round), the Azure calls (reads,
writes) for its zone at start (every record created) and per pass in steady state, and its RSS.

    python bench/sites_controller.py                     # 1,000 profiles x 3 endpoints x 3 sites, and 1 site
    python bench/sites_controller.py --profiles 100 --no-baseline
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale import rss_mb, sigterm_seconds, start_replicas, stop_child

from dnsctl.emulator import AzureEmulator, ZoneId
from tests.e2e.harness import free_port

REPO = Path(__file__).resolve().parents[1]
SUB = "00000000-0000-0000-0000-000000000000"
ZONE = "s.test"
WINDOW = 5.0  # seconds of the emulator's budget window (Azure's is 300)
INTERVAL = 1.0  # the monitor interval: shorter than a round of 1,000 profiles, so rounds run back to back
TIMEOUT = 0.8  # the probe timeout (default fall 3, rise 2)
STEADY = 30.0  # seconds of steady state measured


def site_names(sites: int) -> list[str]:
    return [f"site{j}" for j in range(sites)]


def address(endpoint: int, site: int) -> str:
    """The address by which site `site` reaches endpoint `endpoint` (its own private endpoint)."""
    return f"127.0.{10 + site}.{2 + endpoint}"


def group(site: str) -> str:
    return f"rg-{site}"


def config(profiles: int, endpoints: int, sites: int, port: int, exchange: Path, base_url: str) -> str:
    names = site_names(sites)
    eps = ", ".join(
        f"{{name: r{k}, target: r{k}.{ZONE}, priority: {k + 1}, addresses: {{"
        + ", ".join(f"{s}: [{address(k, j)}]" for j, s in enumerate(names))
        + "}}"
        for k in range(endpoints)
    )
    monitor = f"{{protocol: http, port: {port}, interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s}}"
    lines = ["profiles:"]
    for i in range(profiles):
        e = f"&e [{eps}]" if i == 0 else "*e"
        pubs = ", ".join(
            f"{{site: {s}, subscription_id: {SUB}, resource_group: {group(s)}, zone: {ZONE}, record: p{i}}}"
            for s in names
        )
        lines.append(
            f"- {{name: p{i}, fqdn: p{i}.{ZONE}, monitor: {monitor}, endpoints: {e}, azure: [{pubs}]}}"
        )
    top = {
        "sites": [{"name": s} for s in names],
        "exchange": {"kind": "directory", "path": str(exchange)},
        "azure": {"credential": "static", "base_url": base_url},
        "safety": {"max_changes_per_run": profiles},
    }
    return "\n".join(lines) + "\n" + yaml.safe_dump(top, sort_keys=False)


@dataclass
class Vantage:
    site: str
    proc: subprocess.Popen[bytes]
    report: Path
    ats: list[float] = field(default_factory=list)  # the `at` of each report seen, in order
    peak_rss: float = 0.0
    log: Path | None = None
    log_at: int = 0  # the log's size when the steady window began


def _decisions(v: Vantage) -> int:
    """Decision changes the vantage logged since the steady window began (a probe timing out on a loaded
    machine moves a profile, and that move is a write)."""
    if v.log is None:
        return 0
    with v.log.open("rb") as f:
        f.seek(v.log_at)
        return sum(1 for line in f if b" dnsctl.controller: decision: " in line)


def _report_at(path: Path) -> float | None:
    """The `at` of the report in `path` (read from its first bytes: the report is written atomically)."""
    try:
        with path.open("rb") as f:
            head = f.read(256).decode("utf-8", "replace")
    except OSError:
        return None
    marker = '"at":'
    start = head.find(marker)
    if start < 0:
        return None
    end = min((i for i in (head.find(",", start), head.find("}", start)) if i > 0), default=-1)
    try:
        return float(head[start + len(marker) : end])
    except ValueError:
        return None


@dataclass
class Calls:
    reads: int = 0
    writes: int = 0
    throttled: int = 0  # of them, answered 429 (the subscription's budget spent): tried again later
    kinds: dict[str, int] = field(default_factory=dict)  # "METHOD zone|list|record STATUS" -> count

    def __str__(self) -> str:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.kinds.items()))
        return f"{self.reads}/{self.writes} ({self.throttled} answered 429; {kinds or 'none'})"


def _scope(path: str) -> str:
    """What a request is about: the zone, a listing of its record sets, or one record set."""
    after = path.lower().split(f"/privatednszones/{ZONE}", 1)[-1].strip("/").split("?", 1)[0]
    depth = len([p for p in after.split("/") if p])
    return {0: "zone", 1: "list"}.get(depth, "record")


def _calls_by_site(emulator: AzureEmulator, names: list[str]) -> dict[str, Calls]:
    out = {s: Calls() for s in names}
    for r in emulator.request_log():
        for s in names:
            if f"/resourceGroups/{group(s)}/" in r.path:
                c = out[s]
                c.reads += r.kind == "read"
                c.writes += r.kind == "write"
                c.throttled += r.status == 429
                key = f"{r.method} {_scope(r.path)} {r.status}"
                c.kinds[key] = c.kinds.get(key, 0) + 1
    return out


def _records(emulator: AzureEmulator, site: str) -> int:
    return sum(
        1
        for rs in emulator.record_sets(ZoneId(SUB, group(site), ZONE))
        if "cnameRecord" in rs.get("properties", {})
    )


def measure(profiles: int = 1000, endpoints: int = 3, sites: int = 3) -> list[tuple[str, str]]:
    """Run the vantages and return (label, figure) rows."""
    names = site_names(sites)
    addresses = [address(k, j) for j in range(sites) for k in range(endpoints)]
    rows: list[tuple[str, str]] = []
    tag = f"{profiles} x {endpoints} x {sites}"
    with tempfile.TemporaryDirectory(prefix="dnsctl-sites-bench-") as tmpdir:
        tmp = Path(tmpdir)
        exchange = tmp / "exchange"
        exchange.mkdir()
        replicas, port = start_replicas(addresses)
        vantages: list[Vantage] = []
        try:
            with AzureEmulator(budget_window=WINDOW) as emulator:
                for s in names:
                    emulator.add_zone(ZoneId(SUB, group(s), ZONE))
                cfg = tmp / "sites.yaml"
                cfg.write_text(config(profiles, endpoints, sites, port, exchange, emulator.base_url))
                env = {**os.environ, "PYTHONPATH": str(REPO), "DNSCTL_AZURE_TOKEN": "bench-token"}
                t0 = time.monotonic()
                for s in names:
                    log = (tmp / f"{s}.log").open("wb")
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "dnsctl", "run", "-c", str(cfg), "--site", s],
                        stdout=log,
                        stderr=log,
                        env={**env, "DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{free_port()}"},
                        cwd=REPO,
                    )
                    vantages.append(Vantage(s, proc, exchange / f"{s}.json", log=tmp / f"{s}.log"))
                # The emulator (in this process) writes some 6 records a second on a loaded 2-core VM.
                limit = 120.0 + profiles * sites / 2
                started: dict[str, float] = {}
                while len(started) < sites and time.monotonic() - t0 < limit:
                    time.sleep(2.0)  # seldom: listing a zone here takes the emulator's time
                    for v in vantages:
                        if v.proc.poll() is not None:
                            raise SystemExit(f"vantage {v.site} exited ({v.proc.returncode})")
                        if v.site not in started and _records(emulator, v.site) == profiles:
                            started[v.site] = time.monotonic() - t0
                if len(started) < sites:
                    raise SystemExit(
                        f"timed out after {limit:.0f}s: {sorted(started)} of {names} have every record"
                    )
                start_calls = _calls_by_site(emulator, names)
                time.sleep(3 * INTERVAL)  # past the writes: rounds only
                emulator.reset_request_log()
                for v in vantages:
                    v.log_at = v.log.stat().st_size if v.log is not None else 0
                until = time.monotonic() + STEADY
                while time.monotonic() < until:
                    for v in vantages:
                        at = _report_at(v.report)
                        if at is not None and (not v.ats or at != v.ats[-1]):
                            v.ats.append(at)
                        v.peak_rss = max(v.peak_rss, rss_mb(v.proc.pid))
                    time.sleep(0.05)
                steady_calls = _calls_by_site(emulator, names)
                for v in vantages:
                    if v.proc.poll() is not None:
                        raise SystemExit(
                            f"vantage {v.site} exited ({v.proc.returncode}); see {tmp}/{v.site}.log"
                        )
                    gaps = [b - a for a, b in zip(v.ats, v.ats[1:], strict=False)]
                    passes = max(1, len(gaps))
                    start, steady = start_calls[v.site], steady_calls[v.site]
                    round_s = f"{statistics.median(gaps):.2f} s" if gaps else "no two reports"
                    rows += [
                        (f"{tag}: {v.site}: one round's probe time", f"{round_s} ({len(gaps)} rounds)"),
                        (
                            f"{tag}: {v.site}: Azure calls at start (reads/writes)",
                            f"{start} ({started[v.site]:.0f} s to every record)",
                        ),
                        (
                            f"{tag}: {v.site}: Azure calls per pass, steady (reads/writes)",
                            f"{steady.reads / passes:.2f}/{steady.writes / passes:.2f} "
                            f"(over {len(gaps)} passes: {steady})",
                        ),
                        (f"{tag}: {v.site}: decision changes, steady", f"{_decisions(v)}"),
                        (f"{tag}: {v.site}: RSS", f"{v.peak_rss:.0f} MB"),
                    ]
        finally:
            for v in vantages:
                if v.proc.poll() is None:
                    sigterm_seconds(v.proc)
            stop_child(replicas)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the single-site run at the same N")
    args = parser.parse_args(argv)
    print(
        f"dnsctl sites controller bench, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"monitor interval {INTERVAL:g} s (timeout {TIMEOUT:g} s), emulator budget window {WINDOW:g} s",
        flush=True,
    )
    runs = [args.sites] if args.no_baseline or args.sites == 1 else [1, args.sites]
    for sites in runs:
        for label, figure in measure(args.profiles, args.endpoints, sites):
            print(f"{label:<70} {figure}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
