"""The command line's grammar: every command, its options and its handler."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dnsctl import __version__
from dnsctl.cli import completion, help_text

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class CommandHandler:
    """A command's implementation, `function` in `dnsctl.cli.<module>`, imported only when the command runs:
    parsing the arguments (`--version`, `--help`, a completion) loads no command and none of the libraries
    the commands use."""

    module: str
    function: str

    def resolve(self) -> Handler:
        found: Handler = getattr(importlib.import_module(f"dnsctl.cli.{self.module}"), self.function)
        return found

    def __call__(self, args: argparse.Namespace) -> int:
        return self.resolve()(args)


def lazy(path: str) -> CommandHandler:
    """`lazy("commands.cmd_validate")`: the handler `cmd_validate` of `dnsctl.cli.commands`."""
    module, function = path.split(".")
    return CommandHandler(module, function)


# `daemon.LOOPS`, written out so that parsing imports no event loop (tests/cli/test_import_cost.py keeps
# the two equal).
LOOPS = ("auto", "uvloop", "asyncio")
CONFIG_HELP = "configuration file (default: $DNSCTL_CONFIG or dnsctl.yaml)"
DETAILED_EXITCODE = "--detailed-exitcode"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsctl",
        description="Health-checked DNS failover for private networks.",
        epilog=help_text.MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dnsctl {__version__}")
    _global_options(parser, default="info", format_default="text")
    # The same options after the command (`dnsctl check --log-level debug`): SUPPRESS keeps a value given
    # before the command when none is given after it.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS, format_default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Handler, summary: str, *, config_help: str | None = CONFIG_HELP
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            parents=[common],
            help=summary,
            description=summary,
            epilog=help_text.epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if config_help is not None:
            p.add_argument("-c", "--config", metavar="FILE", help=config_help)
        p.set_defaults(handler=handler)
        return p

    command(
        "validate", lazy("commands.cmd_validate"), "check a configuration file and exit (0 valid, 2 invalid)"
    )

    p = command(
        "check", lazy("passes.cmd_check"), "probe every endpoint and show where each profile would point"
    )
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument(
        "--rounds", type=int, default=1, help="probe rounds at the monitor interval (hysteresis applies)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--audit",
        action="store_true",
        help="also read the private zones and list the records a pull needs that are missing (dnsctl audit)",
    )

    for name, summary in (
        ("plan", "probe, decide and print the changes the Azure records need; changes nothing"),
        ("reconcile", "one pass: read the zones, probe, decide, and apply the plan"),
    ):
        p = command(name, lazy("passes.cmd_reconcile"), summary)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument(
            "--profile", action="append", help="only this profile (repeatable); the others are left alone"
        )
        if name == "plan":
            p.add_argument(
                "--site", metavar="NAME", help="with sites: only this site's records (default: every site's)"
            )
            p.add_argument(
                DETAILED_EXITCODE,
                action="store_true",
                help="exit 0 when nothing would change, 2 when changes are pending, 1 on any error "
                "(a bad configuration too); 3 and 4 as without it",
            )
        p.add_argument(
            "--state-file", type=Path, help="keep the health history in this file, not in record metadata"
        )
        if name == "reconcile":
            p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
            p.add_argument(
                "--force", action="store_true", help="apply a plan larger than max_changes_per_run"
            )

    p = command(
        "audit",
        lazy("audit.cmd_audit"),
        "read the private zones and list, per replica, the records a pull needs that are missing",
    )
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument(
        "--zone",
        action="append",
        metavar="SUB/RG/ZONE",
        help="also audit this zone (e.g. SUB/RG/privatelink.azurecr.io; repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("serve", lazy("daemons.cmd_serve"), "run the embedded resolver, steered by health checks")
    p.add_argument("--state-file", type=Path, help="keep health history and operator actions across restarts")
    p.add_argument(
        "--site",
        metavar="NAME",
        help="be this site's vantage: probe through its addresses, publish its verdicts to the exchange",
    )
    add_loop_option(p)

    p = command(
        "run",
        lazy("daemons.cmd_run"),
        "run the controller that keeps Azure Private DNS records on the decisions",
    )
    p.add_argument(
        "--state-file", type=Path, help="keep the health history in this file, not in record metadata"
    )
    p.add_argument("--force", action="store_true", help="apply plans larger than max_changes_per_run")
    p.add_argument(
        "--site", metavar="NAME", help="be this site's vantage: probe through its addresses, write its zones"
    )
    add_loop_option(p)

    p = command(
        "mirror",
        lazy("daemons.cmd_mirror"),
        "keep this node's containerd hosts.toml (and CRI-O drop-in) listing replicas in health order",
    )
    p.add_argument(
        "--once", action="store_true", help="probe once, write the files, exit (reconcile's codes)"
    )
    p.add_argument("--state-file", type=Path, help="keep health history and operator actions across runs")
    p.add_argument("--json", action="store_true", help="with --once: print JSON")
    p.add_argument(
        "--site", metavar="NAME", help="this node is in site NAME (with --source probe: probe its addresses)"
    )
    p.add_argument(
        "--source",
        choices=("probe", "exchange"),
        default="probe",
        help="probe the replicas here (default), or follow the site's decision from the exchange",
    )
    add_loop_option(p)

    p = command(
        "demo",
        lazy("daemons.cmd_demo"),
        "start local replicas and the resolver, then show a failover and a failback",
        config_help="configuration to use (default: the lab configuration shipped with dnsctl; "
        "see --print-config)",
    )
    p.add_argument("--forever", action="store_true", help="keep running; take replicas down yourself")
    p.add_argument(
        "--print-config", action="store_true", help="print the lab configuration the demo uses, and exit"
    )
    add_loop_option(p)

    p = sub.add_parser(
        "emulator",
        help="run a local emulator of the Azure Private DNS API (to try a configuration offline)",
        parents=[common],
        add_help=False,
    )
    p.set_defaults(handler=lazy("commands.cmd_emulator"), args=[])

    k = _interop_command(
        sub,
        common,
        "import",
        "traffic-manager",
        "a Traffic Manager profile (az network traffic-manager profile show -o json)",
        description="a Traffic Manager profile (ARM JSON) as a configuration for dnsctl serve; "
        "what has no equivalent is listed on stderr and as comments",
    )
    k.add_argument("file", metavar="PROFILE.json", help="the profile as ARM returns it ('-' for stdin)")
    k.add_argument("-o", "--output", type=Path, help="write the configuration here (default: stdout)")
    k.add_argument("--fqdn", help="the name dnsctl steers (default: the profile's trafficmanager.net name)")
    k.set_defaults(handler=lazy("commands.cmd_import"))
    _private_traffic_manager_commands(sub, common)

    p = command(
        "status", lazy("commands.cmd_status"), "show a running controller's state (from its admin API)"
    )
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--watch", action="store_true", help="show the status again every --interval until Ctrl-C")
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="with --watch: seconds between frames"
    )
    p = command(
        "resync",
        lazy("commands.cmd_operator"),
        "make a running controller re-read what it published and correct drift now",
    )
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    for name, summary in (
        ("drain", "take an endpoint out of rotation (an operator override that survives restarts)"),
        ("undrain", "let a drained endpoint follow its probes again"),
    ):
        p = command(name, lazy("commands.cmd_operator"), summary)
        p.add_argument("profile")
        p.add_argument("endpoint")
        p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p = command(
        "history",
        lazy("commands.cmd_history"),
        "show the last decisions (from the admin API or a state file)",
    )
    p.add_argument("profile", nargs="?", help="only this profile")
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p.add_argument("--state-file", type=Path, help="read a state file instead of asking a running controller")
    p.add_argument("-n", "--last", type=_count, metavar="N", help="only the last N decisions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(
        "failback", lazy("commands.cmd_operator"), "return a failback: manual profile to its best endpoint"
    )
    p.add_argument("profile")
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")

    p = command(
        "completion", lazy("commands.cmd_completion"), "print a shell completion script", config_help=None
    )
    p.add_argument("shell", choices=completion.SHELLS)
    return parser


def _global_options(parser: argparse.ArgumentParser, *, default: str, format_default: str) -> None:
    parser.add_argument("--log-level", default=default, choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default=format_default, choices=["text", "json"])


def add_loop_option(p: argparse.ArgumentParser) -> None:
    """`--loop` for every long-running command: they all start through `daemon.run`."""
    p.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop: uvloop (faster DNS answers; default when installed) or asyncio",
    )


def _interop_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The `import` / `export` command groups (one parser each, shared by every format)."""
    if name not in sub.choices:
        group = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=help_text.epilog(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        group.add_subparsers(dest="format", required=True, metavar="FORMAT")
    found = next(a for a in sub.choices[name]._actions if isinstance(a, argparse._SubParsersAction))
    return found


GROUPS = {
    "import": "convert another traffic manager's configuration to dnsctl's",
    "export": "convert a dnsctl configuration to another traffic manager's",
}


def _interop_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    group: str,
    name: str,
    summary: str,
    *,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """`dnsctl import|export NAME`: one format's parser in its group."""
    return _interop_group(sub, group, GROUPS[group]).add_parser(
        name,
        parents=[common],
        help=summary,
        description=description or summary,
        epilog=help_text.epilog(group),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _private_traffic_manager_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = _interop_command(
        sub,
        common,
        "import",
        "private-traffic-manager",
        "convert Azure Private Traffic Manager (2026-10-01-preview) JSON to a dnsctl configuration",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="profile, health policy, topology map JSON")
    p.add_argument("--zone", default=None, help="DNS zone for profiles without a dnsctl-fqdn tag")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.set_defaults(handler=lazy("commands.cmd_import_private_traffic_manager"))
    p = _interop_command(
        sub,
        common,
        "export",
        "private-traffic-manager",
        "write the Azure Private Traffic Manager ARM template for a dnsctl configuration",
    )
    p.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.set_defaults(handler=lazy("commands.cmd_export_private_traffic_manager"))


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (1 or more)")
    return int(text)
