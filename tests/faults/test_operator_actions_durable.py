"""An operator's drain or undrain that does not change the decision is saved before it is acknowledged.

With the name on eastus, draining westeurope changes nothing published; the drain must still be in the
stored state (the record's metadata for `run`, the state file for `serve` and `mirror`) when the 200
goes out. Each test drains, restarts at once after the acknowledgement (a clean SIGTERM or a kill -9;
the issue's measure is within 100 ms, and at once leaves the process no time at all to save late),
fails eastus and checks that the drained westeurope is not chosen; then undrains, restarts the same
way, fails eastus again and checks that westeurope is chosen. Real processes, real replicas, the real
Azure SDK against the emulator (default resync_interval: only the action itself can have saved it).

A save that fails is never a 200: 503, the action shown pending in /status, saved by a later write.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import dnsctl, free_port
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, record, target

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")
TOKEN = "durable-admin-token"


class Lab:
    """One mode's daemon, restartable on the same configuration and state."""

    def __init__(
        self, mode: str, tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, **extra: Any
    ) -> None:
        self.mode, self.tmp_path, self.emulator = mode, tmp_path, emulator
        self.admin_port = free_port()
        self.state = tmp_path / "state" / "dnsctl-state.json"
        self.state.parent.mkdir()
        p = profile(NAME, replicas, fall=1, **extra)
        admin = {"listen": f"127.0.0.1:{self.admin_port}"}
        if mode == "run":
            # The default resync_interval (5 min): nothing but the action itself writes the state.
            self.cfg = config(tmp_path / "run.yaml", emulator, [p], admin=admin)
            self.extra: tuple[str, ...] = ()
        else:
            del p["azure"]
            doc: dict[str, Any] = {"profiles": [p], "admin": admin}
            if mode == "serve":
                doc["resolver"] = {"listen": [f"127.0.0.1:{free_port()}"]}
            else:
                doc["mirror"] = {"containerd": {"hosts_dir": str(tmp_path / "certs.d")}}
            self.cfg = tmp_path / f"{mode}.yaml"
            self.cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
            self.extra = ("--state-file", str(self.state))
        self.starts = 0
        self.daemons: list[Daemon] = []

    def start(self) -> Daemon:
        self.starts += 1
        d = Daemon(
            self.mode,
            "-c",
            str(self.cfg),
            *self.extra,
            admin_port=self.admin_port,
            env={"DNSCTL_ADMIN_TOKEN": TOKEN},
            log=self.tmp_path / f"{self.mode}{self.starts}.log",
        ).start()
        self.daemons.append(d)
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        return d

    def restart(self, d: Daemon, how: str) -> Daemon:
        if how == "sigterm":
            assert d.terminate() == 0, d.log()[-3000:]
        else:
            d.kill()
        return self.start()

    def act(self, d: Daemon, action: str, endpoint: str) -> None:
        r = d.post(f"/v1/profiles/{NAME}/endpoints/{endpoint}/{action}", token=TOKEN)
        assert r.status_code == 200, r.text
        assert "(saved)" in r.json()["message"], r.text

    def stored_overrides(self) -> dict[str, str]:
        if self.mode == "run":
            rs = record(self.emulator, NAME)
            assert rs is not None
            doc: dict[str, Any] = json.loads(rs["properties"]["metadata"]["dnsctl-state"])
        else:
            doc = json.loads(json.loads(self.state.read_text())[NAME])
        return dict(doc.get("o", {}))


def chosen(d: Daemon) -> list[str]:
    decision = d.status()["profiles"][0]["decision"]
    return list(decision["endpoints"]) if decision else []


def endpoint_status(d: Daemon, name: str) -> str:
    return str(next(e["status"] for e in d.status()["profiles"][0]["endpoints"] if e["name"] == name))


@pytest.fixture
def labs() -> Iterator[list[Lab]]:
    made: list[Lab] = []
    yield made
    for lab in made:
        for d in lab.daemons:
            d.kill()


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
@pytest.mark.parametrize("mode", ["run", "serve", "mirror"])
def test_a_drain_and_an_undrain_that_change_no_decision_survive_a_restart_right_after_the_answer(
    tmp_path: Path,
    emulator: WatchedEmulator,
    replicas: Replicas,
    labs: list[Lab],
    mode: str,
    how: str,
) -> None:
    lab = Lab(mode, tmp_path, emulator, replicas)
    labs.append(lab)
    d = lab.start()
    d.wait_until(lambda: chosen(d) == ["eastus"], 15, "eastus chosen")
    if mode == "run":
        d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")

    lab.act(d, "drain", "westeurope")
    assert chosen(d) == ["eastus"], "the drain of a non-chosen endpoint changes no decision"
    d = lab.restart(d, how)
    assert d.status()["profiles"][0]["overrides"] == {"westeurope": "down"}, "the drain was forgotten"
    assert lab.stored_overrides() == {"westeurope": "down"}

    replicas.set("eastus", "stopped")
    d.wait_until(lambda: endpoint_status(d, "eastus") != "Online", 15, "eastus to go down")
    assert "westeurope" not in chosen(d), "the name went to the drained endpoint"
    if mode == "run":
        assert cname(emulator, NAME) == EAST, "keep-last: the record stays, never on the drained one"
    replicas.set("eastus", "healthy")
    d.wait_until(lambda: endpoint_status(d, "eastus") == "Online", 15, "eastus back")
    d.wait_until(lambda: chosen(d) == ["eastus"], 15, "eastus chosen again")

    lab.act(d, "undrain", "westeurope")
    d = lab.restart(d, how)
    assert d.status()["profiles"][0]["overrides"] == {}, "the undrain was forgotten: the drain came back"
    assert lab.stored_overrides() == {}

    replicas.set("eastus", "stopped")
    d.wait_until(lambda: chosen(d) == ["westeurope"], 15, "the failover to the undrained westeurope")
    if mode == "run":
        d.wait_until(lambda: cname(emulator, NAME) == WEST, 15, "the record on westeurope")
        assert "state write: profile=myregistry" in "".join(x.log() for x in lab.daemons)
    assert "Traceback" not in "".join(x.log() for x in lab.daemons)


def test_run_answers_503_and_shows_the_drain_pending_when_the_metadata_write_fails(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, labs: list[Lab]
) -> None:
    lab = Lab("run", tmp_path, emulator, replicas)
    labs.append(lab)
    d = lab.start()
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")
    etag = record(emulator, NAME)["etag"]  # type: ignore[index]
    emulator.inject_error(1000, status=403, applies_to="write")
    r = d.post(f"/v1/profiles/{NAME}/endpoints/westeurope/drain", token=TOKEN)
    assert r.status_code == 503, r.text
    assert "NOT saved" in r.json()["error"] and "pending" in r.json()["error"]
    assert d.status()["state"]["pending"] == {NAME: f"the drain of {NAME}/westeurope"}
    assert record(emulator, NAME)["etag"] == etag  # type: ignore[index]
    assert d.status()["profiles"][0]["overrides"] == {"westeurope": "down"}, "in effect here"
    st = dnsctl("status", "--url", d.admin)
    assert f"WARNING: {NAME}: the drain of {NAME}/westeurope is in effect but NOT saved yet" in st.stdout

    emulator.clear_faults()
    # The failed write is tried again (backing off); once it lands the drain is saved and not pending.
    d.wait_until(lambda: lab.stored_overrides() == {"westeurope": "down"}, 30, "the retried write")
    d.wait_until(lambda: d.status()["state"]["pending"] == {}, 10, "pending cleared")
    assert cname(emulator, NAME) == EAST


def test_serve_answers_503_and_shows_the_drain_pending_when_the_state_file_cannot_be_written(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, labs: list[Lab]
) -> None:
    lab = Lab("serve", tmp_path, emulator, replicas)
    labs.append(lab)
    d = lab.start()
    d.wait_until(lambda: chosen(d) == ["eastus"], 15, "eastus chosen")
    shutil.rmtree(lab.state.parent)
    lab.state.parent.write_text("a file where the state file's directory was")
    r = d.post(f"/v1/profiles/{NAME}/endpoints/westeurope/drain", token=TOKEN)
    assert r.status_code == 503, r.text
    assert "NOT saved" in r.json()["error"] and str(lab.state) in r.json()["error"]
    assert d.status()["state"]["pending"] == {NAME: f"the drain of {NAME}/westeurope"}

    lab.state.parent.unlink()
    lab.state.parent.mkdir()
    # The next probe round's save writes the whole state, the drain with it.
    d.wait_until(lambda: d.status()["state"]["pending"] == {}, 15, "the next save")
    assert lab.stored_overrides() == {"westeurope": "down"}


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_run_an_undrain_that_changes_no_decision_survives_a_restart_right_after_the_answer(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, labs: list[Lab], how: str
) -> None:
    """With failback: manual, undraining eastus leaves the name on westeurope: only the state changes."""
    lab = Lab("run", tmp_path, emulator, replicas, failback="manual")
    labs.append(lab)
    d = lab.start()
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")
    lab.act(d, "drain", "eastus")
    assert cname(emulator, NAME) == WEST and lab.stored_overrides() == {"eastus": "down"}

    lab.act(d, "undrain", "eastus")
    assert chosen(d) == ["westeurope"], "failback is manual: the undrain changes no decision"
    d = lab.restart(d, how)
    assert d.status()["profiles"][0]["overrides"] == {}, "the undrain was forgotten: the drain came back"
    assert lab.stored_overrides() == {}
    d.wait_until(lambda: endpoint_status(d, "eastus") == "Online", 15, "eastus follows its probes")
    r = d.post(f"/v1/profiles/{NAME}/failback", token=TOKEN)
    assert r.status_code == 200, r.text
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the failback to the undrained eastus")
