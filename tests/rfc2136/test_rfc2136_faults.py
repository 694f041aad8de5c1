"""`dnsctl run` writing to a real primary (BIND, Knot, PowerDNS), killed with SIGKILL while its update is in
flight, and restarted while the primary cannot be read: 0 lost updates, 0 emptied records, 0 flips."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.rfc2136.harness import EAST, NAME, OWNER, WEST, query
from tests.rfc2136.proxy import HoldingProxy
from tests.rfc2136.servers import KEY_NAME, SECRET, ZONE, Primary

CONFIG = """\
profiles:
  - name: myregistry
    fqdn: myregistry.azurecr.io
    failback_hold: 1h
    monitor: {{protocol: tcp, port: {probe_port}, interval: 1s, timeout: 500ms, fall: 1, rise: 1}}
    endpoints:
      - {{name: eastus, target: {east}, priority: 1, addresses: [127.0.0.2]}}
      - {{name: westeurope, target: {west}, priority: 2, addresses: [127.0.0.3]}}
    rfc2136:
      server: 127.0.0.1:{dns_port}
      zone: {zone}
      record: myregistry
      tsig: {{name: {key}}}
      timeout: 2
isolation_guard: {{enabled: false}}
# The history is in the state file, saved before the write: a decision whose write was lost with the
# process is written after the first probe round of the restart, not at the next resync.
resync_interval: 1h
admin: {{listen: "127.0.0.1:{admin_port}"}}
"""


class Endpoints:
    """eastus and westeurope as TCP listeners on 127.0.0.2 and 127.0.0.3 (one port): closed is down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sockets: dict[str, socket.socket] = {}
        for name in ("eastus", "westeurope"):
            self.up(name)

    def up(self, name: str) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(({"eastus": "127.0.0.2", "westeurope": "127.0.0.3"}[name], self.port))
        s.listen(64)
        self.sockets[name] = s

    def down(self, name: str) -> None:
        self.sockets.pop(name).close()

    def close(self) -> None:
        for s in self.sockets.values():
            s.close()


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    e = Endpoints()
    yield e
    e.close()


@pytest.fixture
def proxied(primary: Primary) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(primary.port)
    yield proxy
    proxy.close()


def start_run(tmp_path: Path, proxy: HoldingProxy, endpoints: Endpoints, log: str) -> Daemon:
    admin_port = free_port()
    cfg = tmp_path / "dnsctl.yaml"
    cfg.write_text(
        CONFIG.format(
            probe_port=endpoints.port,
            east=EAST,
            west=WEST,
            dns_port=proxy.port,
            zone=ZONE,
            key=KEY_NAME,
            admin_port=admin_port,
        )
    )
    d = Daemon(
        "run",
        "-c",
        str(cfg),
        "--state-file",
        str(tmp_path / "state.json"),
        admin_port=admin_port,
        env={"DNSCTL_TSIG_SECRET": SECRET},
        log=tmp_path / log,
    )
    return d.start()


def owner_generation(primary: Primary) -> int:
    [text] = query(primary, OWNER, "TXT")
    return int(text.rsplit("generation=", 1)[1])


def kill_during_failover(tmp_path: Path, primary: Primary, proxy: HoldingProxy, endpoints: Endpoints) -> None:
    d = start_run(tmp_path, proxy, endpoints, "run1.log")
    try:
        d.wait_until(lambda: query(primary, NAME, "CNAME") == [EAST], 30, "the first write")
        proxy.hold_updates = True
        endpoints.down("eastus")
        assert proxy.arrived.wait(30), "the failover update never came"
    finally:
        d.kill()  # SIGKILL with the update in flight


def test_killed_with_the_update_held_back_loses_nothing_and_a_restart_converges(
    tmp_path: Path, primary: Primary, proxied: HoldingProxy, endpoints: Endpoints
) -> None:
    kill_during_failover(tmp_path, primary, proxied, endpoints)
    proxied.drop = True  # the update never reaches the server
    proxied.release.set()
    assert query(primary, NAME, "CNAME") == [EAST], "the record is whole, as it was"
    assert owner_generation(primary) == 1
    proxied.hold_updates = False
    d = start_run(tmp_path, proxied, endpoints, "run2.log")
    try:
        d.wait_until(lambda: query(primary, NAME, "CNAME") == [WEST], 30, "the failover after the restart")
        assert owner_generation(primary) == 2
        assert d.terminate() == 0
    finally:
        d.kill()


def test_killed_with_the_update_landing_afterwards_keeps_it_and_never_flips_back(
    tmp_path: Path, primary: Primary, proxied: HoldingProxy, endpoints: Endpoints
) -> None:
    kill_during_failover(tmp_path, primary, proxied, endpoints)
    proxied.release.set()  # the update reaches the server after the process died
    assert proxied.forwarded.wait(30)
    assert query(primary, NAME, "CNAME") == [WEST] and owner_generation(primary) == 2
    proxied.hold_updates = False
    endpoints.up("eastus")  # eastus is back; failback_hold is 1 h
    d = start_run(tmp_path, proxied, endpoints, "run2.log")
    try:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        d.wait_until(
            lambda: [e["status"] for e in d.status()["profiles"][0]["endpoints"]] == ["Online", "Online"],
            30,
            "both endpoints Online",
        )
        assert query(primary, NAME, "CNAME") == [WEST], "0 flips: the landed failover stands"
        assert owner_generation(primary) == 2, "the landed update is taken as dnsctl's own: no rewrite"
        assert d.terminate() == 0
    finally:
        d.kill()


def test_a_restart_while_the_primary_cannot_be_read_writes_nothing_then_converges(
    tmp_path: Path, primary: Primary, proxied: HoldingProxy, endpoints: Endpoints
) -> None:
    d = start_run(tmp_path, proxied, endpoints, "run1.log")
    try:
        d.wait_until(lambda: query(primary, NAME, "CNAME") == [EAST], 30, "the first write")
        assert d.terminate() == 0
    finally:
        d.kill()
    proxied.down = True
    d = start_run(tmp_path, proxied, endpoints, "run2.log")
    try:
        d.wait_until(lambda: proxied.refused >= 2, 30, "reads refused")
        assert d.get("/readyz").status_code != 200
        endpoints.down("eastus")  # a failover is due, but the stored state is unknown: nothing is written
        # The reads are retried 1, 2, 4, 8 s apart: the third refusal comes ~2 s (two probe intervals,
        # fall 1) after the cut; waiting for a fourth would only push the read that converges 8 s later.
        d.wait_until(lambda: proxied.refused >= 3, 30, "more reads refused")
        assert query(primary, NAME, "CNAME") == [EAST] and owner_generation(primary) == 1
        proxied.down = False
        d.wait_until(
            lambda: query(primary, NAME, "CNAME") == [WEST], 60, "the failover once the primary reads"
        )
        assert owner_generation(primary) == 2, "one write, nothing lost, nothing emptied"
        assert d.terminate() == 0
    finally:
        d.kill()
