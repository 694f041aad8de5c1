"""The command line. Only this module prints and chooses exit codes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsctl import __version__, compose
from dnsctl.cli import admin_client, completion, help_text, render
from dnsctl.config.advice import advise
from dnsctl.config.load import config_path, load
from dnsctl.controller.reconcile import Report, reconcile_once
from dnsctl.core.model import DnsctlSpec, IsolationGuardSpec
from dnsctl.core.routing import Decision, DecisionKind
from dnsctl.errors import ConfigError, DnsctlError, InputError
from dnsctl.process import daemon, logs
from dnsctl.process.state_store import FileStore
from dnsctl.targets.base import Outcome

if TYPE_CHECKING:
    from dnsctl.controller.base import ControllerBase
    from dnsctl.controller.mirror import MirrorReport

Handler = Callable[[argparse.Namespace], int]


class ExitCode(IntEnum):
    CONVERGED = 0
    FAILED = 1
    BAD_CONFIG = 2
    REFUSED = 3
    DEGRADED = 4
    CHANGES = 2  # `plan --detailed-exitcode` only: changes are pending (errors are 1 there)


def exit_code(report: Report) -> ExitCode:
    """A reconcile pass's outcome as an exit code: failures first, then refusals, then degradation.

    A profile still without verdicts (nothing was written for it) is not converged: 4, like `mirror --once`.
    """
    if report.failed:
        return ExitCode.FAILED
    if report.refused:
        return ExitCode.REFUSED
    if report.degraded or report.plan.waiting:
        return ExitCode.DEGRADED
    return ExitCode.CONVERGED


def mirror_exit_code(report: MirrorReport) -> ExitCode:
    """`dnsctl mirror --once`: failures first, then refusals; a profile left waiting is not converged."""
    if report.failed:
        return ExitCode.FAILED
    if report.refused:
        return ExitCode.REFUSED
    if report.degraded or report.waiting:
        return ExitCode.DEGRADED
    return ExitCode.CONVERGED


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == [completion.HELPER]:  # what the completion scripts call: not a command of its own
        return completion.helper(build_parser(), words[1:])
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "emulator":
            args.args = [*extra, *args.args]
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        # `plan --detailed-exitcode` keeps 2 for "changes pending": bad arguments are 1 there.
        if e.code == ExitCode.BAD_CONFIG and DETAILED_EXITCODE in words:
            return ExitCode.FAILED
        raise
    logs.setup(args.log_level, args.log_format)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DnsctlError as e:
        return _report_error(e)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (| head) went away: not an error of ours
        return ExitCode.CONVERGED


def _report_error(e: DnsctlError) -> int:
    """The one place an error becomes a message and an exit code."""
    if isinstance(e, ConfigError):
        print(f"dnsctl: invalid configuration ({len(e.problems)} problem(s)):", file=sys.stderr)
        for problem in e.problems:
            print(f"  {logs.redact(str(problem))}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    if isinstance(e, InputError):
        print(f"dnsctl: {logs.redact(str(e))}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    hint = getattr(e, "hint", "")
    message = f"{e}; {hint}" if hint else str(e)
    if e.transient:
        message += " (this may pass: try again later)"
    print(f"dnsctl: {logs.redact(message)}", file=sys.stderr)
    return ExitCode.FAILED


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

    command("validate", cmd_validate, "check a configuration file and exit (0 valid, 2 invalid)")

    p = command("check", cmd_check, "probe every endpoint and show where each profile would point")
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument(
        "--rounds", type=int, default=1, help="probe rounds at the monitor interval (hysteresis applies)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    for name, summary in (
        ("plan", "probe, decide and print the changes the Azure records need; changes nothing"),
        ("reconcile", "one pass: read the zones, probe, decide, and apply the plan"),
    ):
        p = command(name, cmd_reconcile, summary)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument(
            "--profile", action="append", help="only this profile (repeatable); the others are left alone"
        )
        if name == "plan":
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

    p = command("serve", cmd_serve, "run the embedded resolver, steered by health checks")
    p.add_argument("--state-file", type=Path, help="keep health history and operator actions across restarts")
    add_loop_option(p)

    p = command("run", cmd_run, "run the controller that keeps Azure Private DNS records on the decisions")
    p.add_argument(
        "--state-file", type=Path, help="keep the health history in this file, not in record metadata"
    )
    p.add_argument("--force", action="store_true", help="apply plans larger than max_changes_per_run")
    add_loop_option(p)

    p = command(
        "mirror",
        cmd_mirror,
        "keep this node's containerd hosts.toml (and CRI-O drop-in) listing replicas in health order",
    )
    p.add_argument(
        "--once", action="store_true", help="probe once, write the files, exit (reconcile's codes)"
    )
    p.add_argument("--state-file", type=Path, help="keep health history and operator actions across runs")
    p.add_argument("--json", action="store_true", help="with --once: print JSON")
    add_loop_option(p)

    p = command(
        "demo",
        cmd_demo,
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
    p.set_defaults(handler=cmd_emulator, args=[])

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
    k.set_defaults(handler=cmd_import)
    _private_traffic_manager_commands(sub, common)

    p = command("status", cmd_status, "show a running controller's state (from its admin API)")
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--watch", action="store_true", help="show the status again every --interval until Ctrl-C")
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="with --watch: seconds between frames"
    )
    p = command(
        "resync", cmd_operator, "make a running controller re-read what it published and correct drift now"
    )
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    for name, summary in (
        ("drain", "take an endpoint out of rotation (an operator override that survives restarts)"),
        ("undrain", "let a drained endpoint follow its probes again"),
    ):
        p = command(name, cmd_operator, summary)
        p.add_argument("profile")
        p.add_argument("endpoint")
        p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p = command("history", cmd_history, "show the last decisions (from the admin API or a state file)")
    p.add_argument("profile", nargs="?", help="only this profile")
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")
    p.add_argument("--state-file", type=Path, help="read a state file instead of asking a running controller")
    p.add_argument("-n", "--last", type=_count, metavar="N", help="only the last N decisions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command("failback", cmd_operator, "return a failback: manual profile to its best endpoint")
    p.add_argument("profile")
    p.add_argument("--url", help="admin API base URL (default: from admin.listen in the config)")

    p = command("completion", cmd_completion, "print a shell completion script", config_help=None)
    p.add_argument("shell", choices=completion.SHELLS)
    return parser


CONFIG_HELP = "configuration file (default: $DNSCTL_CONFIG or dnsctl.yaml)"
DETAILED_EXITCODE = "--detailed-exitcode"


def _global_options(parser: argparse.ArgumentParser, *, default: str, format_default: str) -> None:
    parser.add_argument("--log-level", default=default, choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default=format_default, choices=["text", "json"])


def cmd_completion(args: argparse.Namespace) -> int:
    from dnsctl.emulator.command import build_parser as emulator_parser

    cli = completion.describe(build_parser(), {"emulator": emulator_parser()})
    sys.stdout.write(completion.script(args.shell, cli))
    return ExitCode.CONVERGED


def _load(args: argparse.Namespace, *, serving: bool = True) -> tuple[Path, DnsctlSpec]:
    """`serving`: the command runs the admin API (`validate` checks as if it did)."""
    path = config_path(args.config)
    return path, load(path, serving=serving, validating=args.command == "validate")


def cmd_validate(args: argparse.Namespace) -> int:
    path, spec = _load(args)
    for warning in advise(spec):
        print(f"warning: {warning}", file=sys.stderr)
    endpoints = sum(len(p.endpoints) for p in spec.profiles)
    azure = sum(1 for p in spec.profiles if p.azure is not None)
    print(
        f"{path}: valid: {len(spec.profiles)} profile(s), {endpoints} endpoint(s), "
        f"{azure} Azure record(s), {len(spec.resolver.zones)} lab zone(s)"
    )
    return ExitCode.CONVERGED


def cmd_import(args: argparse.Namespace) -> int:
    from dnsctl.interop import traffic_manager
    from dnsctl.process.atomic_file import write_atomically

    source = "stdin" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {source}: {e}") from None
    doc = traffic_manager.load_profile(text, source)
    imported = traffic_manager.import_profile(doc, fqdn=args.fqdn, source=source)
    if args.output is not None:
        try:
            write_atomically(args.output, imported.yaml, mode=0o644)
        except OSError as e:
            raise DnsctlError(f"cannot write {args.output}: {e}") from None
    else:
        sys.stdout.write(imported.yaml)
    for item in imported.unmapped:
        print(f"dnsctl: not mapped: {item}", file=sys.stderr)
    if imported.unmapped:
        print(
            f"dnsctl: {len(imported.unmapped)} field(s) could not be mapped; they are listed as comments "
            "at the top of the configuration",
            file=sys.stderr,
        )
        return ExitCode.REFUSED
    return ExitCode.CONVERGED


def _only_profiles(spec: DnsctlSpec, names: Sequence[str] | None) -> DnsctlSpec:
    """`--profile NAME...`: the configuration narrowed to those profiles (an unknown name is an error)."""
    if not names:
        return spec
    known = [p.name for p in spec.profiles]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            [f"--profile: no profile named {n!r} (profiles: {', '.join(known) or 'none'})" for n in unknown]
        )
    return dataclasses.replace(spec, profiles=tuple(p for p in spec.profiles if p.name in names))


def cmd_check(args: argparse.Namespace) -> int:
    _, spec = _load(args, serving=False)
    spec = _only_profiles(spec, args.profile)
    if args.rounds < 1:
        raise ConfigError(["--rounds: must be at least 1"])
    # A diagnostic reports what it sees: the isolation guard would hide exactly that. What the guard
    # would make of the last round is said next to it.
    guard = spec.isolation_guard
    spec = dataclasses.replace(spec, isolation_guard=dataclasses.replace(guard, enabled=False))
    if args.rounds == 1:
        # One look is a verdict on its own: no hysteresis to wait for.
        spec = dataclasses.replace(
            spec,
            profiles=tuple(
                dataclasses.replace(p, monitor=dataclasses.replace(p.monitor, fall=1, rise=1))
                for p in spec.profiles
            ),
        )
    doc = asyncio.run(_check(spec, args.rounds, guard))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(render.health_table(doc))
        if doc["isolated"]:
            print(
                "WARNING: isolation guard: nothing came back from any endpoint (timeouts, no route, a "
                "connection that never answered) and no canary answered: this host's own network is the "
                "likelier cause; `run` and `reconcile` would freeze the decisions (keep the records)",
                file=sys.stderr,
            )
    every_profile_online = all(any(e["status"] == "Online" for e in p["endpoints"]) for p in doc["profiles"])
    return ExitCode.CONVERGED if every_profile_online else ExitCode.FAILED


async def _check(spec: DnsctlSpec, rounds: int, guard: IsolationGuardSpec) -> dict[str, Any]:
    engine = compose.build_engine(spec)
    for i in range(rounds):
        if i:
            await engine.clock.sleep(min(p.monitor.interval for p in spec.profiles))
        outcome = await engine.round()
    isolated = await engine.would_isolate(outcome.results, guard)
    return {**render.health_doc(spec, engine.states), "isolated": isolated}


def cmd_reconcile(args: argparse.Namespace) -> int:
    detailed = getattr(args, "detailed_exitcode", False)
    try:
        _, full = _load(args, serving=False)
        spec = _only_profiles(full, args.profile)
        if not any(p.azure is not None for p in spec.profiles):
            raise ConfigError(["profiles: no profile has an `azure` record to reconcile"])
    except ConfigError as e:
        code = _report_error(e)
        return ExitCode.FAILED if detailed else code
    dry_run = args.command == "plan" or args.dry_run
    report = asyncio.run(_reconcile(spec, args, dry_run, others=[p.name for p in full.profiles]))
    code = exit_code(report)
    if detailed and code is ExitCode.CONVERGED and report.plan.dns_changes:
        code = ExitCode.CHANGES
    if args.json:
        print(json.dumps({**_report_doc(spec, report), "exit_code": int(code)}, indent=2))
    else:
        _print_report(spec, report)
    return code


async def _reconcile(
    spec: DnsctlSpec, args: argparse.Namespace, dry_run: bool, *, others: Sequence[str] = ()
) -> Report:
    engine = compose.build_engine(spec)
    target = compose.build_target(spec, engine.clock)
    store = compose.build_store(args.state_file, clock=engine.clock, read_only=dry_run)
    if isinstance(store, FileStore):
        # With --profile, the state file keeps the history of the profiles left out.
        store.keep_others = frozenset(others)
    try:
        return await reconcile_once(
            engine,
            target,
            store,
            dry_run=dry_run,
            force=getattr(args, "force", False),
        )
    finally:
        await target.close()


def _report_doc(spec: DnsctlSpec, report: Report) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "dry_run": report.dry_run,
        "exit_code": int(exit_code(report)),
        "changes": [render.change_doc(c) for c in report.plan.changes],
        "results": [
            {
                **render.change_doc(r.change),
                "outcome": r.outcome.value,
                "new_etag": r.etag,
                "error": r.error,
                "hint": r.hint,
            }
            for r in report.results
        ],
        "refused": [str(r) for r in report.refused],
        "waiting": list(report.plan.waiting),
        "errors": report.errors,
        "degraded": report.degraded,
        "unpublished": list(report.plan.unpublished),
        "conflicts_retried": report.conflicts_retried,
        "summary": summary(report),
        "state": report.state,
    }
    # The same keys as `check --json` and `status --json`: `profiles` and `isolated`.
    doc["isolated"] = report.outcome.isolated if report.outcome is not None else False
    if report.outcome is not None:
        doc["profiles"] = render.health_doc(spec, report.outcome.states)["profiles"]
    return doc


def _print_report(spec: DnsctlSpec, report: Report) -> None:
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    if report.outcome is not None:
        # What the records follow: each record's own decision, changed or not. A resolver view's
        # decision is `serve`'s business, not a record's: it is not shown here.
        for p in spec.profiles:
            if p.azure is None:
                continue
            d = _decision(report, p.name)
            reason = d.reason if d is not None else "none yet: not every endpoint has a verdict"
            print(f"decision: {p.name}: {reason}")
        if report.outcome.isolated:
            print(
                "WARNING: isolation guard: no endpoint answered at all (timeouts, no route) and no canary "
                "did; decisions are frozen",
                file=sys.stderr,
            )
    if report.published or not report.errors:  # after a failed read there is no plan to show
        print(render.plan_table(report.plan))
    for problem in report.refused:
        if problem not in report.plan.refusals:  # those are in the plan table already
            print(f"refused: {problem}", file=sys.stderr)
    for r in report.results:
        extra = f" ({r.error})" if r.error else ""
        hint = f"; {r.hint}" if r.hint else ""
        print(f"{r.outcome.value}: {r.change.profile}: {r.change.name}: {r.change.action.value}{extra}{hint}")
    for name in report.degraded:
        print(f"degraded: {_degraded_sentence(report, name)}", file=sys.stderr)
    print(summary(report))


def _decision(report: Report, name: str) -> Decision | None:
    st = report.outcome.states.get(name) if report.outcome is not None else None
    return st.decision if st is not None else None


def _degraded_sentence(report: Report, name: str) -> str:
    d = _decision(report, name)
    if name in report.plan.unpublished:
        if d is None:
            return (
                f"{name}: no endpoint is Online (no verdict yet) and nothing is published; "
                "no record was created"
            )
        return (
            f"{name}: no endpoint is Online and nothing is published; when_all_down keep-last has "
            "nothing to keep, so no record was created"
        )
    if d is not None and d.kind is DecisionKind.FROZEN:
        return f"{name}: the isolation guard holds the last answer (nothing answered, not even a canary)"
    published = [
        r.change
        for r in report.results
        if r.change.profile == name and r.outcome is Outcome.APPLIED and r.change.after is not None
    ]
    if published:
        return f"{name}: no endpoint is Online; published {published[-1].after}: {published[-1].reason}"
    if d is not None and d.keep_current:
        return f"{name}: no endpoint is Online; the last answer is kept"
    return f"{name}: no endpoint is Online"


def summary(report: Report) -> str:
    """One line that says what happened: converged, refused, read failed, failed or degraded."""
    applied = [r for r in report.results if r.outcome is Outcome.APPLIED and r.change.changes_dns]
    failed = [r for r in report.results if r.outcome is not Outcome.APPLIED]
    if report.errors and not report.published:
        return f"read failed: nothing was changed ({report.errors[0]})"
    if report.errors or failed:
        why = report.errors[0] if report.errors else (failed[0].error or failed[0].outcome.value)
        return (
            f"failed: {len(applied)} change(s) applied, {len(failed) or 'the rest'} not ({why}); "
            "records not written are left as they were"
        )
    if report.refused:
        more = f" (and {len(report.refused) - 1} more)" if len(report.refused) > 1 else ""
        return f"refused: nothing was changed: {report.refused[0]}{more}"
    planned = len(report.plan.dns_changes)
    waiting = [n for n in report.plan.waiting if n not in report.degraded]
    if report.degraded or waiting:
        done = (
            f"{planned} change(s) would be made (dry run: nothing was changed); "
            if report.dry_run
            else f"{len(applied)} change(s) applied; "
        )
        sentences = [_degraded_sentence(report, n) for n in report.degraded]
        sentences += [_waiting_sentence(report, n) for n in waiting]
        return f"degraded: {done}" + "; ".join(sentences)
    if report.dry_run:
        return f"dry run: {planned} change(s) would be made; nothing was changed"
    if applied:
        return f"converged: {len(applied)} change(s) applied"
    return "converged: the published records match the decisions"


def _waiting_sentence(report: Report, name: str) -> str:
    why = (
        "the isolation guard judged nobody (nothing answered, not even a canary)"
        if report.outcome is not None and report.outcome.isolated
        else "an endpoint failed fewer than `fall` times in a row"
    )
    return f"{name}: no verdict on every endpoint after this run's probes ({why}); nothing was written"


def add_loop_option(p: argparse.ArgumentParser) -> None:
    """`--loop` for every long-running command: they all start through `daemon.run`."""
    p.add_argument(
        "--loop",
        choices=daemon.LOOPS,
        default="auto",
        help="event loop: uvloop (faster DNS answers; default when installed) or asyncio",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    _, spec = _load(args)
    for warning in advise(spec):
        logging.getLogger("dnsctl").warning("%s", warning)
    daemon.run(_serve(spec, args), args.loop)
    return ExitCode.CONVERGED


async def _serve(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.serve import ServeController

    engine = compose.build_engine(spec)
    ctl = ServeController(
        engine, store=compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None
    )

    def banner(admin: str) -> str:
        bound = ", ".join(_fmt(h, p) for h, p in ctl.server.bound)
        return f"dnsctl serve: answering on {bound} (udp+tcp); admin on {admin}"

    await _until_signal(ctl, spec, banner)


async def _until_signal(ctl: ControllerBase, spec: DnsctlSpec, banner: Callable[[str], str]) -> None:
    """Run a controller and its admin server until SIGTERM/SIGINT (the admin answers from the start)."""
    from dnsctl.controller.admin import AdminServer

    admin = AdminServer(ctl, spec.admin.listen, clock=ctl.clock)

    async def start() -> None:
        await admin.start()
        await ctl.start()

    async def stop() -> None:
        await ctl.stop()
        await ctl.close_notifications()
        await admin.stop()

    def ready() -> None:
        print(
            banner(f"http://{_fmt(spec.admin.listen.host, admin.port or spec.admin.listen.port)}"), flush=True
        )

    await daemon.run_until_signal(start, stop, on_ready=ready)


def _fmt(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cmd_run(args: argparse.Namespace) -> int:
    _, spec = _load(args)
    if not any(p.azure is not None for p in spec.profiles):
        raise ConfigError(["profiles: no profile has an `azure` record: `dnsctl run` has nothing to write"])
    daemon.run(_run(spec, args), args.loop)
    return ExitCode.CONVERGED


async def _run(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.run import RunController

    engine = compose.build_engine(spec)
    ctl = RunController(
        engine,
        compose.build_target(spec, engine.clock),
        lease=compose.build_lease(spec, engine.clock),
        store=compose.build_store(args.state_file, clock=engine.clock),
        force=args.force,
    )
    await _until_signal(
        ctl, spec, lambda admin: f"dnsctl run: {len(spec.profiles)} profile(s); admin on {admin}"
    )


def cmd_mirror(args: argparse.Namespace) -> int:
    _, spec = _load(args)
    if spec.mirror.containerd_hosts_dir is None and spec.mirror.crio_registries_dir is None:
        raise ConfigError(
            ["mirror: neither containerd nor crio is enabled: `dnsctl mirror` has nothing to write"]
        )
    if not spec.profiles:
        raise ConfigError(["profiles: no profile: `dnsctl mirror` has nothing to write"])
    if args.once:
        return _mirror_once(spec, args)
    daemon.run(_mirror(spec, args), args.loop)
    return ExitCode.CONVERGED


def _mirror_once(spec: DnsctlSpec, args: argparse.Namespace) -> int:
    from dnsctl.controller.mirror import build_files, mirror_once

    engine = compose.build_engine(spec)
    report = asyncio.run(
        mirror_once(
            engine,
            build_files(spec),
            compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None,
        )
    )
    code = mirror_exit_code(report)
    if args.json:
        doc = {
            "exit_code": int(code),
            "files": [
                {
                    "profile": r.profile,
                    "runtime": r.runtime.value,
                    "path": str(r.path),
                    "outcome": r.outcome.value,
                    "hosts": list(r.hosts),
                    "error": r.error or None,
                }
                for r in report.results
            ],
            "waiting": report.waiting,
            "degraded": report.degraded,
            "isolated": report.isolated,
        }
        print(json.dumps(doc, indent=2))
        return code
    for r in report.results:
        hosts = ", ".join(r.hosts) or "(none)"
        extra = f" ({r.error})" if r.error else ""
        print(f"{r.outcome.value}: {r.profile}: {r.path}: {hosts}{extra}")
    for name in report.waiting:
        print(f"waiting: {name}: no verdicts yet; nothing written", file=sys.stderr)
    if report.isolated:
        print(
            "WARNING: isolation guard: every endpoint failed at once; files kept as they are", file=sys.stderr
        )
    for name in report.degraded:
        print(f"degraded: {name}: no endpoint is Online", file=sys.stderr)
    return code


async def _mirror(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.mirror import MirrorController, build_files

    engine = compose.build_engine(spec)
    ctl = MirrorController(
        engine,
        build_files(spec),
        store=compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None,
    )
    where = ", ".join(
        str(d) for d in (spec.mirror.containerd_hosts_dir, spec.mirror.crio_registries_dir) if d
    )
    await _until_signal(
        ctl,
        spec,
        lambda admin: f"dnsctl mirror: {len(spec.profiles)} profile(s) into {where}; admin on {admin}",
    )


def _admin_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    path = config_path(args.config)
    listen = load(path, serving=False).admin.listen if path.exists() else None
    if listen is None:
        return "http://127.0.0.1:9153"
    return f"http://{listen}"


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
    p.set_defaults(handler=cmd_import_private_traffic_manager)
    p = _interop_command(
        sub,
        common,
        "export",
        "private-traffic-manager",
        "write the Azure Private Traffic Manager ARM template for a dnsctl configuration",
    )
    p.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.set_defaults(handler=cmd_export_private_traffic_manager)


def _write_converted(text: str, notes: list[str], output: Path | None) -> int:
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            print(f"dnsctl: cannot write {output}: {e.strerror or e}", file=sys.stderr)
            return ExitCode.FAILED
    for note in notes:
        print(f"dnsctl: not mapped: {note}", file=sys.stderr)
    return ExitCode.REFUSED if notes else ExitCode.CONVERGED


def cmd_import_private_traffic_manager(args: argparse.Namespace) -> int:
    from dnsctl.interop import private_traffic_manager as ptm

    docs = []
    try:
        for name in args.files:
            try:
                docs.append((name, json.loads(Path(name).read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                raise ptm.PtmInputError(f"{name}: cannot read JSON: {e}") from None
        result = ptm.import_profiles(docs, zone=args.zone or ptm.DEFAULT_ZONE)
    except ptm.PtmInputError as e:
        print(f"dnsctl: {e}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    return _write_converted(ptm.render_import(result), result.notes, args.output)


def cmd_export_private_traffic_manager(args: argparse.Namespace) -> int:
    from dnsctl.config.load import load_settings
    from dnsctl.interop import private_traffic_manager as ptm

    settings = load_settings(config_path(args.config), serving=False)
    try:
        result = ptm.export_profiles(settings)
    except ptm.PtmInputError as e:
        print(f"dnsctl: {e}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    return _write_converted(ptm.render_export(result), result.notes, args.output)


def cmd_status(args: argparse.Namespace) -> int:
    url = _admin_url(args)
    if not args.watch:
        _print_status(admin_client.get_status(url), as_json=args.json)
        return ExitCode.CONVERGED
    if not args.interval > 0:
        raise ConfigError(["--interval: must be more than 0 seconds"])
    clear = sys.stdout.isatty() and not args.json
    frames = 0
    clock = compose.build_clock()
    try:
        while True:
            try:
                doc: dict[str, Any] | None = admin_client.get_status(url)
                problem = ""
            except DnsctlError as e:
                if not frames:
                    raise  # a wrong URL or token is an error, not something to watch
                doc, problem = None, logs.redact(str(e))  # a controller restarting: keep watching
            frames += 1
            if args.json:  # one JSON document per line, one line per frame
                print(json.dumps(doc if doc is not None else {"error": problem}), flush=True)
            else:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now()))
                if clear:
                    sys.stdout.write("\033[H\033[2J")
                print(f"Every {args.interval:g}s: dnsctl status {url}  {stamp}\n")
                if doc is not None:
                    _print_status(doc, as_json=False)
                else:
                    print(f"dnsctl: {problem}")
                print(flush=True)
            clock.pause(args.interval)
    except KeyboardInterrupt:
        return ExitCode.CONVERGED  # Ctrl-C is how a watch ends


def _print_status(doc: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(doc, indent=2), flush=True)
    else:
        print(render.health_table(doc))
        extra = render.controller_lines(doc)
        if extra:
            print("\n".join(["", *extra]))
        for p in doc["profiles"]:
            for f in p.get("mirror_files", []):
                error = f" ({f['error']})" if f.get("error") else ""
                hosts = ", ".join(f["hosts"]) or "-"
                print(f"mirror: {p['name']}: {f['path']}: {f['last_sync']}: {hosts}{error}")
        sys.stdout.flush()


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (1 or more)")
    return int(text)


def cmd_history(args: argparse.Namespace) -> int:
    from dnsctl.cli import history_view

    if args.state_file is not None:
        entries = history_view.from_state_file(args.state_file)
    else:
        entries = history_view.from_status(admin_client.get_status(_admin_url(args)))
    history_view.print_history(history_view.select(entries, args.profile, args.last), as_json=args.json)
    return ExitCode.CONVERGED


def cmd_operator(args: argparse.Namespace) -> int:
    url = _admin_url(args)
    if args.command == "resync":
        path = "/v1/resync"
    elif args.command == "failback":
        path = f"/v1/profiles/{args.profile}/failback"
    else:
        path = f"/v1/profiles/{args.profile}/endpoints/{args.endpoint}/{args.command}"
    print(admin_client.post_action(url, path))
    return ExitCode.CONVERGED


def cmd_emulator(args: argparse.Namespace) -> int:
    from dnsctl.emulator.command import main as emulator_main

    return emulator_main(args.args)


def cmd_demo(args: argparse.Namespace) -> int:
    from dnsctl.demo import lab_config

    if args.print_config:
        sys.stdout.write(lab_config.text())
        return ExitCode.CONVERGED
    if args.config:
        spec = load(Path(args.config))
    else:
        with lab_config.path() as path:
            spec = load(path)
    return daemon.run(_demo(spec, forever=args.forever), args.loop)


async def _demo(spec: DnsctlSpec, *, forever: bool) -> int:
    from dnsctl.demo.scenario import Demo

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        demo = Demo(spec, compose.build_engine(spec), say)
    except ValueError as e:
        raise ConfigError([str(e)]) from None
    if forever:
        first = demo.profile.by_priority[0]
        await daemon.run_until_signal(
            demo.start,
            demo.stop,
            on_ready=lambda: say(
                f"take {first.name} down:  curl -X POST http://{first.addresses[0]}:{demo.replicas.port}/_demo/down"
                "\nCtrl-C to stop."
            ),
        )
        return ExitCode.CONVERGED
    await demo.start()
    try:
        ok = await demo.scripted()
    finally:
        await demo.stop()
    say("demo complete: DNS followed the replica's health both ways" if ok else "demo FAILED")
    return ExitCode.CONVERGED if ok else ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
