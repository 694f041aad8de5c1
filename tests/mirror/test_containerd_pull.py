"""`dnsctl mirror` against real containerd and real registries: which replica serves `ctr images pull`.

containerd reads the hosts.toml dnsctl keeps (`ctr images pull --hosts-dir`), the replica names resolve
to loopback through /etc/hosts, and each registry's access log says whether it served the manifest.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPO, TOKEN
from tests.mirror.conftest import IMAGE, Lab, hosts, url
from tests.support.waits import run_process

MONITOR_INTERVAL = 0.5
FALL = 2


def pull_served_by(lab: Lab, tmp: Path) -> tuple[str, float]:
    before = lab.served()
    started = time.monotonic()
    run = lab.containerd.pull(IMAGE, tmp / "certs.d", timeout=20)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    after = lab.served()
    served = [n for n in after if after[n] > before[n]]
    assert len(served) == 1, (before, after)
    return served[0], took


def test_the_preferred_replica_serves_the_pull(lab: Lab, agent: Daemon, tmp_path: Path) -> None:
    assert pull_served_by(lab, tmp_path)[0] == "eastus"
    status = agent.status()
    [profile] = status["profiles"]
    assert profile["mirror_files"][0]["hosts"] == [url(lab, n) for n in lab.registries]
    shown = run_process(
        [sys.executable, "-m", "dnsctl", "status", "--url", agent.admin],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert f"mirror: myregistry: {tmp_path / 'certs.d'}" in shown
    path = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    path.write_text(path.read_text().split("[host.")[0])  # a hand edit that drops every mirror
    agent.wait_until(lambda: hosts(tmp_path) == [url(lab, n) for n in lab.registries], 5, "the file put back")


def test_a_killed_replica_leaves_the_top_within_fall_intervals(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].kill()
    killed = time.monotonic()
    agent.wait_until(lambda: hosts(tmp_path)[:1] == [url(lab, "westeurope")], 10, "westeurope first")
    assert time.monotonic() - killed <= FALL * MONITOR_INTERVAL + 1.0
    assert url(lab, "eastus") not in hosts(tmp_path)
    assert pull_served_by(lab, tmp_path)[0] == "westeurope"
    assert "mirror change: profile=myregistry runtime=containerd" in agent.log()
    metrics = agent.get("/metrics").text
    assert (
        'dnsctl_mirror_writes_total{outcome="written",profile="myregistry",runtime="containerd"}' in metrics
    )


def test_a_frozen_replica_costs_the_next_pull_under_two_seconds(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].freeze()  # accepts connections (the kernel does), never answers
    agent.wait_until(lambda: hosts(tmp_path)[:1] == [url(lab, "westeurope")], 10, "westeurope first")
    served, took = pull_served_by(lab, tmp_path)
    assert served == "westeurope"
    assert took < 2.0


def test_a_recovered_replica_comes_back_first_only_after_the_hold(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].kill()
    agent.wait_until(lambda: hosts(tmp_path)[:1] == [url(lab, "westeurope")], 10, "westeurope first")
    lab.registries["eastus"].start()
    agent.wait_until(lambda: url(lab, "eastus") in hosts(tmp_path), 10, "eastus listed again")
    back = time.monotonic()
    assert hosts(tmp_path)[0] == url(lab, "westeurope")  # Online again, not yet preferred
    agent.wait_until(lambda: hosts(tmp_path)[:1] == [url(lab, "eastus")], 10, "failback to eastus")
    assert time.monotonic() - back >= 3.0 - MONITOR_INTERVAL  # failback_hold 3s
    assert pull_served_by(lab, tmp_path)[0] == "eastus"


def test_a_drained_replica_is_not_listed(lab: Lab, agent: Daemon, tmp_path: Path) -> None:
    r = agent.post("/v1/profiles/myregistry/endpoints/eastus/drain", token=TOKEN)
    assert r.status_code == 200, r.text
    assert hosts(tmp_path) == [url(lab, "westeurope"), url(lab, "southeastasia")]
    assert pull_served_by(lab, tmp_path)[0] == "westeurope"
    agent.post("/v1/profiles/myregistry/endpoints/eastus/undrain", token=TOKEN)
    agent.wait_until(lambda: hosts(tmp_path)[:1] == [url(lab, "eastus")], 10, "eastus back after undrain")


def test_every_replica_down_keeps_the_file_as_it_is(lab: Lab, agent: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    before = path.read_text()
    for r in lab.registries.values():
        r.kill()
    # Refused connections prove the node's network works: the replicas are down, keep-last applies.
    agent.wait_until(lambda: "no endpoint Online" in agent.log(), 10, "every replica Degraded")
    # Several more rounds (fall is 2 at 0.5 s) with every replica failing: the file never changes.
    watch_until = time.monotonic() + 4 * MONITOR_INTERVAL
    while time.monotonic() < watch_until:
        assert path.read_text() == before
        time.sleep(0.1)
    assert not agent.status()["isolated"]
