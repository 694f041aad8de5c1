"""`dnsctl mirror --site S --source exchange` as real processes: node agents that follow their site's
decision from the exchange (written here through the real directory exchange) and probe nothing."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from dnsctl.controller.exchange import DirectoryExchange, decision_name
from dnsctl.core.mirror import ProfileDecision, SiteDecision
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, TOKEN, ZONE, common_free_port, dnsctl, free_port
from tests.support.registry import RegistryServer
from tests.support.waits import ACTIVITY

SITES = ("eastus", "westeurope")
REPLICAS = ("x", "y", "z")
INTERVAL = 1.0
WAIT = 60.0  # generous: other processes share the CPU


def target(name: str) -> str:
    return f"myregistry.{name}.geo.azurecr.io"


def url(name: str) -> str:
    return f"https://{target(name)}"


def write_config(tmp: Path, name: str, exchange: Path) -> Path:
    """One agent's configuration: the sites' shared one, with this node's runtime directory."""
    doc = {
        "sites": [{"name": s, "region": s} for s in SITES],
        "exchange": {"kind": "directory", "path": str(exchange)},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "monitor": {"protocol": "https", "interval": f"{INTERVAL}s", "timeout": "0.5s"},
                "endpoints": [
                    {"name": n, "target": target(n), "priority": i + 1} for i, n in enumerate(REPLICAS)
                ],
                "azure": [
                    {
                        "site": s,
                        "subscription_id": SUB,
                        "resource_group": f"rg-{s}",
                        "zone": ZONE,
                        "record": "myregistry",
                    }
                    for s in SITES
                ],
            }
        ],
        "mirror": {"containerd": {"hosts_dir": str(tmp / name / "certs.d")}},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def hosts(tmp: Path, name: str) -> list[str]:
    path = tmp / name / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    if not path.exists():
        return []
    return list(tomllib.loads(path.read_text()).get("host", {}))


def publish(exchange: Path, seq: int, order: tuple[str, ...], *, at: float | None = None) -> None:
    """Site eastus's decision, through the real exchange code (as its vantage writes it)."""
    decision = SiteDecision(
        "eastus",
        seq,
        time.time() if at is None else at,
        "cfg",
        (ProfileDecision("myregistry", order[:1], order, f"{order[0]} is first"),),
    )
    asyncio.run(DirectoryExchange(exchange, SITES).publish_decision(decision))
    ACTIVITY.bump()  # waits re-check what the agents did with it


class Vantage:
    """Stands in for site eastus's vantage: rewrites its decision every half interval, as `run --site`
    does, until told to stop (`order = None`: writes nothing, as a stopped vantage)."""

    def __init__(self, exchange: Path) -> None:
        self.exchange = exchange
        self.seq = 1
        self.order: tuple[str, ...] | None = ("x", "y", "z")
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a decision changed is never overwritten by an older one
        self._thread = threading.Thread(target=self._run, name="vantage stand-in", daemon=True)

    def start(self) -> Vantage:
        publish(self.exchange, self.seq, ("x", "y", "z"))
        self._thread.start()
        return self

    def decide(self, order: tuple[str, ...] | None) -> None:
        with self._lock:
            self.seq += 1
            self.order = order
            if order is not None:
                publish(self.exchange, self.seq, order)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL / 2):
            with self._lock:
                if self.order is not None:
                    publish(self.exchange, self.seq, self.order)
            ACTIVITY.bump()  # a stopped vantage's silence is what the agents react to: re-check them

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def has_hosts(tmp: Path, node: str, want: list[str]) -> Callable[[], bool]:
    return lambda: hosts(tmp, node) == want


def is_ready(d: Daemon) -> Callable[[], bool]:
    return lambda: d.get("/readyz").status_code == 200


def metric(d: Daemon, line_start: str) -> float:
    for line in d.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def vantage(tmp_path: Path) -> Iterator[Vantage]:
    (tmp_path / "exchange").mkdir()
    v = Vantage(tmp_path / "exchange").start()
    yield v
    v.stop()


def agent(cfg: Path, log: Path) -> Daemon:
    """A `dnsctl mirror --site eastus --source exchange` process (not started), its own admin port."""
    port = free_port()
    env = {"DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{port}", "DNSCTL_ADMIN_TOKEN": TOKEN}
    args = ("mirror", "-c", str(cfg), "--site", "eastus", "--source", "exchange")
    return Daemon(*args, admin_port=port, env=env, log=log)


@pytest.fixture
def agents(tmp_path: Path, vantage: Vantage) -> Iterator[list[Daemon]]:
    exchange = tmp_path / "exchange"
    out: list[Daemon] = []
    try:
        for i in range(3):
            cfg = write_config(tmp_path, f"node{i}", exchange)
            out.append(agent(cfg, tmp_path / f"node{i}.log").start())
        yield out
    finally:
        for d in out:
            d.kill()


def test_agents_follow_the_sites_decision_and_keep_the_last_order_when_it_cannot_be_read(
    tmp_path: Path, vantage: Vantage, agents: list[Daemon]
) -> None:
    exchange = tmp_path / "exchange"
    nodes = [f"node{i}" for i in range(len(agents))]
    first = [url(n) for n in ("x", "y", "z")]
    for node, d in zip(nodes, agents, strict=True):
        d.wait_until(has_hosts(tmp_path, node, first), WAIT, f"{node}'s first file")
        d.wait_until(is_ready(d), WAIT, "ready")
    status = agents[0].status()
    assert status["sites"]["evidence"] == ["myregistry: x, y, z (x is first)"]
    assert "following site eastus's decision (seq 1" in status["sites"]["rule"]
    assert "mirror change: profile=myregistry runtime=containerd" in agents[0].log()
    assert "reason=site eastus: x is first" in agents[0].log()

    # The site's decision changes: every agent follows within about one interval (one read each).
    published = time.monotonic()
    vantage.decide(("y", "z"))
    moved = [url("y"), url("z")]
    for node, d in zip(nodes, agents, strict=True):
        d.wait_until(has_hosts(tmp_path, node, moved), WAIT, f"{node} to follow")
    took = time.monotonic() - published
    assert took <= INTERVAL + 5.0, took  # one read per interval, plus a loaded machine's slack

    # Garbage where the decision was: the order is kept, /readyz says why, the log says it once.
    vantage.decide(None)
    (exchange / decision_name("eastus")).write_bytes(b"\x00garbage{")
    d = agents[0]
    d.wait_until(lambda: metric(d, 'dnsctl_exchange_reads_total{result="unreadable"}') >= 3, WAIT, "reads")
    ready = d.get("/readyz")
    assert ready.status_code == 503
    assert "decision cannot be read" in ready.text and "keeping the last order" in ready.text
    assert metric(d, "dnsctl_exchange_up ") == 0.0
    assert d.log().count("decision cannot be read") == 1
    assert all(hosts(tmp_path, node) == moved for node in nodes)

    # The exchange itself is gone: the same, with its own reason.
    shutil.rmtree(exchange)
    d.wait_until(lambda: "does not exist" in d.get("/readyz").text, WAIT, "the exchange to be missed")
    assert d.get("/readyz").status_code == 503
    assert all(hosts(tmp_path, node) == moved for node in nodes)

    # A decision older than 3 intervals (its vantage stopped writing) is not followed.
    exchange.mkdir()
    publish(exchange, vantage.seq, ("z", "x"), at=time.time() - 10 * INTERVAL)
    d.wait_until(lambda: "stale after 3 intervals" in d.get("/readyz").text, WAIT, "a stale decision")
    assert metric(d, 'dnsctl_decision_age_seconds{site="eastus"}') >= 10 * INTERVAL
    assert all(hosts(tmp_path, node) == moved for node in nodes)

    # Fresh again: followed, and ready.
    vantage.decide(("z", "x"))
    for node, a in zip(nodes, agents, strict=True):
        a.wait_until(has_hosts(tmp_path, node, [url("z"), url("x")]), WAIT, "follow again")
    d.wait_until(lambda: d.get("/readyz").status_code == 200, WAIT, "ready again")
    assert metric(d, "dnsctl_exchange_up ") == 1.0
    assert "following site eastus's decision again (seq 4)" in d.log()
    # Drains belong to the vantage: the agent refuses them, saying where to go.
    refused = d.post("/v1/profiles/myregistry/endpoints/x/drain", token=TOKEN)
    assert refused.status_code == 409
    assert "follows site eastus's decision from the exchange" in refused.text


def test_agent_flags_are_checked(tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    cfg = write_config(tmp_path, "node", exchange)
    got = dnsctl("mirror", "-c", str(cfg), "--source", "exchange")
    assert got.code == 2 and "--source exchange: name this node's site with --site NAME" in got.stderr
    got = dnsctl("mirror", "-c", str(cfg), "--source", "exchange", "--site", "nowhere")
    assert got.code == 2 and "'nowhere' names no site" in got.stderr
    got = dnsctl("mirror", "-c", str(cfg), "--source", "exchange", "--site", "eastus", "--state-file", "s")
    assert got.code == 2 and "keeps no health history" in got.stderr
    assert "Traceback" not in got.stderr
    no_sites = yaml.safe_load(cfg.read_text())
    del no_sites["sites"], no_sites["exchange"]
    for p in no_sites["profiles"]:
        del p["azure"]
    cfg.write_text(yaml.safe_dump(no_sites))
    got = dnsctl("mirror", "-c", str(cfg), "--source", "exchange", "--site", "eastus")
    assert got.code == 2 and "has no `exchange`" in got.stderr
    assert re.search(r"--source exchange", got.stderr)


def test_once_reads_the_decision_once_writes_and_exits(tmp_path: Path) -> None:
    """`mirror --once --source exchange`: one read, the files written from it, exit 0; a decision that
    cannot be read or is stale writes nothing and exits 1."""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    path = write_config(tmp_path, "node", exchange)
    doc = yaml.safe_load(path.read_text())
    interval = 30.0  # a decision is stale after 3 intervals: far longer than a loaded process's start
    doc["profiles"][0]["monitor"]["interval"] = f"{interval:g}s"
    path.write_text(yaml.safe_dump(doc))
    once = ("mirror", "-c", str(path), "--site", "eastus", "--source", "exchange", "--once")

    got = dnsctl(*once)
    assert got.code == 1, got.stderr
    assert "site eastus has published no decision yet; nothing written" in got.stderr
    assert hosts(tmp_path, "node") == []

    publish(exchange, 1, ("y", "x"))
    got = dnsctl(*once)
    assert got.code == 0, got.stderr
    assert hosts(tmp_path, "node") == [url("y"), url("x")]
    assert "written: myregistry:" in got.stdout
    got = dnsctl(*once, "--json")
    assert got.code == 0, got.stderr
    assert '"unchanged"' in got.stdout and '"exit_code": 0' in got.stdout

    publish(exchange, 2, ("x",), at=time.time() - 10 * interval)  # its vantage stopped long ago
    got = dnsctl(*once)
    assert got.code == 1 and "stale after 3 intervals" in got.stderr and "nothing written" in got.stderr
    (exchange / decision_name("eastus")).write_bytes(b"\x00garbage{")
    got = dnsctl(*once)
    assert got.code == 1 and "decision cannot be read" in got.stderr
    shutil.rmtree(exchange)
    got = dnsctl(*once)
    assert got.code == 1 and "does not exist" in got.stderr
    assert hosts(tmp_path, "node") == [url("y"), url("x")]  # left as written
    assert "Traceback" not in got.stderr


def test_an_agents_status_shows_the_decision_it_follows(tmp_path: Path) -> None:
    """/status and `dnsctl status` of an exchange agent: each profile's followed order, site, seq and
    age, not the CheckingEndpoint states of an engine that probes nothing."""
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    cfg = write_config(tmp_path, "node", exchange)
    with agent(cfg, tmp_path / "node.log") as d:
        [profile] = d.status()["profiles"]
        assert profile["follows"] is None and profile["endpoints"] == []
        publish(exchange, 7, ("y", "z", "x"))
        d.wait_until(has_hosts(tmp_path, "node", [url("y"), url("z"), url("x")]), WAIT, "the first file")
        [profile] = d.status()["profiles"]
        follows = profile["follows"]
        assert {k: v for k, v in follows.items() if k not in ("at", "age_seconds")} == {
            "site": "eastus",
            "seq": 7,
            "order": ["y", "z", "x"],
            "answer": ["y"],
            "fallback": None,
            "keep": False,
            "reason": "y is first",
        }
        assert 0 <= follows["age_seconds"] < WAIT and follows["at"].endswith("Z")
        assert profile["endpoints"] == [] and profile["decision"] is None
        text = dnsctl("status", "--url", d.admin, env={"DNSCTL_ADMIN_TOKEN": TOKEN})
        assert text.code == 0, text.stderr
        assert "-> y, z, x: site eastus's decision (seq 7, " in text.stdout
        assert "CheckingEndpoint" not in text.stdout


def test_a_probing_agent_with_a_site_probes_through_that_sites_addresses(tmp_path: Path) -> None:
    """`mirror --once --site S` (source probe): replica x answers at eastus's address, not westeurope's."""
    addresses = {
        "x": {"eastus": "127.0.0.81", "westeurope": "127.0.0.82"},
        "y": {"eastus": "127.0.0.83", "westeurope": "127.0.0.84"},
    }
    listening = ["127.0.0.81", "127.0.0.83", "127.0.0.84"]  # nothing at westeurope's address of x
    port = common_free_port([*listening, "127.0.0.82"])
    servers = [RegistryServer(ip, port).start() for ip in listening]
    try:
        cfg = write_config(tmp_path, "node", tmp_path / "exchange")
        doc = yaml.safe_load(cfg.read_text())
        [profile] = doc["profiles"]
        profile["monitor"] = {"protocol": "http", "port": port, "timeout": "0.5s", "fall": 1}
        profile["endpoints"] = [
            {"name": n, "target": target(n), "priority": i + 1}
            | {"addresses": {site: [ip] for site, ip in by_site.items()}}
            for i, (n, by_site) in enumerate(addresses.items())
        ]
        cfg.write_text(yaml.safe_dump(doc))
        at = f"http://{target('x')}:{port}", f"http://{target('y')}:{port}"
        got = dnsctl("mirror", "-c", str(cfg), "--once", "--site", "eastus")
        assert got.code == 0, got.stderr
        assert hosts(tmp_path, "node") == list(at)
        got = dnsctl("mirror", "-c", str(cfg), "--once", "--site", "westeurope")
        assert hosts(tmp_path, "node") == [at[1]], got.stderr
    finally:
        for s in servers:
            s.stop()
