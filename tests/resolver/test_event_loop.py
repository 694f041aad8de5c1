"""Which event loop the daemons run on: uvloop by default where it is installed, `--loop` to choose."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from dnsctl.errors import LoopUnavailable
from dnsctl.process import daemon

REPO = Path(__file__).resolve().parents[2]


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_auto_runs_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")  # a default dependency wherever it builds
    assert daemon.run(loop_module()) == "uvloop"
    assert daemon.run(loop_module(), "uvloop") == "uvloop"


def test_asyncio_opts_out() -> None:
    assert daemon.run(loop_module(), "asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` meets where it is not installed
    assert daemon.run(loop_module()) == "asyncio"
    with pytest.raises(LoopUnavailable, match="uvloop is not installed"):
        daemon.run(loop_module(), "uvloop")


def test_cli_loop_option(tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "uvloop.py").write_text("raise ImportError('not installed')\n")
    unknown = subprocess.run(
        [sys.executable, "-m", "dnsctl", "serve", "--loop", "trio"], cwd=REPO, capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "invalid choice: 'trio'" in unknown.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "dnsctl", "demo", "-c", "examples/lab.yaml", "--loop", "uvloop"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{hide}:{REPO}", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert missing.returncode == 1
    assert "--loop uvloop: uvloop is not installed" in missing.stderr
    assert "Traceback" not in missing.stderr
