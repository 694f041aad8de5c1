"""`dnsctl validate`, `plan` and `reconcile` with an `rfc2136:` profile, as real processes against BIND."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rfc2136.harness import EAST, NAME, OWNER, query
from tests.rfc2136.servers import KEY_NAME, SECRET, ZONE, Primary
from tests.support.waits import run_process

CONFIG = """\
profiles:
  - name: myregistry
    fqdn: myregistry.azurecr.io
    monitor: {{protocol: tcp, port: {probe_port}, interval: 10s, timeout: 2s, fall: 1, rise: 1}}
    endpoints:
      - {{name: eastus, target: {east}, priority: 1, addresses: [127.0.0.1]}}
    rfc2136:
      server: 127.0.0.1:{dns_port}
      zone: {zone}
      record: {record}
      record_type: CNAME
      tsig: {{name: {key}, algorithm: {algorithm}}}
"""


def environment(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")} | extra


def dnsctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_process(
        [sys.executable, "-m", "dnsctl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.fixture
def listener() -> Iterator[int]:
    """An endpoint that accepts TCP (the tcp probe's "up")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def write(tmp_path: Path, dns_port: int, probe_port: int, **over: str) -> Path:
    values = {
        "probe_port": str(probe_port),
        "dns_port": str(dns_port),
        "east": EAST,
        "zone": ZONE,
        "record": "myregistry",
        "key": KEY_NAME,
        "algorithm": "hmac-sha256",
    } | over
    path = tmp_path / "dnsctl.yaml"
    path.write_text(CONFIG.format(**values))
    return path


def test_validate_lists_every_problem_of_the_section(tmp_path: Path) -> None:
    cfg = write(tmp_path, 53, 9, record="myregistry.other.example.", algorithm="hmac-md5")
    cfg.write_text(cfg.read_text().replace("server: 127.0.0.1:53", "server: ns1.corp.example:53"))
    done = dnsctl("validate", "-c", str(cfg), env=environment())
    assert done.returncode != 0
    assert "profiles[0].rfc2136.record" in done.stderr and "not inside the zone" in done.stderr
    assert "profiles[0].rfc2136.tsig.algorithm" in done.stderr and "hmac-md5" in done.stderr
    assert "DNSCTL_TSIG_SECRET" in done.stderr and "not set" in done.stderr
    assert "profiles[0].rfc2136.server" in done.stderr and "not an IP address" in done.stderr
    ok = write(tmp_path, 53, 9)
    done = dnsctl("validate", "-c", str(ok), env=environment(DNSCTL_TSIG_SECRET=SECRET))
    assert done.returncode == 0, done.stderr
    assert "1 RFC 2136 record(s)" in done.stdout


def test_plan_then_reconcile_against_bind(tmp_path: Path, listener: int) -> None:
    bind = Primary("bind", tmp_path / "bind")
    bind.start()
    try:
        cfg = write(tmp_path, bind.port, listener)
        env = environment(DNSCTL_TSIG_SECRET=SECRET)
        state = tmp_path / "state.json"
        done = dnsctl("plan", "-c", str(cfg), "--state-file", str(state), env=env)
        assert done.returncode == 0, done.stderr
        assert f"rfc2136:{ZONE}/myregistry" in done.stdout and "create" in done.stdout
        assert query(bind, NAME, "CNAME") == []
        done = dnsctl("reconcile", "-c", str(cfg), "--state-file", str(state), "--json", env=env)
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert [r["outcome"] for r in doc["results"]] == ["applied"]
        assert doc["profiles"][0]["target_kind"] == "rfc2136"
        assert query(bind, NAME, "CNAME") == [EAST]
        assert query(bind, OWNER, "TXT") == ["heritage=dnsctl,profile=myregistry,generation=1"]
        assert SECRET not in done.stdout + done.stderr
    finally:
        bind.stop()
