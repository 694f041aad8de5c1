"""The audit line of a hand edit that `dnsctl mirror` puts back: `before` is what the file said (its
order, its changed settings), `after` is what dnsctl wrote; a credential added by hand is named, never
shown. Real `dnsctl mirror --once` processes against registries on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.harness import REPO
from tests.mirror.test_mirror_once import config
from tests.mirror.test_mirror_unsafe_files import registries  # noqa: F401  (fixture)
from tests.support.registry import RegistryServer
from tests.support.waits import run_process

CREDENTIAL = "c2VjcmV0LXB1bGxlcjpodW50ZXIy"


def once(cfg: Path, fmt: str = "text") -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", "--log-format", fmt, "mirror", "--once", "-c", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def audit_lines(stderr: str, runtime: str = "containerd") -> list[str]:
    return [line for line in stderr.splitlines() if "mirror change:" in line and f"runtime={runtime}" in line]


def audit_docs(stderr: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [d["audit"] for d in docs if "audit" in d and d["audit"].get("runtime") == "containerd"]


def field(line: str, name: str, following: str) -> str:
    return line.split(f" {name}=", 1)[1].split(f" {following}=", 1)[0]


def hosts_file(tmp_path: Path) -> Path:
    return tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"


def test_a_hand_edited_setting_shows_in_before_and_the_put_back_one_in_after(
    tmp_path: Path,
    registries: tuple[int, dict[str, RegistryServer]],  # noqa: F811
) -> None:
    port, _ = registries
    cfg = config(tmp_path, port)
    assert once(cfg).returncode == 0
    path = hosts_file(tmp_path)
    written = path.read_text()
    east = f"http://eastus.lab.test:{port}"
    # By hand: push added to the first host.
    path.write_text(
        written.replace('capabilities = ["pull", "resolve"]', 'capabilities = ["pull", "push"]', 1)
    )
    run = once(cfg)
    assert run.returncode == 0, run.stderr
    assert path.read_text() == written  # put back
    (line,) = audit_lines(run.stderr)
    before, after = field(line, "before", "after"), field(line, "after", "reason")
    assert before != after, line
    assert before.endswith(f'(edited: host."{east}".capabilities=["pull","push"])'), before
    assert after.endswith(f'(host."{east}".capabilities=["pull","resolve"])'), after
    assert "edited" in line.split(" reason=", 1)[1]
    # And a pull credential added as a header: named, never shown.
    edited = written.replace(
        'capabilities = ["pull", "resolve"]',
        f'capabilities = ["pull", "resolve", "push"]\n  [host."{east}".header]\n'
        f'    authorization = ["Basic {CREDENTIAL}"]',
        1,
    )
    path.write_text(edited)
    run = once(cfg)
    assert run.returncode == 0, run.stderr
    (line,) = audit_lines(run.stderr)
    before, after = field(line, "before", "after"), field(line, "after", "reason")
    assert 'capabilities=["pull","resolve","push"]' in before and "header.authorization (set)" in before
    assert 'capabilities=["pull","resolve"]' in after and "header.authorization (absent)" in after
    assert CREDENTIAL not in run.stderr
    # The same in JSON, setting by setting.
    path.write_text(edited)
    run = once(cfg, "json")
    assert run.returncode == 0, run.stderr
    (doc,) = audit_docs(run.stderr)
    assert doc["before"] == doc["after"] == [east, f"http://westeurope.lab.test:{port}"]
    assert doc["edits"] == [
        {
            "setting": f'host."{east}".capabilities',
            "before": '["pull","resolve","push"]',
            "after": '["pull","resolve"]',
        },
        {"setting": f'host."{east}".header.authorization', "before": "(set)", "after": "(absent)"},
    ]
    assert CREDENTIAL not in run.stderr


def test_a_hand_reordered_file_shows_the_hand_order_before_and_dnsctls_after(
    tmp_path: Path,
    registries: tuple[int, dict[str, RegistryServer]],  # noqa: F811
) -> None:
    port, _ = registries
    cfg = config(tmp_path, port)
    assert once(cfg).returncode == 0
    path = hosts_file(tmp_path)
    written = path.read_text()
    head, east, west = written.split("\n[host.")
    path.write_text(f"{head}\n[host.{west.rstrip()}\n\n[host.{east.rstrip()}\n")
    run = once(cfg)
    assert run.returncode == 0, run.stderr
    assert path.read_text() == written
    (line,) = audit_lines(run.stderr)
    e, w = f"http://eastus.lab.test:{port}", f"http://westeurope.lab.test:{port}"
    assert field(line, "before", "after") == f"{w},{e}"
    assert field(line, "after", "reason") == f"{e},{w}"


def test_a_hand_edit_of_comments_only_is_said_as_such(
    tmp_path: Path,
    registries: tuple[int, dict[str, RegistryServer]],  # noqa: F811
) -> None:
    port, _ = registries
    cfg = config(tmp_path, port)
    assert once(cfg).returncode == 0
    path = hosts_file(tmp_path)
    written = path.read_text()
    path.write_text(written + "# a note someone left\n")
    run = once(cfg)
    assert run.returncode == 0, run.stderr
    (line,) = audit_lines(run.stderr)
    assert "(edited: comments or layout (edited))" in line
