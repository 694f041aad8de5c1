"""`dnsctl completion bash|zsh|fish`: scripts generated from the parser, loaded by the real shells."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from dnsctl.cli.parser import build_parser
from tests.support.system_packages import ensure_command
from tests.support.waits import run_process

SHELL_TIMEOUT = 60


def subcommands() -> list[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("no subcommands")


def script(shell: str, tmp_path: Path) -> Path:
    out = run_process(
        [sys.executable, "-m", "dnsctl", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / f"dnsctl.{shell}"
    path.write_text(out.stdout)
    return path


def shell(name: str) -> str:
    return ensure_command(name)  # installed from its Debian package when missing


def bash_complete(path: Path, *words: str) -> list[str]:
    """What bash completes for `dnsctl WORDS...` (the last word is the one being completed)."""
    quoted = " ".join(f"'{w}'" for w in ("dnsctl", *words))
    program = (
        f"source '{path}' && complete -p dnsctl >&2 && COMP_WORDS=({quoted}) && "
        f"COMP_CWORD={len(words)} && _dnsctl_complete && printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    out = run_process(
        [shell("bash"), "--norc", "-c", program], capture_output=True, text=True, timeout=SHELL_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "complete -F _dnsctl_complete dnsctl"
    return [line for line in out.stdout.splitlines() if line]


def test_bash_completes_subcommands_options_and_choices(tmp_path: Path) -> None:
    path = script("bash", tmp_path)
    got = bash_complete(path, "")
    assert set(subcommands()) <= set(got)
    assert {"--log-level", "--version"} <= set(got)
    assert bash_complete(path, "rec") == ["reconcile"]
    assert set(bash_complete(path, "reconcile", "--")) >= {"--dry-run", "--force", "--config", "--state-file"}
    assert bash_complete(path, "--log-level", "w") == ["warning"]
    assert set(bash_complete(path, "completion", "")) >= {"bash", "zsh", "fish"}
    assert bash_complete(path, "emulator", "--no") == ["--no-auth"]
    (tmp_path / "dnsctl.yaml").write_text("profiles: []\n")
    assert "dnsctl.yaml" in " ".join(
        run_process(
            [
                shell("bash"),
                "--norc",
                "-c",
                f"cd '{tmp_path}' && source '{path}' && COMP_WORDS=(dnsctl validate -c dnsc) && COMP_CWORD=3 "
                '&& _dnsctl_complete && echo "${COMPREPLY[@]}"',
            ],
            capture_output=True,
            text=True,
            timeout=SHELL_TIMEOUT,
        ).stdout.split()
    )


def test_a_new_option_completes_without_touching_the_completion_code(tmp_path: Path) -> None:
    from dnsctl.cli import completion

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices["status"].add_argument("--brand-new", choices=["x", "y"])
    text = completion.script("bash", completion.describe(parser))
    path = tmp_path / "new.bash"
    path.write_text(text)
    assert bash_complete(path, "status", "--brand") == ["--brand-new"]
    assert bash_complete(path, "status", "--brand-new", "") == ["x", "y"]


def test_zsh_loads_the_script_and_registers_the_completion(tmp_path: Path) -> None:
    path = script("zsh", tmp_path)
    program = f"autoload -U compinit && compinit -u -D && source '{path}' && print -r -- $_comps[dnsctl]"
    out = run_process(
        [shell("zsh"), "-f", "-c", program], capture_output=True, text=True, timeout=SHELL_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "_dnsctl"
    text = path.read_text()
    for name in subcommands():
        assert f"'{name}:" in text and f"{name}) _arguments" in text


def test_fish_completes_subcommands_and_options(tmp_path: Path) -> None:
    path = script("fish", tmp_path)

    def complete(line: str) -> list[str]:
        out = run_process(
            [shell("fish"), "--no-config", "-c", f"source '{path}'; complete -C '{line}'"],
            capture_output=True,
            text=True,
            timeout=SHELL_TIMEOUT,
        )
        assert out.returncode == 0, out.stderr
        return [line.split("\t")[0] for line in out.stdout.splitlines()]

    assert set(subcommands()) <= set(complete("dnsctl "))
    assert set(complete("dnsctl check --")) >= {"--config", "--profile", "--rounds", "--json"}
    assert set(complete("dnsctl completion ")) >= {"bash", "zsh", "fish"}


def test_an_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    out = run_process(
        [sys.executable, "-m", "dnsctl", "completion", "tcsh"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 2 and "invalid choice: 'tcsh'" in out.stderr


@pytest.mark.parametrize("name", ["bash", "zsh", "fish"])
def test_every_subcommand_is_in_every_script(name: str, tmp_path: Path) -> None:
    text = script(name, tmp_path).read_text()
    for command in subcommands():
        assert command in text
