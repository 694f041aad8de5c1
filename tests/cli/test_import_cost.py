"""What the command line imports before a command runs: parsing (`--version`, `--help`, a completion) loads
no command's implementation and none of the libraries the commands use, and `validate` only what reading a
configuration needs. Counted in a fresh interpreter (module names, not times)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from dnsctl.cli import parser
from dnsctl.process import daemon

REPO = Path(__file__).resolve().parents[2]

# Libraries (and dnsctl parts) only a command's run may import.
COMMAND_ONLY = (
    "aiohttp",
    "apscheduler",
    "azure",
    "dns",
    "dnslib",
    "h11",
    "httpx",
    "prometheus_client",
    "uvloop",
    "dnsctl.compose",
    "dnsctl.controller",
    "dnsctl.engine",
    "dnsctl.probes",
    "dnsctl.resolver",
    "dnsctl.targets",
)
# ... and what reading a configuration needs, which parsing the arguments does not.
CONFIG_ONLY = ("pydantic", "pydantic_settings", "yaml", "asyncio", "dnsctl.config", "dnsctl.cli.commands")


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code` (which may print to stdout first)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120, check=True
    )
    names: list[str] = json.loads(done.stdout.splitlines()[-1])
    return names


def among(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]


def test_parsing_the_command_line_imports_no_command_and_no_command_library() -> None:
    names = loaded_after(
        "from dnsctl.cli.main import build_parser\n"
        "build_parser().parse_args(['serve', '-c', 'examples/lab.yaml', '--loop', 'asyncio'])"
    )
    assert "dnsctl.cli.parser" in names
    assert among(names, COMMAND_ONLY + CONFIG_ONLY) == []


def test_validate_imports_the_configuration_but_no_command_library() -> None:
    names = loaded_after(
        "from dnsctl.cli.main import main\nassert main(['validate', '-c', 'examples/lab.yaml']) == 0"
    )
    assert "dnsctl.config.load" in names and "pydantic" in names
    assert among(names, COMMAND_ONLY) == []


def handlers(p: argparse.ArgumentParser) -> Iterator[tuple[str, object]]:
    """Every (command, handler) the grammar names, subcommands of `import`/`export` included."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                handler = sub.get_default("handler")
                if handler is not None:
                    yield name, handler
                yield from handlers(sub)


def test_every_command_names_a_handler_that_exists() -> None:
    found = dict(handlers(parser.build_parser()))
    assert {"validate", "serve", "run", "status", "traffic-manager", "private-traffic-manager"} <= set(found)
    for name, handler in found.items():
        assert isinstance(handler, parser.CommandHandler), name
        assert callable(handler.resolve()), name


def test_the_loop_choices_are_the_daemons() -> None:
    assert parser.LOOPS == daemon.LOOPS
