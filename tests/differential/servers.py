"""NSD (authoritative, the zones of zones.py) and unbound (forwarding to it) as real processes on loopback.

Each gets its own configuration and directory under the test's temporary directory, with no chroot and
no change of user, so nothing of a system installation (its service, its port 53) is used or touched.
The signed zones are signed in the fixture with keys made by ldns-keygen.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from dnsctl.core.model import ResolverSpec
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import ResolverServer, SteeringTable
from tests.differential import zones
from tests.support.system_packages import ensure_commands
from tests.support.waits import run_process, wait_exit, wait_in_file

START_TIMEOUT = 15.0
# What each server writes to its log once it serves.
READY = {"nsd": r"nsd started", "unbound": r"start of service", "dnsmasq": r"started, version"}
TOOLS = ("nsd", "nsd-checkconf", "unbound", "ldns-keygen", "ldns-signzone")


class ServerUnavailable(RuntimeError):
    pass


def tool(name: str) -> str:
    """The program's path; the first call installs every missing one of TOOLS (one apt-get)."""
    return ensure_commands(*TOOLS)[name]


def free_port() -> int:
    """A port free for UDP and TCP on 127.0.0.1 (the servers bind it themselves right after)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def _run(args: list[str], cwd: Path) -> str:
    done = run_process(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise ServerUnavailable(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def sign(directory: Path, origin: str, text: str, *, nsec3: bool) -> Path:
    """Write the zone and sign it with a fresh KSK and ZSK (ECDSA P-256); returns the signed file."""
    unsigned = directory / f"{origin}.zone"
    unsigned.write_text(text)
    keygen = tool("ldns-keygen")
    ksk = _run([keygen, "-a", "ECDSAP256SHA256", "-k", origin], directory)
    zsk = _run([keygen, "-a", "ECDSAP256SHA256", origin], directory)
    args = [tool("ldns-signzone"), "-e", "20400101000000"]
    if nsec3:
        args += ["-n", "-t", "0"]
    _run([*args, unsigned.name, zsk, ksk], directory)
    return directory / f"{origin}.zone.signed"


class Process:
    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                wait_exit(self.popen, 5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                wait_exit(self.popen, 5)
        self._log_file.close()

    def wait_ready(self, port: int, name: str) -> None:
        """Until the server has said it serves (READY, in its log) and answers an SOA query for `name`;
        re-checked on each write to its log, failed as soon as it exits or after the start timeout."""
        said = READY[self.name]
        query = dns.message.make_query(name, "SOA")

        def answers() -> bool:
            if not re.search(said, self.log.read_text(errors="replace")):
                return False
            reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=5.0)
            return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)

        try:
            wait_in_file(
                self.log,
                answers,
                START_TIMEOUT,
                f"{self.name} to answer for {name}",
                proc=self.popen,
                not_yet=(OSError, dns.exception.DNSException),
            )
        except AssertionError:
            self.stop()
            raise ServerUnavailable(f"{self.name} did not start: {self.log.read_text()[-2000:]}") from None


NSD_CONF = """server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{dir}"
  database: ""
  zonelistfile: "{dir}/zone.list"
  xfrdfile: "{dir}/xfrd.state"
  xfrdir: "{dir}"
  pidfile: "{dir}/nsd.pid"
  server-count: 1
  verbosity: 1
  hide-version: yes
  minimal-responses: yes
  refuse-any: no
  # Response rate limiting would drop some of the many similar queries the test and the bench send.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
{zones}"""

UNBOUND_CONF = """server:
  interface: 127.0.0.1
  port: {port}
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{dir}"
  pidfile: "{dir}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  so-reuseport: no
  outgoing-range: 64
  # A non-validating forwarder, like dnsctl: it passes DNSSEC records through and never sets AD.
  module-config: "iterator"
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  qname-minimisation: no
  minimal-responses: yes
  rrset-roundrobin: no
  edns-buffer-size: 1232
  # dnsctl never sends a UDP reply over 1232 bytes, whatever buffer the client announces.
  max-udp-size: 1232
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@{upstream}
"""


@contextlib.contextmanager
def authoritative(directory: Path) -> Iterator[int]:
    """NSD serving the zones of zones.py; yields its port."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "signed.example": sign(directory, "signed.example", zones.SIGNED, nsec3=False),
        "nsec3.example": sign(directory, "nsec3.example", zones.NSEC3, nsec3=True),
        "lab.example": directory / "lab.example.zone",
    }
    files["lab.example"].write_text(zones.UNSIGNED)
    zone_conf = "".join(f"zone:\n  name: {name}\n  zonefile: {path}\n" for name, path in files.items())
    nsd = tool("nsd")
    for _ in range(3):
        port = free_port()
        conf = directory / "nsd.conf"
        conf.write_text(NSD_CONF.format(port=port, dir=directory, zones=zone_conf))
        _run([tool("nsd-checkconf"), str(conf)], directory)  # a clear message for a bad configuration
        process = Process("nsd", [nsd, "-d", "-c", str(conf)], directory / "nsd.log")
        try:
            process.wait_ready(port, "signed.example")
        except ServerUnavailable:
            if "address already in use" in process.log.read_text().lower():
                continue
            raise
        try:
            yield port
        finally:
            process.stop()
        return
    raise ServerUnavailable("nsd found no free port")


@contextlib.contextmanager
def forwarder(directory: Path, upstream: int) -> Iterator[int]:
    """unbound forwarding everything to `upstream`; yields its port."""
    directory.mkdir(parents=True, exist_ok=True)
    unbound = tool("unbound")
    for _ in range(3):
        port = free_port()
        conf = directory / "unbound.conf"
        conf.write_text(UNBOUND_CONF.format(port=port, dir=directory, upstream=upstream))
        process = Process("unbound", [unbound, "-d", "-c", str(conf)], directory / "unbound.log")
        try:
            process.wait_ready(port, "signed.example")
        except ServerUnavailable:
            if "address already in use" in process.log.read_text().lower():
                continue
            raise
        try:
            yield port
        finally:
            process.stop()
        return
    raise ServerUnavailable("unbound found no free port")


class ResolverThread:
    """dnsctl's resolver on its own event loop in a thread, so the test can query it synchronously."""

    def __init__(self, spec: ResolverSpec) -> None:
        self.spec = spec
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: ResolverServer | None = None

    def start(self) -> int:
        self.thread.start()
        self.server = ResolverServer(self.spec, SteeringTable(), clock=SystemClock())
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server.bound[0][1]

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
