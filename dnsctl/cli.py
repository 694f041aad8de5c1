"""The command line. Only this module prints and chooses exit codes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dnsctl import __version__, compose, logs, render
from dnsctl.config.load import config_path, load
from dnsctl.core.model import DnsctlSpec
from dnsctl.errors import ConfigError, DnsctlError
from dnsctl.reconcile import ExitCode, Report, StateFile, reconcile_once

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ConfigError as e:
        print(f"dnsctl: invalid configuration ({len(e.problems)} problem(s)):", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    except DnsctlError as e:
        print(f"dnsctl: {e}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnsctl", description="Health-checked DNS failover for private networks."
    )
    parser.add_argument("--version", action="version", version=f"dnsctl {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-c", "--config", help="configuration file (default: $DNSCTL_CONFIG or dnsctl.yaml)")
        p.set_defaults(handler=handler)
        return p

    command("validate", cmd_validate, "check a configuration file and exit (0 valid, 2 invalid)")

    p = command("check", cmd_check, "probe every endpoint and show where each profile would point")
    p.add_argument("--profile", action="append", help="only this profile (repeatable)")
    p.add_argument(
        "--rounds", type=int, default=1, help="probe rounds at the monitor interval (hysteresis applies)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    for name, help_text in (
        ("plan", "probe, decide and print the changes the Azure records need; changes nothing"),
        ("reconcile", "one pass: read the zones, probe, decide, and apply the plan"),
    ):
        p = command(name, cmd_reconcile, help_text)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument(
            "--state-file", type=Path, help="keep the health history in this file, not in record metadata"
        )
        if name == "reconcile":
            p.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
            p.add_argument(
                "--force", action="store_true", help="apply a plan larger than max_changes_per_run"
            )

    return parser


def _load(args: argparse.Namespace) -> tuple[Path, DnsctlSpec]:
    path = config_path(args.config)
    return path, load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    path, spec = _load(args)
    endpoints = sum(len(p.endpoints) for p in spec.profiles)
    azure = sum(1 for p in spec.profiles if p.azure is not None)
    print(
        f"{path}: valid: {len(spec.profiles)} profile(s), {endpoints} endpoint(s), "
        f"{azure} Azure record(s), {len(spec.resolver.zones)} lab zone(s)"
    )
    return ExitCode.CONVERGED


def cmd_check(args: argparse.Namespace) -> int:
    _, spec = _load(args)
    if args.profile:
        unknown = [n for n in args.profile if n not in {p.name for p in spec.profiles}]
        if unknown:
            raise ConfigError([f"--profile: no profile named {n!r}" for n in unknown])
        spec = dataclasses.replace(spec, profiles=tuple(p for p in spec.profiles if p.name in args.profile))
    if args.rounds < 1:
        raise ConfigError(["--rounds: must be at least 1"])
    if args.rounds == 1:
        # One look is a verdict on its own: no hysteresis to wait for.
        spec = dataclasses.replace(
            spec,
            profiles=tuple(
                dataclasses.replace(p, monitor=dataclasses.replace(p.monitor, fall=1, rise=1))
                for p in spec.profiles
            ),
        )
    doc = asyncio.run(_check(spec, args.rounds))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(render.health_table(doc))
    every_profile_online = all(any(e["status"] == "Online" for e in p["endpoints"]) for p in doc["profiles"])
    return ExitCode.CONVERGED if every_profile_online else ExitCode.FAILED


async def _check(spec: DnsctlSpec, rounds: int) -> dict[str, Any]:
    engine = compose.build_engine(spec)
    for i in range(rounds):
        if i:
            await asyncio.sleep(min(p.monitor.interval for p in spec.profiles))
        await engine.round()
    return render.health_doc(spec, engine.states)


def cmd_reconcile(args: argparse.Namespace) -> int:
    _, spec = _load(args)
    if not any(p.azure is not None for p in spec.profiles):
        raise ConfigError(["profiles: no profile has an `azure` record to reconcile"])
    dry_run = args.command == "plan" or args.dry_run
    report = asyncio.run(_reconcile(spec, args, dry_run))
    if args.json:
        print(json.dumps(_report_doc(spec, report), indent=2))
    else:
        _print_report(report)
    return report.exit_code


async def _reconcile(spec: DnsctlSpec, args: argparse.Namespace, dry_run: bool) -> Report:
    engine = compose.build_engine(spec)
    target = compose.build_target(spec)
    try:
        return await reconcile_once(
            engine,
            target,
            dry_run=dry_run,
            force=getattr(args, "force", False),
            state_file=StateFile(args.state_file) if args.state_file else None,
        )
    finally:
        await target.close()


def _report_doc(spec: DnsctlSpec, report: Report) -> dict[str, Any]:
    doc = {
        "dry_run": report.dry_run,
        "exit_code": int(report.exit_code),
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
        "refused": report.refused,
        "waiting": list(report.plan.waiting),
        "errors": report.errors,
        "degraded": report.degraded,
        "conflicts_retried": report.conflicts_retried,
    }
    if report.outcome is not None:
        doc["health"] = render.health_doc(spec, report.outcome.states)["profiles"]
    return doc


def _print_report(report: Report) -> None:
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    if report.outcome is not None:
        for change in report.outcome.changes:
            print(f"decision: {change.profile}: {change.new.reason}")
        if report.outcome.isolated:
            print(
                "WARNING: isolation guard: every endpoint failed at once; decisions are frozen",
                file=sys.stderr,
            )
    print(render.plan_table(report.plan))
    for problem in report.refused:
        if problem not in {f"{r.profile}: {r.name}: {r.reason}" for r in report.plan.refusals}:
            print(f"refused: {problem}", file=sys.stderr)
    if report.dry_run:
        print("dry run: nothing was changed")
    for r in report.results:
        extra = f" ({r.error})" if r.error else ""
        hint = f"; {r.hint}" if r.hint else ""
        print(f"{r.outcome.value}: {r.change.profile}: {r.change.name}: {r.change.action.value}{extra}{hint}")
    for name in report.degraded:
        print(f"degraded: {name}: no endpoint is Online", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
