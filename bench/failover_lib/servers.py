"""The processes under test: three replicas, PowerDNS with a LUA `ifurlup` record, `dnsctl serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from failover_lib.processes import REPO, Child, Children, free_port

FQDN = "myregistry.azurecr.io"
ZONE = "azurecr.io"
REGIONS = (("eastus", "127.0.0.2"), ("westeurope", "127.0.0.3"), ("southeastasia", "127.0.0.4"))
REPLICA_SCRIPT = Path(__file__).resolve().parent / "replica.py"
PDNS_PACKAGES = ("pdns-server", "pdns-backend-bind")


def ensure_powerdns() -> list[str]:
    """Install PowerDNS and its bind backend from Debian when missing; returns what was installed."""
    missing = [
        pkg
        for pkg in PDNS_PACKAGES
        if subprocess.run(["dpkg", "-s", pkg], capture_output=True).returncode != 0
    ]
    if not missing:
        return []
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", *missing]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(install, check=True, env=env, stdout=subprocess.DEVNULL)
    return missing


def powerdns_version() -> str:
    out = subprocess.run(["pdns_server", "--version"], capture_output=True, text=True)
    for line in (out.stdout + out.stderr).splitlines():
        if "PowerDNS Authoritative Server" in line:
            return line.split("PowerDNS Authoritative Server", 1)[1].split()[0]
    return "unknown"


class Replicas:
    """One process per region on 127.0.0.2-4 and one shared port, killable and freezable one by one."""

    def __init__(self, children: Children, logs: Path) -> None:
        self.children = children
        self.logs = logs
        self.port = free_port([addr for _, addr in REGIONS])
        self.procs: dict[str, Child] = {}
        self.frozen: set[str] = set()

    def address(self, region: str) -> str:
        return dict(REGIONS)[region]

    def start(self, region: str) -> float:
        """Start a replica (up); returns the monotonic time it was listening."""
        child = self.children.spawn(
            [sys.executable, str(REPLICA_SCRIPT), "--host", self.address(region), "--port", str(self.port)],
            stdin=True,
            log=self.logs / f"replica-{region}.log",
        )
        child.wait_for_line("READY ")
        self.procs[region] = child
        return time.monotonic()

    def start_all(self) -> None:
        for region, _ in REGIONS:
            self.start(region)

    def kill(self, region: str) -> None:
        self.children.kill(self.procs.pop(region))

    def freeze(self, region: str) -> None:
        os.kill(self.procs[region].pid, signal.SIGSTOP)
        self.frozen.add(region)

    def thaw(self, region: str) -> None:
        os.kill(self.procs[region].pid, signal.SIGCONT)
        self.frozen.discard(region)

    def command(self, region: str, line: str) -> str:
        return self.procs[region].send(line)

    def restore(self) -> None:
        """Every replica running, not frozen, and healthy."""
        for region in list(self.frozen):
            self.thaw(region)
        for region, _ in REGIONS:
            child = self.procs.get(region)
            if child is None or not child.alive():
                self.procs.pop(region, None)
                self.start(region)
            else:
                self.command(region, "up")


def _wait_answering(port: int, timeout: float = 20.0) -> None:
    import dns.message
    import dns.query

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            dns.query.udp(dns.message.make_query(FQDN, "SOA"), "127.0.0.1", port=port, timeout=0.2)
            return
        except (OSError, dns.exception.Timeout):
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers DNS on 127.0.0.1:{port}")


class PowerDns:
    """pdns_server (bind backend) answering the steered name from a LUA record with `ifurlup`."""

    def __init__(self, children: Children, workdir: Path, logs: Path, replica_port: int) -> None:
        self.label = f"PowerDNS {powerdns_version()}"
        self.children = children
        self.dir = workdir / "pdns"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = logs / "pdns.log"
        self.port = free_port()
        self.child: Child | None = None
        addresses = ", ".join(f"{{'{addr}'}}" for _, addr in REGIONS)
        # One address set per region, in priority order: ifurlup answers from the first set with an
        # address up. 4.7.3 reads `timeout` with atoi (whole seconds; "0.5" would mean no timeout at all),
        # and ignores a per-record `interval`: the global lua-health-checks-interval=1 applies.
        self.record = (
            f"ifurlup('http://{FQDN}:{replica_port}/v2/', {{{addresses}}}, "
            "{timeout='1', minimumFailures='1', useragent='pdns-bench'})"
        )
        (self.dir / "zone").write_text(
            "$TTL 5\n"
            f"@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 5\n"
            f"@ IN NS ns.{ZONE}.\n"
            "ns IN A 127.0.0.1\n"
            f'myregistry 5 IN LUA A "{self.record}"\n'
        )
        zone_file = self.dir / "zone"
        (self.dir / "named.conf").write_text(f'zone "{ZONE}" {{ type master; file "{zone_file}"; }};\n')
        (self.dir / "pdns.conf").write_text("")

    def settings(self) -> list[str]:
        return [
            "--launch=bind",
            f"--bind-config={self.dir / 'named.conf'}",
            "--enable-lua-records=yes",
            "--lua-health-checks-interval=1",
            # No packet or query cache: an answer reflects the health checks at the moment it is asked,
            # as dnsctl's does (it renders answers when a decision changes).
            "--cache-ttl=0",
            "--query-cache-ttl=0",
            "--negquery-cache-ttl=0",
            # Off: it would send a DNS query for its security status off this machine.
            "--security-poll-suffix=",
        ]

    def launch(self) -> None:
        args = [
            "pdns_server",
            f"--config-dir={self.dir}",
            f"--socket-dir={self.dir}",
            "--guardian=no",
            "--daemon=no",
            "--write-pid=no",
            "--disable-syslog=yes",
            "--loglevel=6",
            "--local-address=127.0.0.1",
            f"--local-port={self.port}",
            *self.settings(),
        ]
        self.child = self.children.spawn(args, log=self.log)

    def started(self) -> None:
        _wait_answering(self.port)

    def start(self) -> None:
        self.launch()
        self.started()

    def stop(self) -> None:
        if self.child is not None:
            self.children.stop(self.child)
            self.child = None


@dataclass(frozen=True)
class DnsctlSettings:
    label: str
    fall: int
    rise: int
    failback_hold: float
    interval: float = 1.0
    timeout: float = 0.5


class DnsctlServe:
    """`dnsctl serve` as deployed (systemd unit: with --state-file), on its own loopback port."""

    def __init__(
        self, children: Children, workdir: Path, logs: Path, replica_port: int, settings: DnsctlSettings
    ) -> None:
        self.children = children
        self.settings = settings
        self.label = settings.label
        slug = settings.label.replace(" ", "-").replace("=", "")
        self.config = workdir / f"{slug}.yaml"
        self.state_file = workdir / f"{slug}.state.json"
        self.log = logs / f"{slug}.log"
        self.port = free_port()
        self.admin_url = ""
        self.child: Child | None = None
        endpoints = [
            {"name": region, "target": f"myregistry.{region}.geo.azurecr.io", "priority": i + 1,
             "region": region, "addresses": [addr]}
            for i, (region, addr) in enumerate(REGIONS)
        ]  # fmt: skip
        config = {
            "profiles": [
                {
                    "name": "myregistry",
                    "fqdn": FQDN,
                    "ttl": 5,
                    "routing": "priority",
                    "failback": "auto",
                    "failback_hold": f"{settings.failback_hold:g}s",
                    "when_all_down": "keep-last",
                    "monitor": {
                        "protocol": "http",
                        "port": replica_port,
                        "path": "/v2/",
                        "interval": f"{settings.interval:g}s",
                        "timeout": f"{settings.timeout * 1000:g}ms",
                        "fall": settings.fall,
                        "rise": settings.rise,
                        # The replica keys its flaky sequence on this: each server gets its own.
                        "headers": {"User-Agent": f"dnsctl-bench-{slug}"},
                    },
                    "endpoints": endpoints,
                }
            ],
            "resolver": {"listen": [f"127.0.0.1:{self.port}"], "upstreams": [], "allow": ["127.0.0.0/8"]},
            "admin": {"listen": "127.0.0.1:0"},
        }
        self.config_doc = config
        self.config.write_text(json.dumps(config, indent=1))  # JSON is YAML

    def launch(self, *, state_file: bool = True, fresh: bool = False) -> None:
        """Start the process; `fresh` forgets the stored health history first. See `started`."""
        if fresh:
            self.state_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "dnsctl", "serve", "-c", str(self.config)]
        if state_file:
            args += ["--state-file", str(self.state_file)]
        self.child = self.children.spawn(args, log=self.log, cwd=REPO)

    def started(self) -> None:
        """Wait until the resolver listens."""
        assert self.child is not None
        line = self.child.wait_for_line("dnsctl serve: answering on")
        self.admin_url = line.rsplit("admin on ", 1)[1].strip()

    def start(self, *, state_file: bool = True, fresh: bool = False) -> None:
        self.launch(state_file=state_file, fresh=fresh)
        self.started()

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until /readyz says every profile has a decision (the endpoints have verdicts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.admin_url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.label}: not ready within {timeout:.0f} s")

    def status(self) -> dict[str, object]:
        with urllib.request.urlopen(self.admin_url + "/status", timeout=2) as r:
            doc: dict[str, object] = json.load(r)
            return doc

    def flaps(self, endpoint: str) -> int | None:
        try:
            doc = self.status()
        except (OSError, urllib.error.URLError, ValueError):
            return None
        for profile in doc.get("profiles", []):  # type: ignore[attr-defined]
            for ep in profile["endpoints"]:
                if ep["name"] == endpoint:
                    return int(ep["flaps"])
        return None

    def stop(self) -> None:
        if self.child is not None:
            self.children.stop(self.child)
            self.child = None
