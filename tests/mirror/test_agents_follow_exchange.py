"""50 node agents (`dnsctl mirror --site eastus --source exchange`) follow one vantage (`dnsctl run --site
eastus`) through the exchange, with real docker-registry replicas and a real containerd pulling through
one agent's hosts.toml: the replicas see the vantage's probes only, and a pull succeeds after failover."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from dnsctl.controller.exchange import DirectoryExchange
from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.store import ZoneId
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, TOKEN, ZONE, free_port
from tests.mirror.conftest import IMAGE, REPLICAS, Lab, target, url

AGENTS = 50
INTERVAL = 2.0
WAIT = 300.0  # 50 processes start on a shared 2-core machine: generous bounds, never a fixed sleep
RG = "rg-eastus"


def config(lab: Lab, tmp: Path, emulator: AzureEmulator, hosts_dir: Path) -> Path:
    doc = {
        "sites": [{"name": "eastus", "region": "eastus"}],
        "exchange": {"kind": "directory", "path": str(tmp / "exchange")},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "failback_hold": "1h",
                "monitor": {
                    "protocol": "http",
                    "port": lab.port,
                    "interval": f"{INTERVAL}s",
                    "timeout": "1.5s",  # 52 processes share 2 cores: a probe may wait for the CPU
                    "fall": 2,
                    "rise": 2,
                },
                "endpoints": [
                    {"name": n, "target": target(n), "priority": i + 1} for i, n in enumerate(REPLICAS)
                ],
                "azure": [
                    {
                        "site": "eastus",
                        "subscription_id": SUB,
                        "resource_group": RG,
                        "zone": ZONE,
                        "record": "myregistry",
                    }
                ],
            }
        ],
        "azure": {"credential": "static", "base_url": emulator.base_url},
        "mirror": {"containerd": {"hosts_dir": str(hosts_dir)}},
    }
    path = hosts_dir.parent / "dnsctl.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Agent(Daemon):
    """A node agent started without waiting (fifty of them start at once), its admin API on a port the
    kernel picks (fifty ports picked beforehand could collide): read from its banner."""

    def __init__(self, cfg: Path, hosts_dir: Path) -> None:
        super().__init__(
            "mirror",
            "-c",
            str(cfg),
            "--site",
            "eastus",
            "--source",
            "exchange",
            admin_port=0,
            env={"DNSCTL_ADMIN__LISTEN": "127.0.0.1:0", "DNSCTL_ADMIN_TOKEN": TOKEN},
            log=cfg.parent / "agent.log",
        )
        self.hosts_dir = hosts_dir

    def listening(self) -> bool:
        """Whether the agent said where its admin API listens (then `get` goes there)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"agent exited ({self.proc.returncode}):\n{self.log()[-2000:]}")
        found = re.search(r"admin on (http://127\.0\.0\.1:\d+)", self.log())
        if found:
            self.admin = found.group(1)
        return found is not None

    def hosts(self) -> list[str]:
        import tomllib

        path = self.hosts_dir / "myregistry.azurecr.io" / "hosts.toml"
        return list(tomllib.loads(path.read_text()).get("host", {})) if path.exists() else []

    def mtime(self) -> float:
        return (self.hosts_dir / "myregistry.azurecr.io" / "hosts.toml").stat().st_mtime


def probes_seen(lab: Lab) -> int:
    """Requests from a dnsctl probe that the replicas answered: their access log lines (combined log
    format) whose User-Agent, the last field, is dnsctl's."""
    return sum(
        1
        for r in lab.registries.values()
        for line in r.log().splitlines()
        if line.startswith("127.") and '" "dnsctl' in line
    )


def metric(d: Daemon, name: str) -> float:
    for line in d.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def decided(lab: Lab, tmp: Path) -> list[str]:
    """The mirror order in site eastus's decision, as its vantage last wrote it to the exchange."""
    got = asyncio.run(DirectoryExchange(tmp / "exchange", ("eastus",)).read_decision("eastus"))
    assert got.decision is not None, got.problem
    return [url(lab, n) for n in got.decision.profiles[0].mirror]


def all_agents(agents: list[Agent], check: Callable[[Agent], bool]) -> Callable[[], bool]:
    return lambda: all(check(a) for a in agents)


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator() as emu:
        emu.add_zone(ZoneId(SUB, RG, ZONE))
        yield emu


# Fifty dnsctl processes starting load every core for a while: other tests' waits would run out.
@pytest.mark.alone
def test_fifty_agents_follow_the_vantage_and_send_the_registry_nothing(
    lab: Lab, tmp_path: Path, emulator: AzureEmulator
) -> None:
    lab.heal()
    (tmp_path / "exchange").mkdir()
    before = probes_seen(lab)
    port = free_port()
    vantage = Daemon(
        "run",
        "-c",
        str(config(lab, tmp_path, emulator, tmp_path / "vantage" / "certs.d")),
        "--site",
        "eastus",
        admin_port=port,
        env={"DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{port}"},
        log=tmp_path / "vantage.log",
    )
    agents: list[Agent] = []
    try:
        vantage.start()
        vantage.wait_until(
            lambda: (tmp_path / "exchange" / "eastus.decision.json").is_file(), 60, "the site's decision"
        )
        for i in range(AGENTS):
            hosts_dir = tmp_path / f"node{i:02d}" / "certs.d"
            agents.append(Agent(config(lab, tmp_path, emulator, hosts_dir), hosts_dir))
        with ThreadPoolExecutor(max_workers=AGENTS) as pool:
            list(pool.map(Agent.spawn, agents))
        vantage.wait_until(all_agents(agents, Agent.listening), WAIT, "every agent's admin API")
        vantage.wait_until(
            lambda: all_agents(agents, lambda a: a.hosts() == decided(lab, tmp_path))(), WAIT, "every file"
        )
        vantage.wait_until(
            all_agents(agents, lambda a: a.get("/readyz").status_code == 200), WAIT, "every agent ready"
        )

        # The vantage stops (SIGSTOP): nothing probes now. The agents keep reading the exchange until
        # each of them finds the decision stale (3 intervals, 3 reads or more): the replicas see nothing.
        assert vantage.proc is not None
        quiet = probes_seen(lab)
        os.kill(vantage.proc.pid, signal.SIGSTOP)
        last = decided(lab, tmp_path)
        try:
            vantage.wait_until(
                all_agents(agents, lambda a: "stale after 3 intervals" in a.log()), WAIT, "stale everywhere"
            )
            assert probes_seen(lab) == quiet
            assert all(a.hosts() == last for a in agents)  # the last order is kept
        finally:
            os.kill(vantage.proc.pid, signal.SIGCONT)
        vantage.wait_until(
            all_agents(agents, lambda a: "following site eastus's decision again" in a.log()),
            WAIT,
            "every agent to follow again",
        )

        # eastus dies: the vantage moves the site off it, every agent's file follows, containerd pulls.
        lab.registries["eastus"].kill()
        east = url(lab, "eastus")

        def moved() -> float | None:
            order = decided(lab, tmp_path)
            if not order or east in order or not all(a.hosts() == order for a in agents):
                return None
            return max(a.mtime() for a in agents)

        written = vantage.wait_until(moved, WAIT, "every agent to move off eastus")
        [profile] = vantage.status()["profiles"]
        assert profile["decision"]["endpoints"][0] != "eastus"
        since = datetime.fromisoformat(profile["decision"]["since"]).timestamp()
        # Each agent reads once per interval: its file follows within about one interval of the
        # decision (plus the time to write it to the exchange, on a machine running 52 processes).
        assert written - since <= INTERVAL + 4.0, written - since
        pulled_before = lab.served()
        run = lab.containerd.pull(IMAGE, agents[0].hosts_dir, timeout=60)
        assert run.returncode == 0, run.stderr
        pulled = {n: c - pulled_before[n] for n, c in lab.served().items() if c > pulled_before[n]}
        assert list(pulled) == [decided(lab, tmp_path)[0].split("//")[1].split(".")[0]], pulled

        # Over the whole run, every probe the replicas answered came from the vantage: fifty probing
        # agents would have sent fifty times as many.
        sent = metric(vantage, "dnsctl_probes_sent_total")
        seen = probes_seen(lab) - before
        assert 0 < seen <= sent + len(REPLICAS), (seen, sent)
        for a in agents:
            assert a.proc is not None and a.proc.poll() is None, a.log()[-2000:]
    finally:
        with ThreadPoolExecutor(max_workers=AGENTS) as pool:
            list(pool.map(Agent.kill, agents))
        vantage.kill()
        lab.heal()
