"""examples/rfc2136: the server snippets are accepted by the servers' own checkers, the config by validate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dns.tsig
import pytest

from dnsctl.cli.exit_codes import ExitCode, exit_code
from tests.rfc2136.harness import EAST, NAME, Harness, hand_edit, make_spec, query
from tests.rfc2136.servers import SECRET, ZONE, Primary
from tests.support.system_packages import ensure_commands
from tests.support.waits import run_process

KIT = Path(__file__).resolve().parents[2] / "examples" / "rfc2136"


def _with_secret(name: str, tmp_path: Path) -> Path:
    text = (KIT / name).read_text()
    assert "REPLACE-WITH-THE-BASE64-SECRET" in text
    out = tmp_path / name
    out.write_text(text.replace("REPLACE-WITH-THE-BASE64-SECRET", SECRET))
    return out


def test_named_accepts_the_update_policy(tmp_path: Path) -> None:
    tool = ensure_commands("named-checkconf")["named-checkconf"]
    done = subprocess.run([tool, str(_with_secret("named.conf", tmp_path))], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_knot_accepts_the_acl(tmp_path: Path) -> None:
    tool = ensure_commands("knotc")["knotc"]
    conf = _with_secret("knot.conf", tmp_path)
    done = subprocess.run([tool, "-c", str(conf), "conf-check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_config_validates() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")} | {
        "DNSCTL_TSIG_SECRET": SECRET
    }
    done = run_process(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(KIT / "dnsctl.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1 RFC 2136 record(s)" in done.stdout


@pytest.mark.parametrize("kind", ["bind", "knot"])
async def test_the_kit_policies_let_dnsctl_write_its_names_and_nothing_else(
    kind: str, tmp_path: Path
) -> None:
    server = Primary(kind, tmp_path / kind, policy="name")
    server.start()
    try:
        h = Harness(make_spec(server), tmp_path)
        r = await h.run()
        assert exit_code(r) is ExitCode.CONVERGED, [x.error for x in r.results] + r.errors
        assert query(server, NAME, "CNAME") == [EAST]
        # BIND answers REFUSED; Knot answers NOTAUTH with BADKEY when no ACL rule matches.
        with pytest.raises((AssertionError, dns.tsig.PeerError)):
            hand_edit(server, f"other.{ZONE}.", "CNAME", "x.example.com.")
    finally:
        server.stop()
