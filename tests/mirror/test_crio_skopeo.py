"""The CRI-O / podman drop-in `dnsctl mirror` keeps, used by real `skopeo copy --registries-conf`.

containers-image (skopeo, podman, CRI-O) tries a registry's mirrors in order: the same scenarios as
containerd's, read from the registries' access logs.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

from tests.e2e.daemon import Daemon
from tests.e2e.harness import TOKEN
from tests.mirror.conftest import Lab, target
from tests.support.system_packages import ensure_command
from tests.support.waits import run_process


def dropin(tmp: Path) -> Path:
    return tmp / "registries.conf.d" / "dnsctl-myregistry.azurecr.io.conf"


def mirrors(tmp: Path) -> list[str]:
    path = dropin(tmp)
    if not path.exists():
        return []
    return [m["location"] for m in tomllib.loads(path.read_text())["registry"][0].get("mirror", [])]


def loc(lab: Lab, name: str) -> str:
    return f"{target(name)}:{lab.port}"


def copy_served_by(lab: Lab, tmp: Path) -> tuple[str, float]:
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    dest = tmp / f"copy-{time.monotonic_ns()}"
    before = lab.served()
    started = time.monotonic()
    run = run_process(
        [
            ensure_command("skopeo"),  # installed from its Debian package when missing
            "--registries-conf",
            str(dropin(tmp)),
            "--policy",
            str(policy),
            "copy",
            "docker://myregistry.azurecr.io/app:1",
            f"dir:{dest}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    after = lab.served()
    served = [n for n in after if after[n] > before[n]]
    assert len(served) == 1, (before, after)
    return served[0], took


def test_the_preferred_replica_serves_the_copy(lab: Lab, agent: Daemon, tmp_path: Path) -> None:
    # Written right after hosts.toml, which the fixture waited for.
    agent.wait_until(lambda: mirrors(tmp_path) == [loc(lab, n) for n in lab.registries], 5, "the drop-in")
    assert copy_served_by(lab, tmp_path)[0] == "eastus"


def test_a_killed_replica_leaves_the_mirrors_and_the_next_serves(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].kill()
    agent.wait_until(lambda: mirrors(tmp_path)[:1] == [loc(lab, "westeurope")], 10, "westeurope first")
    assert copy_served_by(lab, tmp_path)[0] == "westeurope"


def test_a_frozen_replica_costs_the_next_copy_under_two_seconds(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].freeze()
    agent.wait_until(lambda: mirrors(tmp_path)[:1] == [loc(lab, "westeurope")], 10, "westeurope first")
    served, took = copy_served_by(lab, tmp_path)
    assert served == "westeurope"
    assert took < 2.0


def test_back_after_the_hold_and_a_drained_replica_is_not_listed(
    lab: Lab, agent: Daemon, tmp_path: Path
) -> None:
    lab.registries["eastus"].kill()
    agent.wait_until(lambda: mirrors(tmp_path)[:1] == [loc(lab, "westeurope")], 10, "westeurope first")
    lab.registries["eastus"].start()
    agent.wait_until(lambda: mirrors(tmp_path)[:1] == [loc(lab, "eastus")], 15, "failback to eastus")
    assert copy_served_by(lab, tmp_path)[0] == "eastus"
    r = agent.post("/v1/profiles/myregistry/endpoints/westeurope/drain", token=TOKEN)
    assert r.status_code == 200, r.text
    assert mirrors(tmp_path) == [loc(lab, "eastus"), loc(lab, "southeastasia")]
