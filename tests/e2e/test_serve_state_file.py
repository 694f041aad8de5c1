"""`dnsctl serve --state-file F` with every kind of bad F: the resolver starts and answers, the bad file
is kept aside (never read blindly, never overwritten), it is said loudly (log ERROR, /status), there is
no traceback, and a drain stored in the good file written next survives a restart."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPLICAS, free_port
from tests.e2e.test_serve_e2e import answer, serve_config
from tests.faults.kit import sample

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]
TOKEN = "serve-state-token"
GOOD_ENTRY = '{"e":{"eastus":{"s":"O","t":1700000000}},"st":1700000000,"v":1}'


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "leftover").write_text("x")


BAD: dict[str, Callable[[Path], object]] = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_text(json.dumps({"myregistry": GOOD_ENTRY})[:30]),
    "garbage": lambda p: p.write_bytes(b"\x00\xffnot json at all\x13"),
    "deeply nested": lambda p: p.write_text("[" * 500_000),
    "a directory": _directory,
    "a link to /dev/zero": lambda p: p.symlink_to("/dev/zero"),
}


def start(tmp_path: Path, replicas: Replicas, state: Path, log: str) -> tuple[Daemon, int]:
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    d = Daemon(
        "serve",
        "-c",
        str(cfg),
        "--state-file",
        str(state),
        admin_port=admin_port,
        env={"DNSCTL_ADMIN_TOKEN": TOKEN},
        log=tmp_path / log,
    ).start()
    d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
    return d, dns_port


def ready_metric_matches(d: Daemon) -> bool:
    ready = d.get("/readyz").status_code == 200
    return sample(d.get("/metrics").text, "dnsctl_ready") == (1.0 if ready else 0.0)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_state_file_never_stops_the_resolver_and_is_kept_aside(
    tmp_path: Path, replicas: Replicas, case: str
) -> None:
    state = tmp_path / "state.json"
    BAD[case](state)
    d, dns_port = start(tmp_path, replicas, state, "serve1.log")
    try:
        assert answer(dns_port) == (EAST, ["127.0.0.2"])
        aside = [n for n in os.listdir(tmp_path) if n.startswith("state.json.corrupt-")]
        assert len(aside) == 1, os.listdir(tmp_path)
        problem = d.status()["state"]["problem"]
        assert problem and str(state) in problem and aside[0] in problem
        assert f"ERROR dnsctl.state: state file {state} is unusable" in d.log()
        assert sample(d.get("/metrics").text, "dnsctl_state_problem") == 1
        assert ready_metric_matches(d)

        drain = "/v1/profiles/myregistry/endpoints/eastus/drain"
        assert d.post(drain, token=TOKEN).status_code == 200
        assert answer(dns_port)[0] == WEST
        assert d.terminate() == 0
        assert "Traceback" not in d.log()
    finally:
        d.kill()
    assert os.path.lexists(tmp_path / aside[0]), "the bad file is still kept aside"
    assert json.loads(state.read_text())["myregistry"], "a good file took its place"

    d, dns_port = start(tmp_path, replicas, state, "serve2.log")
    try:
        assert d.status()["profiles"][0]["overrides"] == {"eastus": "down"}
        assert d.status()["state"]["problem"] is None
        assert answer(dns_port)[0] == WEST
        assert d.terminate() == 0
        assert "Traceback" not in d.log()
    finally:
        d.kill()


def test_a_state_file_naming_a_target_the_configuration_lacks_is_never_served(
    tmp_path: Path, replicas: Replicas
) -> None:
    evil = {
        "v": 1,
        "st": 1_700_000_000,
        "e": {"eastus": {"s": "D", "t": 1_700_000_000}, "westeurope": {"s": "O", "t": 1_700_000_000}},
        "d": {"k": "all-down", "e": [], "fb": "evil.example", "t": 1_700_000_000, "kc": 1},
        "o": {"eastus": "down", "intruder": "up"},
    }
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"myregistry": json.dumps(evil), "ghost": json.dumps(evil)}))
    d, dns_port = start(tmp_path, replicas, state, "serve.log")
    try:
        got = answer(dns_port)
        assert got == (WEST, ["127.0.0.3"]), "the drain is kept; the fallback target is not"
        log = d.log()
        assert "dropped fallback target 'evil.example'" in log
        assert "dropped the override of endpoint 'intruder'" in log and "dropped profile 'ghost'" in log
        warnings = d.status()["state"]["warnings"]
        assert any("evil.example" in w for w in warnings)
        assert d.status()["profiles"][0]["overrides"] == {"eastus": "down"}
        assert d.terminate() == 0
    finally:
        d.kill()
    assert "evil.example" not in state.read_text() and "ghost" not in state.read_text()
