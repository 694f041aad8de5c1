"""The one-shot passes: `check`, `plan`, `reconcile` and `mirror --once`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence

from dnsctl import compose
from dnsctl.cli import render
from dnsctl.cli.commands import emit, load_spec
from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.config import command_line
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import Report
from dnsctl.core.model import DnsctlSpec, IsolationGuardSpec
from dnsctl.documents.status import StatusDoc, health_doc
from dnsctl.process.state_store import FileStore


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
