"""Imported Traffic Manager profiles, served: `dnsctl serve` answers as Traffic Manager would.

For each fixture: `dnsctl import traffic-manager` (the real CLI), then the configuration is pointed at
loopback stand-ins (each endpoint's `addresses` set to its stand-in, the probe port and protocol to the
stand-ins', a 500 ms interval so that a test takes seconds; nothing else changes), `dnsctl serve` runs it,
and for each row of endpoint states the answers (dnspython, UDP) must become what Traffic Manager answers
for the same states. The expected answers are written from the Traffic Manager side: its endpoint names
and targets, read from the fixture, never from the imported configuration.

Down means the stand-in answers 503 (HTTP) or refuses the connection (TCP): the path works, so the
isolation guard stays out of it, as it does in Traffic Manager's world.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import common_free_port, free_port
from tests.support.registry import Behaviour, RegistryServer
from tests.support.waits import run_process

PROFILES = Path(__file__).parent / "profiles"
FQDN = "myregistry.azurecr.io"
UP, DOWN = "up", "down"


def tm_endpoints(name: str) -> dict[str, dict[str, Any]]:
    """Traffic Manager's endpoints of a fixture by name: its own view (target, status, subnets)."""
    doc = json.loads((PROFILES / f"{name}.json").read_text())
    return {ep["name"]: ep["properties"] for ep in doc["properties"]["endpoints"]}


class Served:
    """An imported profile served by a real `dnsctl serve`, with one stand-in per probed address."""

    def __init__(self, name: str, tmp_path: Path, stack: ExitStack) -> None:
        cfg_path = tmp_path / f"{name}.yaml"
        done = run_process(
            [
                *(sys.executable, "-m", "dnsctl", "import", "traffic-manager"),
                *(str(PROFILES / f"{name}.json"), "--fqdn", FQDN, "-o", str(cfg_path)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        cfg = yaml.safe_load(cfg_path.read_text())
        profile = cfg["profiles"][0]
        # One loopback address per TM endpoint target (a name, or an IP for MultiValue).
        self.loopback: dict[str, str] = {}
        hosts: list[str] = []
        for i, ep in enumerate(profile["endpoints"]):
            originals = ep.get("addresses") or [ep["target"]]
            mapped = []
            for j, original in enumerate(originals):
                host = f"127.0.{40 + i}.{10 + j}"
                self.loopback[original] = host
                mapped.append(host)
                hosts.append(host)
            ep["addresses"] = mapped
        port = common_free_port(hosts)
        self.servers = {
            original: stack.enter_context(RegistryServer(host, port))
            for original, host in self.loopback.items()
        }
        monitor = profile["monitor"]
        self.tcp = monitor["protocol"] == "tcp"
        monitor.update(port=port, interval="500ms", timeout="400ms")
        if not self.tcp:
            monitor["protocol"] = "http"
        self.dns_port, admin_port = free_port(), free_port()
        cfg["resolver"]["listen"] = [f"127.0.0.1:{self.dns_port}"]
        cfg["admin"] = {"listen": f"127.0.0.1:{admin_port}"}
        served = tmp_path / f"{name}-served.yaml"
        served.write_text(yaml.safe_dump(cfg))
        self.daemon = Daemon("serve", "-c", str(served), admin_port=admin_port, log=tmp_path / f"{name}.log")
        self.stack = stack

    def start(self) -> None:
        self.stack.enter_context(self.daemon)

    def set(self, states: dict[str, str]) -> None:
        """Stand-in states by TM target (or address): up or down."""
        for original, state in states.items():
            down = Behaviour.STOPPED if self.tcp else Behaviour.UNAVAILABLE
            self.servers[original].set_behaviour(Behaviour.HEALTHY if state == UP else down)

    def query(self, subnet: str | None = None) -> tuple[str, frozenset[str]]:
        """(CNAME target, A addresses) of one answer; `subnet` is sent as EDNS Client Subnet."""
        options: list[dns.edns.Option] = []
        if subnet is not None:
            address, prefix = subnet.split("/")
            options.append(dns.edns.ECSOption(address, int(prefix)))
        q = dns.message.make_query(FQDN, "A", use_edns=0, options=options)
        r = dns.query.udp(q, "127.0.0.1", port=self.dns_port, timeout=2)
        cname = [str(rr.target).rstrip(".") for s in r.answer if s.rdtype == dns.rdatatype.CNAME for rr in s]
        addrs = frozenset(rr.address for s in r.answer if s.rdtype == dns.rdatatype.A for rr in s)
        return (cname[0] if cname else ""), addrs

    def wait_for(self, check: Any, what: str) -> None:
        self.daemon.wait_until(check, 60, what)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


# Priority: eastus 1, westeurope 2 (Disabled), southeastasia 3, 'global fallback' 4 (alwaysServe).
PRIORITY_ROWS = [
    # (eastus, westeurope, southeastasia, global fallback) stand-ins -> Traffic Manager's answer
    ((UP, UP, UP, UP), "eastus"),
    ((DOWN, UP, UP, UP), "southeastasia"),  # westeurope is Disabled: skipped though it answers
    ((DOWN, UP, DOWN, DOWN), "global fallback"),  # alwaysServe: counted up whatever its probes say
    ((UP, UP, DOWN, DOWN), "eastus"),  # recovered: back at once (no failback hold in Traffic Manager)
]


def test_priority_answers_like_traffic_manager(tmp_path: Path, stack: ExitStack) -> None:
    tm = tm_endpoints("priority")
    s = Served("priority", tmp_path, stack)
    order = ["eastus", "westeurope", "southeastasia", "global fallback"]
    s.set(dict(zip((tm[n]["target"] for n in order), PRIORITY_ROWS[0][0], strict=True)))
    s.start()
    for states, expected in PRIORITY_ROWS:
        s.set(dict(zip((tm[n]["target"] for n in order), states, strict=True)))
        want = tm[expected]["target"]
        s.wait_for(lambda want=want: s.query()[0] == want, f"{states} -> {expected}")


def test_weighted_answers_only_available_endpoints(tmp_path: Path, stack: ExitStack) -> None:
    tm = tm_endpoints("weighted")
    targets = {n: p["target"] for n, p in tm.items()}
    s = Served("weighted", tmp_path, stack)
    s.start()
    rows = [
        ({}, {"eastus", "westeurope", "southeastasia"}),
        ({"westeurope": DOWN}, {"eastus", "southeastasia"}),
        (
            {"eastus": DOWN, "westeurope": DOWN, "southeastasia": DOWN},
            {"eastus", "westeurope", "southeastasia"},
        ),
    ]
    for downs, expected in rows:
        s.set({t: downs.get(n, UP) for n, t in targets.items()})
        want = {targets[n] for n in expected}

        def settled(want: set[str] = want) -> bool:
            return {s.query()[0] for _ in range(60)} == want

        # 60 draws with weights 70/20/10: every member shows up (a miss is ~2e-3 per row, retried).
        s.wait_for(settled, f"weighted answers {sorted(expected)}")
        assert {s.query()[0] for _ in range(40)} <= want, "never an endpoint Traffic Manager would not answer"


def test_multivalue_answers_every_healthy_address(tmp_path: Path, stack: ExitStack) -> None:
    tm = tm_endpoints("multivalue")
    s = Served("multivalue", tmp_path, stack)
    enabled = [p["target"] for p in tm.values() if p["endpointStatus"] == "Enabled"]
    assert "10.4.0.4" not in s.loopback, "the Disabled endpoint is not served"
    s.start()
    rows = [
        ({}, enabled),
        ({"10.2.0.4": DOWN}, ["10.1.0.4", "10.3.0.4"]),
        ({"10.1.0.4": DOWN, "10.2.0.4": DOWN, "10.3.0.4": DOWN}, enabled),  # all Degraded: all answered
    ]
    for downs, expected in rows:
        s.set({ip: downs.get(ip, UP) for ip in enabled})
        want = frozenset(s.loopback[ip] for ip in expected)
        s.wait_for(lambda want=want: s.query()[1] == want, f"multivalue answers {expected}")


def test_subnet_answers_by_client_subnet(tmp_path: Path, stack: ExitStack) -> None:
    tm = tm_endpoints("subnet")
    s = Served("subnet", tmp_path, stack)
    s.start()
    rows = [
        ("10.1.2.0/24", "My eastus endpoint"),
        ("10.2.200.0/24", "westeurope"),  # the range form 10.2.0.0-10.2.255.255
        ("192.168.7.0/24", "westeurope"),
        ("172.16.5.0/24", "everyone else"),  # in no subnet: the endpoint with an empty list
        (None, "everyone else"),  # the client's own address, 127.0.0.1, is in no subnet
    ]
    for subnet, expected in rows:
        want = tm[expected]["target"]
        s.wait_for(lambda subnet=subnet, want=want: s.query(subnet)[0] == want, f"{subnet} -> {expected}")


def test_performance_answers_the_endpoint_that_is_available(tmp_path: Path, stack: ExitStack) -> None:
    """Which of two healthy regions is "closest" differs by design (see the README); with one of them
    down, Traffic Manager and dnsctl both answer the other."""
    tm = tm_endpoints("performance")
    targets = {n: p["target"] for n, p in tm.items()}
    s = Served("performance", tmp_path, stack)
    s.set({targets["eastus"]: UP, targets["northeurope"]: DOWN})
    s.start()
    for down, expected in (("northeurope", "eastus"), ("eastus", "northeurope")):
        s.set({t: DOWN if n == down else UP for n, t in targets.items()})
        want = targets[expected]
        s.wait_for(lambda want=want: s.query()[0] == want, f"{down} down -> {expected}")
