"""Every command's --help: examples and its exit codes; the demo's default is the one it uses."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from dnsctl.cli.parser import build_parser
from dnsctl.demo import lab_config
from tests.support.waits import run_process

REPO = Path(__file__).resolve().parents[2]


def commands() -> dict[str, argparse.ArgumentParser]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_process(
        [sys.executable, "-m", "dnsctl", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_examples_and_its_exit_codes(name: str, tmp_path: Path) -> None:
    out = run(name, "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith(f"usage: dnsctl {name}")
    examples = text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    assert f"dnsctl {name}" in examples
    codes = text.split("exit codes:\n", 1)[1]
    assert codes.lstrip().startswith("0  "), codes
    assert "python -m" not in text


def test_the_top_level_help_lists_examples_and_exit_codes(tmp_path: Path) -> None:
    text = run("--help", cwd=tmp_path).stdout
    assert "examples:" in text and "dnsctl demo" in text
    assert "exit codes: 0 success, 1 failed, 2 bad configuration" in text


def test_the_emulators_help_names_the_command_users_type(tmp_path: Path) -> None:
    out = run("emulator", "--help", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.startswith("usage: dnsctl emulator")
    assert "python -m dnsctl.emulator" not in out.stdout


def test_the_demos_help_names_the_default_it_uses(tmp_path: Path) -> None:
    text = " ".join(run("demo", "--help", cwd=tmp_path).stdout.split())
    assert "default: the lab configuration shipped with dnsctl; see --print-config" in text
    printed = run("demo", "--print-config", cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout == lab_config.text()


def test_examples_lab_yaml_is_the_shipped_lab_configuration() -> None:
    # One configuration: examples/lab.yaml is kept identical to what the package ships.
    assert (REPO / "examples" / "lab.yaml").read_text(encoding="utf-8") == lab_config.text()
