"""`dnsctl serve` as a process: real DNS queries follow live replicas through failover and failback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPLICAS, free_port
from tests.resolver.conftest import UpstreamProcess

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]
FALL, RISE, HOLD = 3, 2, 1.0  # the hold's timing is tested on a manual clock; here it is seen to apply
TOKEN = "serve-admin-token"


def answer(port: int, tcp: bool = False) -> tuple[str, list[str]]:
    q = dns.message.make_query("myregistry.azurecr.io", "A")
    r = (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=2)
    cname = [
        str(rr.target).rstrip(".")
        for rrset in r.answer
        if rrset.rdtype == dns.rdatatype.CNAME
        for rr in rrset
    ]
    addrs = [rr.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset]
    return (cname[0] if cname else ""), addrs


def failures_served(replicas: Replicas, name: str) -> int:
    return sum(1 for r in replicas.servers[name].requests if r.path == "/v2/")


def serve_config(replicas: Replicas, dns_port: int, admin_port: int) -> dict[str, object]:
    return {
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "ttl": 5,
                "failback_hold": f"{HOLD}s",
                "monitor": {
                    "protocol": "https",
                    "port": replicas.port,
                    "interval": "500ms",
                    "timeout": "400ms",
                    "fall": FALL,
                    "rise": RISE,
                    "ca_file": replicas.ca_file,
                },
                "endpoints": [
                    {"name": name, "target": target, "priority": i + 1, "addresses": [ip]}
                    for i, (name, (target, ip)) in enumerate(REPLICAS.items())
                ],
            }
        ],
        "resolver": {"listen": [f"127.0.0.1:{dns_port}"]},
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
    }


def test_serve_steers_by_health(tmp_path: Path, replicas: Replicas) -> None:
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    state = tmp_path / "state.json"
    args = ("serve", "-c", str(cfg), "--state-file", str(state))
    env = {"DNSCTL_ADMIN_TOKEN": TOKEN}
    with Daemon(*args, admin_port=admin_port, env=env, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        assert answer(dns_port) == (EAST, ["127.0.0.2"])
        assert answer(dns_port, tcp=True) == (EAST, ["127.0.0.2"])

        replicas.set("eastus", "503")
        replicas.servers["eastus"].clear()
        seen_east_after_failure = False

        def moved() -> tuple[tuple[str, list[str]], int] | None:
            # Re-checked on each probe the replicas answer, so the answer is seen between the failures.
            nonlocal seen_east_after_failure
            got = answer(dns_port)
            failed = failures_served(replicas, "eastus")
            if got[0] == WEST:
                return got, failed
            seen_east_after_failure |= failed >= 1
            return None

        got, failed = d.wait_until(moved, 20, "the answer to move to westeurope")
        assert got == (WEST, ["127.0.0.3"]), d.log()[-3000:]
        assert failed >= FALL, "the answer moved before `fall` failed probes"
        assert seen_east_after_failure, "the answer moved on the first failure"
        # The reason as decided, kept in the history; the live one counts the failures since (one more
        # each interval), so it says FALL only when read within an interval of the move.
        prof = d.status()["profiles"][0]
        assert f"eastus Degraded after {FALL} failures (http-status 503)" in prof["history"][-1]["reason"]
        live = prof["decision"]["reason"]
        assert re.search(r"^eastus Degraded after \d+ failures \(http-status 503\)", live), live

        replicas.set("eastus", "healthy")
        held = d.wait_until(
            lambda: (
                "failback to it in" in d.status()["profiles"][0]["decision"]["reason"]
                and answer(dns_port)[0] == WEST
            ),
            20,
            "eastus Online again, held back by failback_hold",
        )
        assert held
        d.wait_until(lambda: answer(dns_port)[0] == EAST, 20, "the failback")
        prof = d.status()["profiles"][0]
        east = next(e for e in prof["endpoints"] if e["name"] == "eastus")
        assert prof["decision"]["endpoints"] == ["eastus"]
        online_since = time.mktime(time.strptime(east["since"], "%Y-%m-%dT%H:%M:%SZ"))
        decided = time.mktime(time.strptime(prof["decision"]["since"], "%Y-%m-%dT%H:%M:%SZ"))
        assert decided - online_since >= HOLD - 1, (
            "failed back before failback_hold"
        )  # 1 s: timestamps are whole

        metrics = d.get("/metrics").text
        assert 'dnsctl_failovers_total{profile="myregistry"} 1.0' in metrics
        assert 'dnsctl_failbacks_total{profile="myregistry"} 1.0' in metrics
        assert (
            'dnsctl_probe_failures_total{endpoint="eastus",profile="myregistry",reason="http-status"}'
            in metrics
        )
        assert "dnsctl_resolver_queries_total" in metrics

        # An operator drain moves the answer at once, needs the token, and survives a restart.
        drain = "/v1/profiles/myregistry/endpoints/eastus/drain"
        assert d.post(drain).status_code in (401, 403)
        assert d.post(drain, token=TOKEN).status_code == 200
        assert answer(dns_port)[0] == WEST
        assert d.terminate() == 0
    with Daemon(*args, admin_port=admin_port, env=env, log=tmp_path / "serve2.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness after restart")
        assert d.status()["profiles"][0]["overrides"] == {"eastus": "down"}
        assert answer(dns_port)[0] == WEST
        assert d.post("/v1/profiles/myregistry/endpoints/eastus/undrain", token=TOKEN).status_code == 200
        assert answer(dns_port)[0] == EAST
        assert d.terminate() == 0


def test_a_start_without_state_never_answers_with_a_replica_that_is_down(
    tmp_path: Path, replicas: Replicas
) -> None:
    # No state file, the preferred replica already down: the verdicts take `fall` rounds, but the
    # first answer already avoids the replica whose probe failed.
    replicas.set("eastus", "503")
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        first = d.wait_until(lambda: answer(dns_port), 15, "the first answer")
        assert first == (WEST, ["127.0.0.3"])
        assert d.terminate() == 0


FALLBACK = "myregistry.fallback.example"


def fallback_reply(port: int, *, rd: bool, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query("myregistry.azurecr.io", "A")
    if not rd:
        q.flags &= ~dns.flags.RD
    ask = dns.query.tcp if tcp else dns.query.udp
    return ask(q, "127.0.0.1", port=port, timeout=10)


@pytest.mark.parametrize("upstream", ["none", "failing"])
def test_fallback_is_answered_when_it_cannot_be_chased(
    tmp_path: Path, replicas: Replicas, upstream: str
) -> None:
    """Every replica down, `when_all_down: fallback`: the steered name's CNAME to the fallback is our own
    data, answered NOERROR and authoritative with or without RD, whether or not the fallback's own
    address can be looked up (no upstream, or one that fails)."""
    for name in REPLICAS:
        replicas.set(name, "503")
    dns_port, admin_port = free_port(), free_port()
    doc = serve_config(replicas, dns_port, admin_port)
    profile = doc["profiles"][0]  # type: ignore[index]
    profile.update({"when_all_down": "fallback", "fallback": FALLBACK})
    failing = None
    if upstream == "failing":
        failing = UpstreamProcess("servfail").start()
        doc["resolver"]["upstreams"] = [f"127.0.0.1:{failing.port}"]  # type: ignore[index]
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    try:
        with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
            d.wait_until(
                lambda: d.status()["profiles"][0]["decision"]["fallback"] == FALLBACK, 30, "the fallback"
            )
            for rd in (True, False):
                for tcp in (False, True):
                    reply = fallback_reply(dns_port, rd=rd, tcp=tcp)
                    where = f"rd={rd} tcp={tcp}: {reply}"
                    assert reply.rcode() == dns.rcode.NOERROR, where
                    assert reply.flags & dns.flags.AA, where
                    cnames = [
                        (str(rrset.name), str(rr.target))
                        for rrset in reply.answer
                        if rrset.rdtype == dns.rdatatype.CNAME
                        for rr in rrset
                    ]
                    assert cnames == [("myregistry.azurecr.io.", FALLBACK + ".")], where
            assert d.terminate() == 0
    finally:
        if failing is not None:
            failing.stop()


def test_serve_listens_before_it_logs_a_decision(tmp_path: Path, replicas: Replicas) -> None:
    """The log names the resolver's port before any verdict or decision: a decision is never logged as
    in force by a process that cannot be asked yet."""
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        d.wait_until(lambda: "answering on" in d.log(), 15, "the banner")
        assert d.terminate() == 0
    lines = d.log().splitlines()
    port_line = next(i for i, line in enumerate(lines) if f"127.0.0.1:{dns_port}" in line)
    decided = [i for i, line in enumerate(lines) if "decision" in line or "-> Online" in line]
    assert decided, d.log()
    assert port_line < decided[0], d.log()
    assert "listening" in lines[port_line], d.log()
