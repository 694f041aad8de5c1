"""The habits operators bring from Terraform and kubectl, through the real CLI against the emulator and
real `dnsctl run` / `serve` processes: `plan --detailed-exitcode`, `--profile` on plan and reconcile,
`dnsctl resync`, `status --watch`, and the same JSON keys across check, plan, reconcile and status."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import (
    REPLICAS,
    REPO,
    ZONE_ID,
    cname_of,
    dnsctl,
    free_port,
    profile_config,
    run_setup,
    write_config,
)
from tests.e2e.test_serve_e2e import serve_config
from tests.support.waits import wait_exit

EAST, WEST = REPLICAS["eastus"][0], REPLICAS["westeurope"][0]
ADMIN_TOKEN = "habits-admin-token"


def two_profiles(replicas: Replicas) -> list[dict[str, Any]]:
    first = profile_config(replicas.port, replicas.ca_file, fall=1, rise=1)
    second = copy.deepcopy(first)
    second["name"] = "other"
    second["fqdn"] = "other.azurecr.io"
    second["azure"]["record"] = "other"
    return [first, second]


def test_plan_detailed_exitcode_and_profile(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    cfg = str(write_config(tmp_path / "two.yaml", emulator, two_profiles(replicas)))

    # Nothing published yet: changes are pending. Without the flag a printed plan is still 0.
    assert dnsctl("plan", "-c", cfg).code == 0
    r = dnsctl("plan", "-c", cfg, "--detailed-exitcode", "--json")
    assert r.code == 2, r.stderr
    assert r.json()["exit_code"] == 2 and len(r.json()["changes"]) == 2

    # --profile: only that record is written, the other one is left alone.
    state = tmp_path / "state.json"
    r = dnsctl("reconcile", "-c", cfg, "--profile", "myregistry", "--state-file", str(state))
    assert r.code == 0, r.stderr
    assert cname_of(emulator, "myregistry") == EAST
    assert cname_of(emulator, "other") is None
    assert "other" not in r.stdout

    r = dnsctl("plan", "-c", cfg, "--detailed-exitcode", "--profile", "myregistry")
    assert r.code == 0, r.stdout + r.stderr
    assert dnsctl("plan", "-c", cfg, "--detailed-exitcode").code == 2  # `other` is still pending

    # A state file keeps the history of the profiles a --profile run left out.
    assert dnsctl("reconcile", "-c", cfg, "--state-file", str(state)).code == 0
    assert set(json.loads(state.read_text())) == {"myregistry", "other"}
    assert dnsctl("reconcile", "-c", cfg, "--profile", "other", "--state-file", str(state)).code == 0
    assert set(json.loads(state.read_text())) == {"myregistry", "other"}
    assert dnsctl("plan", "-c", cfg, "--detailed-exitcode").code == 0

    # Errors: an unknown profile is a configuration error (2), but 1 under --detailed-exitcode, where
    # 2 means changes; bad arguments likewise.
    r = dnsctl("plan", "-c", cfg, "--profile", "nosuch")
    assert r.code == 2 and "--profile: no profile named 'nosuch' (profiles: myregistry, other)" in r.stderr
    assert "Traceback" not in r.stderr
    r = dnsctl("reconcile", "-c", cfg, "--profile", "nosuch")
    assert r.code == 2 and "no profile named 'nosuch'" in r.stderr
    r = dnsctl("plan", "-c", cfg, "--profile", "nosuch", "--detailed-exitcode")
    assert r.code == 1 and "no profile named 'nosuch'" in r.stderr
    assert dnsctl("plan", "-c", cfg, "--detailed-exitcode", "--no-such-flag").code == 1
    assert dnsctl("plan", "-c", str(tmp_path / "missing.yaml"), "--detailed-exitcode").code == 1


def test_resync_corrects_drift_now_and_status_watch(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    profile = profile_config(replicas.port, replicas.ca_file, fall=1, rise=1)
    # The periodic resync is far away: only `dnsctl resync` can put the record back within the test.
    env = {"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN}
    setup = run_setup(tmp_path, emulator, [profile], env=env, resync_interval="1h")
    url = setup.url
    with setup.daemon() as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        d.wait_until(lambda: cname_of(emulator) == EAST, 20, "the first write")

        r = dnsctl("resync", "--url", url, env=env)
        assert r.code == 0, r.stderr
        assert "no drift" in r.stdout and "0 change(s) applied" in r.stdout

        current = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
        assert current is not None
        emulator.seed_record_set(
            ZONE_ID,
            "CNAME",
            "myregistry",
            {
                "ttl": 30,
                "cnameRecord": {"cname": "manual.example.com"},
                "metadata": current["properties"]["metadata"],
            },
        )
        # Without the token the action is refused and nothing is re-read.
        r = dnsctl("resync", "--url", url, env={"DNSCTL_ADMIN_TOKEN": ""})
        assert r.code == 1 and "HTTP 401" in r.stderr
        assert cname_of(emulator) == "manual.example.com"

        r = dnsctl("resync", "--url", url, env=env)
        assert r.code == 0, r.stderr
        assert "drift found: myregistry" in r.stdout and "1 change(s) applied" in r.stdout
        assert cname_of(emulator) == EAST  # put back by the time the command returned
        assert "operator action: resync" in d.log()

        watch_status(url, tmp_path)


def watch_status(url: str, tmp_path: Path) -> None:
    """`status --watch`: two frames, then Ctrl-C ends it cleanly (0, no traceback)."""
    err = (tmp_path / "watch.err").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsctl", "status", "--watch", "--interval", "0.2", "--url", url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    try:
        assert proc.stdout is not None
        frames: list[str] = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("Every 0.2s: dnsctl status"):
                frames.append("")
                if len(frames) == 3:  # the second frame is complete
                    break
            elif frames:
                frames[-1] += line
            assert time.monotonic() < deadline, "no two frames within 60 s"
        assert len(frames) == 3, f"the watch ended early ({wait_exit(proc, 10)})"
        for frame in frames[:2]:
            assert frame.lstrip().startswith("PROFILE"), frame
            assert "myregistry (myregistry.azurecr.io)" in frame and EAST in frame, frame
        proc.send_signal(signal.SIGINT)
        assert wait_exit(proc, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            wait_exit(proc, 10)
        err.seek(0)
        errors = err.read()
        err.close()
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors


def test_resync_on_serve_says_there_is_nothing_to_re_read(tmp_path: Path, replicas: Replicas) -> None:
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    env = {"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN}
    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, env=env, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        r = dnsctl("resync", "-c", str(cfg), env=env)  # the admin URL from the configuration
        assert r.code == 1
        assert "HTTP 409" in r.stderr and "no published record to re-read" in r.stderr
        assert "Traceback" not in r.stderr


def test_the_same_json_keys_in_check_plan_reconcile_and_status(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    setup = run_setup(
        tmp_path,
        emulator,
        [profile_config(replicas.port, replicas.ca_file, fall=1, rise=1)],
        name="keys.yaml",
    )
    cfg = str(setup.cfg)
    docs = {}
    for command in ("check", "plan", "reconcile"):
        r = dnsctl(command, "-c", cfg, "--json")
        assert r.code == 0, r.stderr
        docs[command] = r.json()
    with setup.daemon() as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        r = dnsctl("status", "-c", cfg, "--json")
        assert r.code == 0, r.stderr
        docs["status"] = r.json()

    shared = {"profiles", "isolated"}
    for command, doc in docs.items():
        assert shared <= set(doc), f"{command} --json lacks {shared - set(doc)}"
        assert isinstance(doc["isolated"], bool)
    profile_keys = {c: set(doc["profiles"][0]) for c, doc in docs.items()}
    endpoint_keys = {c: set(doc["profiles"][0]["endpoints"][0]) for c, doc in docs.items()}
    decision_keys = {c: set(doc["profiles"][0]["decision"]) for c, doc in docs.items()}
    doc_keys = {"name", "fqdn", "routing", "target_kind", "decision", "views", "overrides", "endpoints"}
    assert doc_keys == profile_keys["check"]
    assert profile_keys["plan"] == profile_keys["reconcile"] == profile_keys["check"]
    # `status` of `run` adds what only a running controller knows (the record it last saw, drift).
    assert profile_keys["status"] - profile_keys["check"] == {"published", "drift", "history"}
    assert {doc["profiles"][0]["target_kind"] for doc in docs.values()} == {"azure"}
    for command in ("plan", "reconcile", "status"):
        assert set(docs[command]["state"]) >= {"kind", "problem", "warnings"}, command
    for keys in (endpoint_keys, decision_keys):
        assert len({frozenset(k) for k in keys.values()}) == 1, keys


def test_resync_on_mirror_rewrites_an_edited_file(tmp_path: Path, replicas: Replicas) -> None:
    admin_port = free_port()
    doc = serve_config(replicas, free_port(), admin_port)
    del doc["resolver"]
    # One probe round, then none for a minute: only `resync` can put the file back within the test.
    doc["profiles"][0]["monitor"].update(interval="60s", timeout="5s")  # type: ignore[index]
    doc["mirror"] = {"containerd": {"hosts_dir": str(tmp_path / "certs.d")}}
    cfg = tmp_path / "mirror.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    hosts = tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"
    env = {"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN}
    with Daemon("mirror", "-c", str(cfg), admin_port=admin_port, env=env, log=tmp_path / "mirror.log") as d:
        d.wait_until(lambda: hosts.exists() and EAST in hosts.read_text(), 30, "the first file")
        written = hosts.read_text()
        r = dnsctl("resync", "--url", f"http://127.0.0.1:{admin_port}", env=env)
        assert r.code == 0, r.stderr
        assert f"re-read 1 file(s): {hosts} (unchanged)" in r.stdout
        # Someone edits the managed file by hand; the next decision change may be hours away.
        hosts.write_text(written.replace(EAST, "edited.example.com"))
        r = dnsctl("resync", "--url", f"http://127.0.0.1:{admin_port}", env=env)
        assert r.code == 0, r.stderr
        assert f"re-read 1 file(s): {hosts} (written)" in r.stdout, d.log()[-3000:]
        assert hosts.read_text() == written
