"""`dnsctl serve` in a configuration with sites: each client is answered from the site its source
address is in, with that site's decision and that site's addresses.

A real `dnsctl serve --site a` (site a's vantage: it probes replicas at a's addresses, stand-ins on
loopback), real DNS queries from loopback source addresses in each site's `clients`, and site b's
vantage played by the test: it writes b's reports through the real directory exchange, as a vantage
does after each round.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from dnsctl.controller.exchange import DirectoryExchange
from dnsctl.core.health import MonitorStatus
from dnsctl.core.quorum import EndpointVerdict, VantageReport
from tests.e2e.daemon import Daemon
from tests.e2e.harness import common_free_port, dnsctl, free_port
from tests.support.registry import RegistryServer

FQDN = "myregistry.azurecr.io"
X, Y = "x.geo.test", "y.geo.test"
# Replica -> (target, the address by which each site's clients reach it).
REPLICAS = {
    "x": (X, {"a": "127.0.0.11", "b": "127.0.0.12"}),
    "y": (Y, {"a": "127.0.0.21", "b": "127.0.0.22"}),
}
CLIENT = {"a": "127.0.1.1", "b": "127.0.2.1", None: "127.0.0.1"}  # a source address in each site, and none
WAIT = 60.0  # generous: other processes share the CPU


class RemoteVantage:
    """Site b's vantage: publishes its verdicts to the exchange every 100 ms, as after each round."""

    def __init__(self, directory: Path, site: str) -> None:
        self.exchange = DirectoryExchange(directory, ("a", "b"))
        self.site = site
        self.statuses: dict[str, tuple[MonitorStatus, str | None]] = {
            "x": (MonitorStatus.ONLINE, None),
            "y": (MonitorStatus.ONLINE, None),
        }
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def say(self, endpoint: str, status: MonitorStatus, failure: str | None = None) -> None:
        self.statuses = {**self.statuses, endpoint: (status, failure)}

    async def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            seq += 1
            now = time.time()
            verdicts = tuple(
                EndpointVerdict(self.site, "myregistry", name, status, now, failure, answered=failure is None)
                for name, (status, failure) in self.statuses.items()
            )
            await self.exchange.publish(VantageReport(self.site, seq, now, "test", verdicts))
            self.published += 1
            await asyncio.sleep(0.1)  # a vantage's rounds are periodic

    def start(self) -> RemoteVantage:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def servers() -> Iterator[dict[str, RegistryServer]]:
    """Site a's paths to the replicas (site b's are judged by its own vantage, played by the test)."""
    ips = [by_site["a"] for _, by_site in REPLICAS.values()]
    port = common_free_port(ips)
    out: dict[str, RegistryServer] = {}
    try:
        for name, (target, by_site) in REPLICAS.items():
            out[name] = RegistryServer(by_site["a"], port, name=target).start()
        yield out
    finally:
        for s in out.values():
            s.stop()


def config(tmp_path: Path, port: int, dns_port: int, admin_port: int, **extra: Any) -> Path:
    doc: dict[str, Any] = {
        "sites": [{"name": "a", "clients": ["127.0.1.0/24"]}, {"name": "b", "clients": ["127.0.2.0/24"]}],
        "exchange": {"kind": "directory", "path": str(tmp_path / "exchange")},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": FQDN,
                "ttl": 5,
                "failback_hold": "0s",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": "1s",
                    "timeout": "500ms",
                    "fall": 2,
                    "rise": 1,
                },
                "endpoints": [
                    {
                        "name": name,
                        "target": target,
                        "priority": i + 1,
                        "addresses": {s: [ip] for s, ip in by.items()},
                    }
                    for i, (name, (target, by)) in enumerate(REPLICAS.items())
                ],
            }
        ],
        "resolver": {"listen": [f"127.0.0.1:{dns_port}"]},
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        **extra,
    }
    path = tmp_path / "serve-sites.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "exchange").mkdir(exist_ok=True)
    return path


def answer(dns_port: int, site: str | None) -> tuple[str, tuple[str, ...]]:
    """(CNAME target, A addresses) a client of `site` (None: in no site) gets for the steered name."""
    reply = dns.query.udp(
        dns.message.make_query(FQDN, "A"), "127.0.0.1", port=dns_port, timeout=5, source=CLIENT[site]
    )
    target, addresses = "", []
    for rrset in reply.answer:
        for rd in rrset:
            if rrset.rdtype == dns.rdatatype.CNAME:
                target = str(rd.target).rstrip(".")
            elif rrset.rdtype == dns.rdatatype.A:
                addresses.append(rd.address)
    return target, tuple(sorted(addresses))


def start_serve(tmp_path: Path, port: int, *flags: str) -> tuple[Daemon, int]:
    """`dnsctl serve` started on free ports (again on others when one was taken meanwhile, under load)."""
    for attempt in range(3):
        dns_port, admin_port = free_port(), free_port()
        cfg = config(tmp_path, port, dns_port, admin_port)
        serve = Daemon(
            "serve", "-c", str(cfg), *flags, admin_port=admin_port, log=tmp_path / f"serve{attempt}.log"
        )
        try:
            return serve.start(), dns_port
        except AssertionError:
            serve.kill()
            if "address in use" not in serve.log() or attempt == 2:
                raise
    raise AssertionError("unreachable")


def vantage_state(d: Daemon, name: str) -> str:
    return str(next(v["state"] for v in d.status()["sites"]["vantages"] if v["name"] == name))


def test_each_site_is_answered_with_its_own_decision_and_addresses(
    tmp_path: Path, servers: dict[str, RegistryServer]
) -> None:
    b = RemoteVantage(tmp_path / "exchange", "b")
    b.exchange.directory.mkdir(parents=True)
    b.start()
    serve, dns_port = start_serve(tmp_path, servers["x"].port, "--site", "a")
    try:

        def answers(want: dict[str | None, tuple[str, tuple[str, ...]]]) -> bool:
            return all(answer(dns_port, site) == expected for site, expected in want.items())

        # Every site on x, each through its own private endpoint; a client in no site: every address.
        serve.wait_until(
            lambda: answers(
                {
                    "a": (X, ("127.0.0.11",)),
                    "b": (X, ("127.0.0.12",)),
                    None: (X, ("127.0.0.11", "127.0.0.12")),
                }
            ),
            WAIT,
            "each site answered on x with its own address",
        )
        # Site b's vantage says x is down for b: only b's clients move, to b's address of y.
        b.say("x", MonitorStatus.DEGRADED, "connect-timeout")
        serve.wait_until(lambda: answer(dns_port, "b") == (Y, ("127.0.0.22",)), WAIT, "site b moved to y")
        assert answer(dns_port, "a") == (X, ("127.0.0.11",))
        assert answer(dns_port, None) == (X, ("127.0.0.11", "127.0.0.12"))
        # Logged with the evidence (the log is copied from the process's output as it comes).
        serve.wait_until(
            lambda: (
                "site b: myregistry -> y" in serve.log()
                and "x: down for site b (b: connect-timeout)" in serve.log()
            ),
            WAIT,
            "site b's change logged with its evidence",
        )
        # Site a's own path to x breaks: this vantage's probes move a's clients (and the default).
        servers["x"].set_behaviour("stopped")
        serve.wait_until(lambda: answer(dns_port, "a") == (Y, ("127.0.0.21",)), WAIT, "site a moved to y")
        assert answer(dns_port, "b") == (Y, ("127.0.0.22",))
        # b sees x again: b's clients fail back; a's stay on y while a's own probes fail.
        b.say("x", MonitorStatus.ONLINE)
        serve.wait_until(lambda: answer(dns_port, "b") == (X, ("127.0.0.12",)), WAIT, "site b back on x")
        assert answer(dns_port, "a") == (Y, ("127.0.0.21",))
        # b's vantage falls silent: stale after 3 intervals, and b keeps its last answer.
        b.stop()
        serve.wait_until(lambda: vantage_state(serve, "b") == "stale", WAIT, "b's vantage stale")
        assert answer(dns_port, "b") == (X, ("127.0.0.12",))
        assert answer(dns_port, "a") == (Y, ("127.0.0.21",))
        # a's vantage published its own verdicts for the others to read.
        stored = DirectoryExchange(tmp_path / "exchange", ("a", "b"))
        report = asyncio.run(stored.read()).reports["a"]
        assert {(v.endpoint, v.status) for v in report.verdicts} == {
            ("x", MonitorStatus.DEGRADED),
            ("y", MonitorStatus.ONLINE),
        }
    finally:
        b.stop()
        serve.kill()


def test_serve_without_site_answers_every_site_from_the_exchange(
    tmp_path: Path, servers: dict[str, RegistryServer]
) -> None:
    a = RemoteVantage(tmp_path / "exchange", "a")
    a.exchange.directory.mkdir(parents=True)
    a.start()
    b = RemoteVantage(tmp_path / "exchange", "b")
    b.say("x", MonitorStatus.DEGRADED, "http-status 503")
    b.start()
    serve, dns_port = start_serve(tmp_path, servers["x"].port)
    try:
        serve.wait_until(
            lambda: (
                answer(dns_port, "a") == (X, ("127.0.0.11",))
                and answer(dns_port, "b") == (Y, ("127.0.0.22",))
            ),
            WAIT,
            "a on x and b on y, each with its own address",
        )
        assert answer(dns_port, None)[0] == X  # this process's own probes (no site): x answers
        a.say("x", MonitorStatus.DEGRADED, "connect-timeout")
        serve.wait_until(lambda: answer(dns_port, "a") == (Y, ("127.0.0.21",)), WAIT, "site a moved to y")
        assert answer(dns_port, None)[0] == X
        serve.wait_until(lambda: "site a: myregistry -> y" in serve.log(), WAIT, "site a's change logged")
    finally:
        a.stop()
        b.stop()
        serve.kill()


def _problems(tmp_path: Path, doc_change: Any) -> str:
    cfg = config(tmp_path, 5000, 5353, 9153)
    doc = yaml.safe_load(cfg.read_text())
    doc_change(doc)
    cfg.write_text(yaml.safe_dump(doc))
    done = dnsctl("validate", "-c", str(cfg))
    assert done.code == 2, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr


def test_overlapping_site_clients_are_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["sites"][1]["clients"] = ["127.0.1.128/25"]

    err = _problems(tmp_path, change)
    assert "sites[1].clients[0]: '127.0.1.128/25' overlaps 127.0.1.0/24 of site 'a'" in err


def test_site_clients_overlapping_a_view_are_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["resolver"]["views"] = [
            {"name": "lab", "clients": ["127.0.0.0/8"], "prefer": {"myregistry": ["y"]}}
        ]

    err = _problems(tmp_path, change)
    assert "resolver.views[0].clients[0]: '127.0.0.0/8' overlaps 127.0.1.0/24 of site 'a'" in err


def test_a_view_named_like_a_site_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["resolver"]["views"] = [{"name": "b", "clients": ["10.9.0.0/16"]}]

    err = _problems(tmp_path, change)
    assert "resolver.views[0].name: 'b' is also a site" in err


def test_a_site_published_to_resolver_clients_only_is_valid(tmp_path: Path) -> None:
    cfg = config(tmp_path, 5000, 5353, 9153)
    done = dnsctl("validate", "-c", str(cfg))
    assert done.code == 0, done.stderr


def test_serve_site_naming_no_site_is_refused(tmp_path: Path) -> None:
    cfg = config(tmp_path, 5000, free_port(), free_port())
    done = dnsctl("serve", "-c", str(cfg), "--site", "northpole")
    assert done.code == 2
    assert "--site: 'northpole' names no site (sites: a, b)" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_sites_and_no_exchange_is_refused(tmp_path: Path) -> None:
    cfg = config(tmp_path, 5000, free_port(), free_port())
    doc = yaml.safe_load(cfg.read_text())
    doc["sites"] = doc["sites"][:1]
    del doc["exchange"]
    for ep in doc["profiles"][0]["endpoints"]:
        ep["addresses"] = {"a": ep["addresses"]["a"]}
    cfg.write_text(yaml.safe_dump(doc))
    done = dnsctl("serve", "-c", str(cfg))
    assert done.code == 2
    assert "exchange: `serve` answers each site's clients from its vantage's verdicts" in done.stderr
    assert "Traceback" not in done.stderr
