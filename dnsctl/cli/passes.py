"""The one-shot passes: `check`, `plan`, `reconcile` and `mirror --once`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dnsctl import compose
from dnsctl.cli import render
from dnsctl.cli.commands import emit, load_spec
from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.config import command_line
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import MirrorReport, Report
from dnsctl.core.model import DnsctlSpec, IsolationGuardSpec
from dnsctl.documents.status import StatusDoc, health_doc
from dnsctl.process.state_store import FileStore

if TYPE_CHECKING:
    from dnsctl.controller.mirror_agent import ExchangeMirror


def cmd_check(args: argparse.Namespace) -> int:
    _, spec = load_spec(args, serving=False)
    spec = command_line.only_profiles(spec, args.profile)
    command_line.at_least("--rounds", args.rounds, 1)
    # A diagnostic reports what it sees: the isolation guard would hide exactly that. What the guard
    # would make of the last round is said next to it.
    guard = spec.isolation_guard
    spec = dataclasses.replace(spec, isolation_guard=dataclasses.replace(guard, enabled=False))
    if args.rounds == 1:
        # One look is a verdict on its own: no hysteresis to wait for.
        spec = dataclasses.replace(
            spec,
            profiles=tuple(
                dataclasses.replace(
                    p, monitor=dataclasses.replace(p.monitor, fall=1, rise=1, throttled_fall=1)
                )
                for p in spec.profiles
            ),
        )
    doc = asyncio.run(_check(spec, args.rounds, guard))
    if args.json:
        print(render.as_json(doc))
    else:
        emit(render.check_text(doc))
    every_profile_online = all(any(e.status == "Online" for e in p.endpoints) for p in doc.profiles)
    complete = _audit_section(spec, to_stderr=args.json) if args.audit else True
    return ExitCode.CONVERGED if every_profile_online and complete else ExitCode.FAILED


def _audit_section(spec: DnsctlSpec, *, to_stderr: bool) -> bool:
    """`check --audit`: `dnsctl audit`'s findings after the probes (on stderr with --json)."""
    from dnsctl.cli import audit

    groups = audit.zone_groups(spec)
    if not any(groups.values()):
        return True
    findings = asyncio.run(audit.read_and_audit(spec, groups, compose.build_clock()))
    out = sys.stderr if to_stderr else sys.stdout
    print(file=out)
    for line in audit.text(findings):
        print(line, file=out)
    return all(f.problem is None for f in findings)


async def _check(spec: DnsctlSpec, rounds: int, guard: IsolationGuardSpec) -> StatusDoc:
    engine = compose.build_engine(spec)
    for i in range(rounds):
        if i:
            await engine.clock.sleep(min(p.monitor.interval for p in spec.profiles))
        outcome = await engine.round()
    isolated = await engine.would_isolate(outcome.results, guard)
    return health_doc(spec, engine.states, isolated=isolated)


def cmd_reconcile(args: argparse.Namespace) -> int:
    _, full = load_spec(args, serving=False)
    if args.command == "plan" and (full.sites is not None or args.site is not None):
        from dnsctl.cli.plan_sites import cmd_plan_sites

        return cmd_plan_sites(full, args)
    spec = command_line.only_profiles(full, args.profile)
    command_line.publishes(spec, "profiles: no profile has an `azure` or `rfc2136` record to reconcile")
    dry_run = args.command == "plan" or args.dry_run
    report = asyncio.run(_reconcile(spec, args, dry_run, others=[p.name for p in full.profiles]))
    code = exit_code(report)
    if getattr(args, "detailed_exitcode", False) and code is ExitCode.CONVERGED and report.plan.dns_changes:
        code = ExitCode.CHANGES
    if args.json:
        print(render.as_json(render.reconcile_doc(spec, report, code)))
    else:
        emit(render.reconcile_text(spec, report))
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


def mirror_once(spec: DnsctlSpec, args: argparse.Namespace) -> int:
    from dnsctl.controller.mirror import build_files, mirror_once

    engine = compose.build_engine(spec)
    report = asyncio.run(
        mirror_once(
            engine,
            build_files(spec),
            compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None,
        )
    )
    code = exit_code(report)
    if args.json:
        print(render.as_json(render.mirror_doc(report, code)))
    else:
        emit(render.mirror_text(report))
    return code


def exchange_agent(spec: DnsctlSpec, site: str) -> ExchangeMirror:
    """The node agent that follows site `site`'s decision from the exchange (`--source exchange`)."""
    from dnsctl.controller.mirror import build_files
    from dnsctl.controller.mirror_agent import ExchangeMirror
    from dnsctl.controller.vantage import config_hash

    assert spec.sites is not None
    return ExchangeMirror(
        compose.build_engine(spec),
        build_files(spec),
        site=site,
        exchange=compose.build_exchange(spec.sites, spec.azure),
        interval=max((p.monitor.interval for p in spec.profiles), default=10.0),
        config=config_hash(spec),
    )


def mirror_follow_once(spec: DnsctlSpec, site: str, args: argparse.Namespace) -> int:
    """`mirror --once --source exchange`: one read of the site's decision, the files written from it.
    A decision that cannot be read (unreachable, missing, unreadable, stale) writes nothing: exit 1."""
    from dnsctl.controller.mirror_agent import follow_once

    async def once() -> tuple[MirrorReport, str | None]:
        return await follow_once(exchange_agent(spec, site))

    report, problem = asyncio.run(once())
    code = ExitCode.FAILED if problem is not None else exit_code(report)
    if args.json:
        print(render.as_json(render.mirror_doc(report, code)))
    else:
        emit(render.mirror_text(report))
    if problem is not None:
        print(f"dnsctl: mirror --once --source exchange: {problem}; nothing written", file=sys.stderr)
    return code
