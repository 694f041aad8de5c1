"""`dnsctl serve` behind real caching resolvers (unbound, dnsmasq) forwarding everything to it, as deployed.

The cache asks for a CNAME's target apart and keeps answers for their TTL: its clients must get the
steered addresses, the steered target's own name must give the same ones (never the upstream's), a
steered "no data" must be cached as a negative answer, and a failover must reach them within the TTL.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import yaml

from tests.differential.servers import UNBOUND_CONF, Process
from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPLICAS, free_port
from tests.e2e.test_serve_e2e import answer, serve_config
from tests.faults.kit import sample
from tests.resolver.conftest import UpstreamProcess
from tests.support.system_packages import ensure_command

EAST, WEST = REPLICAS["eastus"], REPLICAS["westeurope"]
FQDN = "myregistry.azurecr.io"
TTL = 5  # the steered TTL of serve_config


def binary(name: str) -> str:
    return ensure_command(name)


@contextlib.contextmanager
def serving(tmp_path: Path, replicas: Replicas) -> Iterator[tuple[Daemon, int]]:
    """`dnsctl serve` steering myregistry.azurecr.io, with a lab zone and an upstream that would answer
    192.0.2.N for any name (what a forwarded target would leak); yields it ready, and its DNS port."""
    upstream = UpstreamProcess("normal").start()
    try:
        dns_port, admin_port = free_port(), free_port()
        doc = serve_config(replicas, dns_port, admin_port)
        resolver = doc["resolver"]
        assert isinstance(resolver, dict)
        resolver["upstreams"] = [f"127.0.0.1:{upstream.port}"]
        resolver["zones"] = [
            {"name": "lab.internal", "records": [{"name": "@", "type": "A", "value": "10.0.0.1"}]}
        ]
        cfg = tmp_path / "serve.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
            d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
            yield d, dns_port
    finally:
        upstream.stop()


@contextlib.contextmanager
def running(name: str, args: list[str], directory: Path, port: int) -> Iterator[None]:
    process = Process(name, args, directory / f"{name}.log")
    try:
        process.wait_ready(port, "lab.internal")
        yield
    finally:
        process.stop()


def follows_failover(d: Daemon, replicas: Replicas, dns_port: int, cache_port: int) -> float:
    """Fail eastus; once dnsctl answers westeurope, the cache's clients must get it within the TTL (and
    some slack for a loaded machine). The seconds it took."""
    replicas.set("eastus", "503")
    d.wait_until(lambda: answer(dns_port) == (WEST[0], [WEST[1]]), 30, "the failover")
    switched = time.monotonic()
    d.wait_until(lambda: answer(cache_port) == (WEST[0], [WEST[1]]), TTL + 15, "the cache's clients")
    return time.monotonic() - switched


def addresses(port: int, name: str, tcp: bool = False) -> list[str]:
    reply = query(port, name, "A", tcp)
    owner = dns.name.from_text(name)
    return [rr.address for rrset in reply.answer if rrset.name == owner and rrset.rdtype == 1 for rr in rrset]


def query(port: int, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=3)


def txt_queries(d: Daemon) -> float:
    return sample(d.get("/metrics").text, "dnsctl_resolver_queries_total", qtype="TXT", rcode="NOERROR") or 0


def test_unbound_in_front_gets_the_steered_addresses_and_follows_a_failover(
    tmp_path: Path, replicas: Replicas
) -> None:
    unbound = binary("unbound")
    directory = tmp_path / "unbound"
    directory.mkdir()
    port = free_port()
    with serving(tmp_path, replicas) as (d, dns_port):
        conf = directory / "unbound.conf"
        conf.write_text(UNBOUND_CONF.format(port=port, dir=directory, upstream=dns_port))
        with running("unbound", [unbound, "-d", "-c", str(conf)], directory, port):
            # The steered name through the cache, over UDP and TCP.
            assert answer(port) == (EAST[0], [EAST[1]])
            assert answer(port, tcp=True) == (EAST[0], [EAST[1]])
            # Each endpoint's target asked for directly, through the cache and from dnsctl itself: its
            # configured address, the same data as the chain, never the upstream's 192.0.2.N.
            for target, ip in (EAST, WEST):
                assert addresses(port, target) == [ip], target
                assert addresses(dns_port, target) == [ip], target
                assert addresses(dns_port, target, tcp=True) == [ip], target

            # A steered "no data": its SOA is above the target and the cache keeps it as a negative answer.
            before = txt_queries(d)
            first = query(port, FQDN, "TXT")
            assert first.rcode() == dns.rcode.NOERROR
            assert [rrset.rdtype for rrset in first.answer] == [dns.rdatatype.CNAME]
            (soa,) = first.authority
            assert soa.rdtype == dns.rdatatype.SOA and soa.name != dns.name.from_text(FQDN)
            assert dns.name.from_text(EAST[0]).is_subdomain(soa.name)
            asked = txt_queries(d)
            assert asked > before
            again = query(port, FQDN, "TXT")
            assert again.rcode() == dns.rcode.NOERROR
            assert [r.rdtype for r in again.authority] == [dns.rdatatype.SOA]
            assert txt_queries(d) == asked, "unbound did not cache the steered negative answer"

            took = follows_failover(d, replicas, dns_port, port)
            print(f"unbound's clients followed {took:.1f} s after the failover (TTL {TTL} s)")
            # The target chosen before is still answered from its own address (a cache may hold the CNAME).
            assert addresses(port, EAST[0]) == [EAST[1]]
            assert addresses(dns_port, EAST[0]) == [EAST[1]]
        assert d.terminate() == 0


def test_dnsmasq_in_front_gets_the_steered_addresses_and_follows_a_failover(
    tmp_path: Path, replicas: Replicas
) -> None:
    dnsmasq = binary("dnsmasq")
    port = free_port()
    with serving(tmp_path, replicas) as (d, dns_port):
        args = [
            dnsmasq,
            "--keep-in-foreground",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--pid-file=",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            f"--server=127.0.0.1#{dns_port}",
        ]
        with running("dnsmasq", args, tmp_path, port):
            assert answer(port) == (EAST[0], [EAST[1]])
            assert answer(port, tcp=True) == (EAST[0], [EAST[1]])
            for target, ip in (EAST, WEST):
                assert addresses(port, target) == [ip], target
            took = follows_failover(d, replicas, dns_port, port)
            print(f"dnsmasq's clients followed {took:.1f} s after the failover (TTL {TTL} s)")
            assert addresses(port, EAST[0]) == [EAST[1]]
        assert d.terminate() == 0
