"""Real primaries that take RFC 2136 updates, on loopback with a TSIG key: BIND 9, Knot, PowerDNS.

Each runs in the foreground from its own directory under the test's temporary directory (no chroot,
no service, nothing of a system installation), serving the zone ZONE with only an SOA and an NS.
`policy` "name" lets the key update only the profile's names (as examples/rfc2136 does); "zone"
lets it update any name in the zone (the tests' hand edits use it too).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.e2e.harness import free_port
from tests.support.system_packages import ensure_commands

ZONE = "corp.example"
KEY_NAME = "dnsctl-key"
SECRET = base64.b64encode(b"dnsctl test tsig secret, 32 byte").decode()
START_TIMEOUT = 30.0
PDNS_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
KINDS = ("bind", "knot", "pdns")


class ServerUnavailable(RuntimeError):
    pass


ZONE_TEXT = f"""$ORIGIN {ZONE}.
$TTL 300
@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60
@ IN NS ns1.{ZONE}.
ns1 IN A 127.0.0.1
"""


@dataclass
class Primary:
    kind: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    policy: str = "zone"  # "name": only the profile's record and owner TXT (BIND, Knot: as examples/rfc2136)
    silent_reject: bool = False  # PowerDNS only: a policy script that rejects every update, answering NOERROR
    args: list[str] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.port == 0:
            self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.args:
            self.args = getattr(self, f"_setup_{self.kind}")()
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            self.args, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        q = dns.message.make_query(f"{ZONE}.", "SOA")
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"{self.kind} exited: {self.log_tail()}")
            with contextlib.suppress(OSError, dns.exception.DNSException):
                r = dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=1.0)
                if r.rcode() == dns.rcode.NOERROR and r.answer:
                    return
            time.sleep(0.05)
        raise ServerUnavailable(f"{self.kind} did not answer within {START_TIMEOUT}s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.proc = None

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.proc = None

    # --- per server ----------------------------------------------------------------------------

    def _setup_bind(self) -> list[str]:
        named = ensure_commands("named")["named"]
        d = self.workdir
        (d / f"{ZONE}.zone").write_text(ZONE_TEXT)
        bind_policy = (
            f"grant {KEY_NAME} name myregistry.{ZONE}. CNAME A; "
            f"grant {KEY_NAME} name _dnsctl.myregistry.{ZONE}. TXT;"
            if self.policy == "name"
            else f"grant {KEY_NAME} zonesub ANY;"
        )
        (d / "named.conf").write_text(
            f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
}};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{ZONE}" {{
    type primary;
    file "{d}/{ZONE}.zone";
    update-policy {{ {bind_policy} }};
}};
"""
        )
        return [named, "-g", "-c", str(d / "named.conf"), "-n", "1"]

    def _setup_knot(self) -> list[str]:
        knotd = ensure_commands("knotd")["knotd"]
        d = self.workdir
        knot_policy = (
            "    update-type: [CNAME, A, TXT]\n    update-owner: name\n    update-owner-match: equal\n"
            "    update-owner-name: [myregistry, _dnsctl.myregistry]\n"
            if self.policy == "name"
            else ""
        )
        (d / f"{ZONE}.zone").write_text(ZONE_TEXT)
        (d / "knot.conf").write_text(
            f"""server:
    rundir: "{d}"
    listen: 127.0.0.1@{self.port}
    background-workers: 1
    udp-workers: 1
    tcp-workers: 2
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
key:
  - id: {KEY_NAME}
    algorithm: hmac-sha256
    secret: {SECRET}
acl:
  - id: dnsctl-update
    key: {KEY_NAME}
    action: update
{knot_policy}template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
zone:
  - domain: {ZONE}
    acl: dnsctl-update
"""
        )
        return [knotd, "-c", str(d / "knot.conf")]

    def _setup_pdns(self) -> list[str]:
        tools = ensure_commands("pdns_server", "pdnsutil", PDNS_SCHEMA)
        d = self.workdir
        db = d / "pdns.sqlite3"
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.executescript(Path(PDNS_SCHEMA).read_text())
            conn.commit()
        conf = [
            "launch=gsqlite3",
            f"gsqlite3-database={db}",
            "local-address=127.0.0.1",
            f"local-port={self.port}",
            f"socket-dir={d}",
            "guardian=no",
            "daemon=no",
            "disable-syslog=yes",
            "loglevel=6",
            "dnsupdate=yes",
            "allow-dnsupdate-from=127.0.0.0/8",
            "cache-ttl=0",
            "query-cache-ttl=0",
            "negquery-cache-ttl=0",
            "zone-cache-refresh-interval=0",
        ]
        if self.silent_reject:
            (d / "policy.lua").write_text("function updatepolicy(input)\n  return false\nend\n")
            conf.append(f"lua-dnsupdate-policy-script={d / 'policy.lua'}")
        (d / "pdns.conf").write_text("\n".join(conf) + "\n")
        util = [tools["pdnsutil"], f"--config-dir={d}"]
        (d / "zone.txt").write_text(ZONE_TEXT)
        for args in (
            ["load-zone", ZONE, str(d / "zone.txt")],
            ["import-tsig-key", KEY_NAME, "hmac-sha256", SECRET],
            ["set-meta", ZONE, "TSIG-ALLOW-DNSUPDATE", KEY_NAME],
        ):
            done = subprocess.run([*util, *args], capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise ServerUnavailable(f"pdnsutil {' '.join(args)}: {done.stderr.strip()}")
        return [tools["pdns_server"], f"--config-dir={d}"]
