"""What the CLI tells an operator, through real `dnsctl` processes and a real controller's admin API: an
unknown profile is named as such, a failback on a `failback: auto` profile says there is nothing to do
(409), `status` does not claim to write DNS before the stored state is read, the global options work after
the command, and the emulator refuses a zone Azure could not hold or a port in use, without a traceback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsctl.documents.jsonable import to_object
from dnsctl.emulator import AzureEmulator
from tests.e2e.daemon import Daemon
from tests.e2e.harness import RG, SUB, ZONE, ZONE_ID, Result, dnsctl, free_port, write_config
from tests.support.waits import run_process

ADMIN_TOKEN = "operator-answers-token"
AS_OPERATOR = {"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN}


def profile(name: str, port: int, **extra: Any) -> dict[str, Any]:
    """Two endpoints on loopback addresses nothing listens on: probes fail fast, nothing leaves the host."""
    return {
        "name": name,
        "fqdn": f"{name}.azurecr.io",
        "monitor": {"protocol": "tcp", "port": port, "interval": "1s", "timeout": "500ms", "fall": 1},
        "endpoints": [
            {"name": region, "target": f"{name}.{region}.geo.azurecr.io", "priority": i, "addresses": [ip]}
            for i, (region, ip) in enumerate((("eastus", "127.0.0.2"), ("westeurope", "127.0.0.3")), 1)
        ],
        "azure": {"subscription_id": SUB, "resource_group": RG, "zone": ZONE, "record": name},
        **extra,
    }


@pytest.fixture
def emulator() -> Iterator[AzureEmulator]:
    with AzureEmulator() as emu:
        emu.add_zone(ZONE_ID)
        yield emu


def start_run(tmp_path: Path, emulator: AzureEmulator) -> Daemon:
    admin_port = free_port()
    port = free_port()
    cfg = write_config(
        tmp_path / "run.yaml",
        emulator,
        [profile("myregistry", port, failback="auto"), profile("manualreg", port, failback="manual")],
        admin={"listen": f"127.0.0.1:{admin_port}"},
    )
    return Daemon(
        "run", "-c", str(cfg), admin_port=admin_port, env=AS_OPERATOR, log=tmp_path / "run.log"
    ).start()


@pytest.fixture
def controller(tmp_path: Path, emulator: AzureEmulator) -> Iterator[Daemon]:
    d = start_run(tmp_path, emulator)
    try:
        d.wait_until(lambda: d.status()["state"]["read"], 30, "the stored state to be read")
        yield d
    finally:
        d.kill()


def operator(d: Daemon, *args: str) -> Result:
    return dnsctl(*args, "--url", d.admin, env=AS_OPERATOR)


def test_drain_of_an_unknown_profile_names_the_profile(controller: Daemon) -> None:
    done = operator(controller, "drain", "nosuch", "eastus")
    assert done.code == 1
    assert "no profile 'nosuch' (profiles: myregistry, manualreg)" in done.stderr, done.stderr
    assert "endpoint 'eastus'" not in done.stderr, "the endpoint is not what is wrong"
    assert "Traceback" not in done.stderr


def test_drain_of_an_unknown_endpoint_lists_the_profiles_endpoints(controller: Daemon) -> None:
    done = operator(controller, "drain", "myregistry", "nosuch")
    assert done.code == 1
    assert "no endpoint 'nosuch' in profile 'myregistry' (endpoints: eastus, westeurope)" in done.stderr


def test_failback_on_an_auto_profile_says_there_is_nothing_to_do(controller: Daemon) -> None:
    r = controller.post("/v1/profiles/myregistry/failback", token=ADMIN_TOKEN)
    assert r.status_code == 409
    assert "uses failback: auto" in r.json()["error"]
    done = operator(controller, "failback", "myregistry")
    assert done.code == 1 and done.stdout == ""
    assert "HTTP 409" in done.stderr and "failback: auto" in done.stderr, done.stderr
    assert "nothing to do" in done.stderr
    assert "failback requested" not in controller.log()


def test_failback_on_a_manual_profile_is_still_taken(controller: Daemon) -> None:
    # Every replica is down here, so no record exists yet to keep the state in: the failback is taken
    # in the process, and the answer says honestly that it is not saved (503), not that it is refused.
    done = operator(controller, "failback", "manualreg")
    assert done.code == 1, done.stdout
    assert "HTTP 503" in done.stderr and "the failback of manualreg is in effect" in done.stderr, done.stderr
    assert "NOT saved" in done.stderr and "failback: auto" not in done.stderr
    assert to_object(controller.status())["state"]["pending"] == {"manualreg": "the failback of manualreg"}


def test_status_says_the_leader_reads_the_stored_state_before_it_writes(
    tmp_path: Path, emulator: AzureEmulator
) -> None:
    emulator.inject_error(1_000_000, applies_to="read")  # the zone cannot be read until cleared
    d = start_run(tmp_path, emulator)
    try:
        d.wait_until(lambda: "reading the records failed" in d.get("/readyz").text, 30, "a failed read")
        assert d.status()["leadership"]["writing"] is False
        st = operator(d, "status")
        assert st.code == 0, st.stderr
        (line,) = [x for x in st.stdout.splitlines() if x.startswith("leadership:")]
        assert line.startswith("leadership: leader (")
        assert line.endswith("reading the stored state; not writing DNS until it is read"), line
        emulator.clear_faults()
        d.wait_until(lambda: d.status()["state"]["read"], 60, "the stored state to be read")
        st = operator(d, "status")
        (line,) = [x for x in st.stdout.splitlines() if x.startswith("leadership:")]
        assert line.endswith(", writing DNS"), line
    finally:
        d.kill()


def loopback_only_config(tmp_path: Path) -> Path:
    path = tmp_path / "check.yaml"
    doc = {"profiles": [profile("myregistry", free_port())]}
    del doc["profiles"][0]["azure"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("position", ["before", "after"])
def test_the_global_options_work_before_and_after_the_command(tmp_path: Path, position: str) -> None:
    cfg = str(loopback_only_config(tmp_path))
    options = ["--log-level", "debug", "--log-format", "json"]
    args = [*options, "check", "-c", cfg] if position == "before" else ["check", "-c", cfg, *options]
    done = dnsctl(*args)
    assert "unrecognized arguments" not in done.stderr
    assert done.code != 2, done.stderr
    levels = {json.loads(line)["level"] for line in done.stderr.splitlines() if line.startswith("{")}
    assert "debug" in levels, done.stderr


def test_an_option_after_the_command_wins_over_the_one_before(tmp_path: Path) -> None:
    cfg = str(loopback_only_config(tmp_path))
    done = dnsctl("--log-format", "text", "check", "-c", cfg, "--log-format", "json", "--log-level", "debug")
    assert done.code != 2, done.stderr
    assert any(line.startswith("{") for line in done.stderr.splitlines()), done.stderr


def emulator_process(*args: str) -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "zone", ["badzone", "sub/rg/badzone", "sub/rg./privatelink.azurecr.io", "-x.example"]
)
def test_the_emulator_refuses_a_zone_azure_could_not_hold(zone: str) -> None:
    done = emulator_process("--port", "0", f"--zone={zone}")
    assert done.returncode == 2
    assert done.stdout == "", "it did not start"
    assert "argument --zone:" in done.stderr and "Traceback" not in done.stderr


def test_the_emulator_says_its_port_is_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = emulator_process("--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip() == f"dnsctl emulator: cannot listen on 127.0.0.1:{port}: address in use"
    assert done.stdout == ""
