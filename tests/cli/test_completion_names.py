"""Completion of profile and endpoint names from the configuration, in the real shells, through an
installed-like `dnsctl` on PATH (the scripts call `dnsctl __complete`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.test_completion import SHELL_TIMEOUT, shell
from tests.support.waits import run_process

CONFIG = {
    "profiles": [
        {
            "name": name,
            "fqdn": f"{name}.azurecr.io",
            "endpoints": [
                {"name": ep, "target": f"{name}.{ep}.geo.azurecr.io", "priority": i + 1}
                for i, ep in enumerate(endpoints)
            ],
        }
        for name, endpoints in (("myregistry", ("eastus", "westeurope")), ("other", ("northeurope",)))
    ]
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a `dnsctl` that runs this source tree, HOME and cwd in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "dnsctl"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dnsctl "$@"\n')
    exe.chmod(0o755)
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(CONFIG))
    environ = {k: v for k, v in os.environ.items() if k != "DNSCTL_CONFIG"}
    return {**environ, "PATH": f"{bin_dir}{os.pathsep}{environ['PATH']}", "HOME": str(tmp_path)}


def script(name: str, tmp_path: Path, env: dict[str, str]) -> Path:
    out = run_process(
        ["dnsctl", "completion", name], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / f"dnsctl.{name}"
    path.write_text(out.stdout)
    return path


def bash(path: Path, env: dict[str, str], cwd: Path, *words: str) -> list[str]:
    quoted = " ".join(f"'{w}'" for w in ("dnsctl", *words))
    program = (
        f"source '{path}' && COMP_WORDS=({quoted}) && COMP_CWORD={len(words)} && _dnsctl_complete "
        '&& printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = run_process(
        [shell("bash"), "--norc", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=SHELL_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    return sorted(line for line in out.stdout.splitlines() if line)


def test_bash_completes_profile_and_endpoint_names(tmp_path: Path, env: dict[str, str]) -> None:
    path = script("bash", tmp_path, env)
    cfg = str(tmp_path / "lab.yaml")
    assert bash(path, env, tmp_path, "drain", "-c", cfg, "") == ["myregistry", "other"]
    assert bash(path, env, tmp_path, "drain", "-c", cfg, "o") == ["other"]
    assert bash(path, env, tmp_path, "drain", "-c", cfg, "myregistry", "") == ["eastus", "westeurope"]
    assert bash(path, env, tmp_path, "undrain", "--config", cfg, "other", "") == ["northeurope"]
    assert bash(path, env, tmp_path, "failback", "-c", cfg, "my") == ["myregistry"]
    assert bash(path, env, tmp_path, "drain", "-c", cfg, "myregistry", "we") == ["westeurope"]
    # Past the last positional argument there is nothing more to offer.
    assert bash(path, env, tmp_path, "failback", "-c", cfg, "myregistry", "") == []
    # $DNSCTL_CONFIG, then dnsctl.yaml in the working directory, as every command reads them.
    with_env = {**env, "DNSCTL_CONFIG": cfg}
    assert bash(path, with_env, tmp_path, "drain", "") == ["myregistry", "other"]
    (tmp_path / "dnsctl.yaml").write_text((tmp_path / "lab.yaml").read_text())
    assert bash(path, env, tmp_path, "drain", "other", "") == ["northeurope"]
    # Options still complete where an option is typed, and a value after -c is a file.
    assert "--url" in bash(path, env, tmp_path, "drain", "--")
    assert "lab.yaml" in bash(path, env, tmp_path, "drain", "-c", "la")


def test_bash_completion_of_names_is_quiet_on_a_bad_configuration(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = script("bash", tmp_path, env)
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles: [ {name: 1\n")
    out = run_process(
        [
            shell("bash"),
            "--norc",
            "-c",
            f"source '{path}' && COMP_WORDS=(dnsctl drain -c '{bad}' '') "
            '&& COMP_CWORD=4 && _dnsctl_complete && echo "[${COMPREPLY[*]}]"',
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=SHELL_TIMEOUT,
    )
    assert out.returncode == 0 and out.stdout.strip() == "[]" and out.stderr == ""
    helper = run_process(
        ["dnsctl", "__complete", "-c", str(bad), "profiles"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert helper.returncode == 0 and helper.stdout == "" and "Traceback" not in helper.stderr


def test_fish_completes_profile_and_endpoint_names(tmp_path: Path, env: dict[str, str]) -> None:
    path = script("fish", tmp_path, env)
    cfg = tmp_path / "lab.yaml"

    def complete(line: str) -> list[str]:
        out = run_process(
            [shell("fish"), "--no-config", "-c", f"source '{path}'; complete -C '{line}'"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=SHELL_TIMEOUT,
        )
        assert out.returncode == 0, out.stderr
        return sorted(line.split("\t")[0] for line in out.stdout.splitlines())

    assert complete(f"dnsctl drain -c {cfg} ") == ["myregistry", "other"]
    assert complete(f"dnsctl drain -c {cfg} myregistry ") == ["eastus", "westeurope"]
    assert complete(f"dnsctl failback -c {cfg} o") == ["other"]


def test_zsh_script_completes_names_through_its_function(tmp_path: Path, env: dict[str, str]) -> None:
    path = script("zsh", tmp_path, env)
    program = f"autoload -U compinit && compinit -u -D && source '{path}' && whence -w _dnsctl_names"
    out = run_process(
        [shell("zsh"), "-f", "-c", program], capture_output=True, text=True, env=env, timeout=SHELL_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "_dnsctl_names: function"
    # What it offers where _arguments calls it (words from the command on, the word being completed
    # at CURRENT); compadd, which only works inside a completion, prints what it is given instead.
    cfg = tmp_path / "lab.yaml"
    program = (
        f"autoload -U compinit && compinit -u -D && source '{path}' && "
        "compadd() { [[ $1 == -a ]] && print -rl -- ${(P)2} }; "
        f"words=(drain -c '{cfg}' myregistry ''); CURRENT=5; _dnsctl_names; print -- --; "
        f"words=(failback -c '{cfg}' ''); CURRENT=4; _dnsctl_names"
    )
    out = run_process(
        [shell("zsh"), "-f", "-c", program], capture_output=True, text=True, env=env, timeout=SHELL_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["eastus", "westeurope", "--", "myregistry", "other"]
    assert "drain) _arguments" in path.read_text() and "'1:profile:_dnsctl_names'" in path.read_text()
