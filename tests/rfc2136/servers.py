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
import re
import signal
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.e2e.harness import free_port
from tests.support.system_packages import ensure_commands
from tests.support.waits import OutputLog, run_process, wait_exit, wait_until

ZONE = "corp.example"
KEY_NAME = "dnsctl-key"
SECRET = base64.b64encode(b"dnsctl test tsig secret, 32 byte").decode()
START_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
PDNS_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
KINDS = ("bind", "knot", "pdns")
# What each server writes once it serves: BIND with -g, Knot (its zone loads apart from the server's
# start), PowerDNS once its threads take questions.
READY: dict[str, tuple[str, ...]] = {
    "bind": (r"\ball zones loaded\b", r"\brunning\b"),
    "knot": (rf"\[{re.escape(ZONE)}\.\] loaded, serial", r"server started"),
    "pdns": (r"ready to distribute questions",),
}


class ServerUnavailable(RuntimeError):
    pass


class PortTaken(Exception):
    """The server could not bind its port: another process took it after free_port found it free."""


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
    _output: OutputLog | None = field(default=None, init=False, repr=False)
    _log_from: int = field(default=0, init=False, repr=False)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers. A port this picked (port 0) that another process
        took in the meantime (free_port can race under load) is replaced by a fresh one, twice at most."""
        picked = self.port == 0 and not self.args
        for attempt in range(PORT_ATTEMPTS if picked else 1):
            if picked or self.port == 0:
                self.port = free_port()
            self.workdir.mkdir(parents=True, exist_ok=True)
            if picked or not self.args:
                self.args = getattr(self, f"_setup_{self.kind}")()
            self._launch()
            try:
                self.wait_ready()
                return
            except ServerUnavailable:
                self.kill()  # not left running behind a failed start
                raise
            except PortTaken:
                self.kill()
                if attempt == PORT_ATTEMPTS - 1 or not picked:
                    raise ServerUnavailable(
                        f"{self.kind}: port {self.port} taken: {self.log_tail()}"
                    ) from None

    def _launch(self) -> None:
        log = self.workdir / "server.log"
        self._log_from = log.stat().st_size if log.exists() else 0
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self._output = OutputLog(self.proc.stdout, log)

    def wait_ready(self) -> None:
        """Until the server has said it is ready (each line it writes is a cue to look) and answers the
        zone's SOA; fails as soon as it exits, or after START_TIMEOUT."""
        q = dns.message.make_query(f"{ZONE}.", "SOA")
        said = READY[self.kind]

        def answers() -> bool:
            out = self._output_since_start()
            if re.search(r"address (already )?in use", out, re.IGNORECASE):
                raise PortTaken(self.port)
            if not all(re.search(line, out) for line in said):
                return False
            with contextlib.suppress(OSError, dns.exception.DNSException):
                r = dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=5.0)
                return r.rcode() == dns.rcode.NOERROR and bool(r.answer)
            return False

        assert self.proc is not None
        try:
            wait_until(answers, START_TIMEOUT, f"{self.kind} to answer for {ZONE}", proc=self.proc)
        except AssertionError as e:
            if self.proc.poll() is not None:
                self._close_output()  # all it wrote before it exited, read before the why is looked for
            if re.search(r"address (already )?in use", self._output_since_start(), re.IGNORECASE):
                raise PortTaken(self.port) from None
            raise ServerUnavailable(f"{self.kind} not ready ({e}): {self.log_tail()}") from None

    def _output_since_start(self) -> str:
        path = self.workdir / "server.log"
        with path.open("rb") as f:
            f.seek(self._log_from)
            return f.read().decode(errors="replace")

    def log_tail(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                wait_exit(self.proc, 20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                wait_exit(self.proc, 20)
        self._close_output()
        self.proc = None

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            wait_exit(self.proc, 20)
        self._close_output()
        self.proc = None

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None

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
        db.unlink(missing_ok=True)  # a retry on a fresh port starts from an empty database
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
            done = run_process([*util, *args], timeout=60)
            if done.returncode != 0:
                raise ServerUnavailable(f"pdnsutil {' '.join(args)}: {done.stderr.strip()}")
        return [tools["pdns_server"], f"--config-dir={d}"]
