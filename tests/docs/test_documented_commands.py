"""Every `dnsctl` command the documentation shows is run here, as the doc shows it, and must do what the doc
says (`# exit N`, else exit 0); a command that cannot run offline is excused below, by name, with the reason.
A new command in a doc is therefore either run or explicitly excused: it cannot go unchecked.

The docs: README.md, deploy/README.md and examples/*/README.md, fenced blocks and inline code. Commands run
from the repository's root through `python -m dnsctl`, with no DNSCTL_* variable but those the doc sets.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.docs.commands import REPO, Command, documented_commands
from tests.support.waits import run_process

NEEDS_AZURE = "reads or writes a real Azure Private DNS zone"
READERS_FILE = "runs the reader's own configuration (a placeholder name), probing the reader's replicas"
RUNNING_CONTROLLER = "talks to a running controller's admin API"

# command (as the doc shows it, without its comment) -> why it is not run here
EXCUSED: dict[str, str] = {
    "dnsctl demo --forever": "runs until stopped (tests/cli/test_installed_demo.py runs the demo)",
    "dnsctl completion bash|zsh|fish": "notation for three commands (tests/cli/test_completion.py runs each)",
    "dnsctl status": RUNNING_CONTROLLER,
    "dnsctl drain myregistry eastus": RUNNING_CONTROLLER,
    "dnsctl undrain myregistry eastus": RUNNING_CONTROLLER,
    "dnsctl failback myregistry": RUNNING_CONTROLLER,
    "dnsctl history myregistry": RUNNING_CONTROLLER,
    "dnsctl failback PROFILE": RUNNING_CONTROLLER,
    "dnsctl resync": RUNNING_CONTROLLER,
    "dnsctl status --watch": RUNNING_CONTROLLER + ", until Ctrl-C",
    "dnsctl check -c dnsctl.yaml": READERS_FILE,
    "dnsctl plan -c dnsctl.yaml": READERS_FILE,
    "dnsctl audit -c dnsctl.yaml": NEEDS_AZURE
    + " (tests/e2e/test_zone_audit.py runs it against the emulator)",
    "dnsctl check --audit": NEEDS_AZURE + " (tests/e2e/test_zone_audit.py runs it against the emulator)",
    "dnsctl validate -c FILE": "FILE is a placeholder (every config file in the kit is validated here)",
    "dnsctl emulator --port 8500 --zone 00000000-0000-0000-0000-000000000000/rg-private-dns/"
    "privatelink.azurecr.io &": "runs until stopped (tests/emulator/test_emulator_process.py starts it)",
    "DNSCTL_AZURE__BASE_URL=http://127.0.0.1:8500 DNSCTL_AZURE__CREDENTIAL=static DNSCTL_AZURE_TOKEN=x "
    "dnsctl plan -c my.yaml": READERS_FILE,
    "dnsctl run -c /etc/dnsctl/dnsctl.yaml": NEEDS_AZURE + ", until stopped",
    "dnsctl run --site NAME": NEEDS_AZURE + ", until stopped (tests/sites/test_sites_e2e.py runs three)",
    "dnsctl mirror --site NAME --source exchange": "runs until stopped, following a site's vantage "
    "(tests/sites/test_mirror_agents.py runs three, tests/mirror/test_agents_follow_exchange.py fifty)",
    "dnsctl reconcile -c examples/cronjob/dnsctl.yaml --dry-run": NEEDS_AZURE,
}

COMMANDS = documented_commands()
RUN = [c for c in COMMANDS if c.text not in EXCUSED]


def run(command: Command) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")} | dict(command.env)
    return run_process(
        [sys.executable, "-m", "dnsctl", *command.args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", RUN, ids=[c.where for c in RUN])
def test_a_documented_command_does_what_its_doc_says(command: Command) -> None:
    done = run(command)
    expected = 0 if command.exit is None else command.exit
    assert done.returncode == expected, (
        f"{command.where}: `{command.text}` exited {done.returncode}, the doc says {expected}:\n"
        + done.stdout
        + done.stderr
    )
    assert "Traceback" not in done.stderr


def test_the_example_configs_are_validated_as_their_docs_show() -> None:
    """The extraction finds the commands this module exists for (it cannot pass by finding nothing)."""
    validated = {c.args[-1] for c in RUN if c.args[0] == "validate"}
    assert validated >= {
        "examples/vnet-pinning/dnsctl.yaml",
        "examples/node-mirror/dnsctl.yaml",
        "examples/cronjob/dnsctl.yaml",
        "deploy/kubernetes/controller/dnsctl.yaml",
    }
    vnet = [c for c in RUN if c.args == ("validate", "-c", "examples/vnet-pinning/dnsctl.yaml")]
    assert vnet and all(c.exit == 0 for c in vnet), "the doc promises exit 0"


def test_every_excused_command_is_still_in_a_doc() -> None:
    shown = {c.text for c in COMMANDS}
    assert not set(EXCUSED) - shown, "an excuse for a command no doc shows any more"


def test_a_new_command_in_a_doc_is_found() -> None:
    """The extraction sees fenced lines (with continuations, env and `# exit N`) and inline code."""
    from tests.docs.commands import _parse

    block = _parse("d", 1, "X_Y=1 dnsctl validate -c a.yaml   # exit 2, every problem", inline=False)
    assert block is not None and block.env == (("X_Y", "1"),) and block.exit == 2
    assert block.args == ("validate", "-c", "a.yaml")
    assert _parse("d", 1, "dnsctl plan", inline=True) is None  # a command's name in a sentence
    assert _parse("d", 1, "kubectl get pods", inline=False) is None
