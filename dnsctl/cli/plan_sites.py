"""`dnsctl plan` on a configuration with sites: each site's records, as its vantage would write them.

Each site is planned as `run --site S` runs it (its addresses, its publications, the health history
its vantage stored with them), one after the other from this host. The publications every site
shares are planned last, from the quorum of every site's verdicts (a site without records of its
own is probed for its vote). `--site S` plans S's own records only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping

from dnsctl import compose
from dnsctl.cli import render
from dnsctl.cli.commands import emit
from dnsctl.cli.exit_codes import ExitCode, exit_code
from dnsctl.cli.render import Line
from dnsctl.config import command_line
from dnsctl.controller.reconcile import reconcile_once
from dnsctl.controller.reports import Report
from dnsctl.controller.shared import QuorumProber
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.quorum import SiteHealth, VantageReport, combine, verdicts_of
from dnsctl.core.sites import SHARED, SitesSpec, shared_spec, site_spec
from dnsctl.core.state import ProfileState
from dnsctl.engine import Engine


def cmd_plan_sites(spec: DnsctlSpec, args: argparse.Namespace) -> int:
    only = args.site
    sites = command_line.site_to_plan(spec, only)
    plans: dict[str, tuple[DnsctlSpec, Report]] = {}
    votes: dict[str, Mapping[str, ProfileState]] = {}  # each site's states after its probes
    shared = shared_spec(spec, sites) if only is None else None
    for name in (only,) if only is not None else sites.names:
        mine = site_spec(spec, sites, name)
        own = command_line.only_profiles(mine, args.profile)
        if any(p.publication is not None for p in own.profiles):
            report = asyncio.run(_plan(own, args, vantage=name))
            plans[name] = (own, report)
            if report.outcome is not None:
                votes[name] = report.outcome.states
        elif shared is not None:
            votes[name] = asyncio.run(_probe(mine))
    if shared is not None:
        wanted = [p for p in args.profile or [] if any(q.name == p for q in shared.profiles)]
        shared = command_line.only_profiles(shared, wanted) if args.profile else shared
        if shared.profiles:
            health = _quorum(sites, votes, spec)
            plans[SHARED] = (shared, asyncio.run(_plan(shared, args, health=health)))
    command_line.something_to_plan(bool(plans))
    codes = {name: exit_code(report) for name, (_, report) in plans.items()}
    code = max(codes.values(), key=_severity)
    changes = any(report.plan.dns_changes for _, report in plans.values())
    if args.detailed_exitcode and code is ExitCode.CONVERGED and changes:
        code = ExitCode.CHANGES
    if args.json:
        docs = {
            name: json.loads(render.as_json(render.reconcile_doc(s, report, codes[name])))
            for name, (s, report) in plans.items()
        }
        print(json.dumps({"exit_code": int(code), "sites": docs}, indent=2))
    else:
        lines: list[Line] = []
        for name, (s, report) in plans.items():
            head = f"shared: {sites.shared_rule(spec.ha)}:" if name == SHARED else f"site {name}:"
            lines += [Line(("\n" if lines else "") + head), *render.reconcile_text(s, report)]
        emit(lines)
    return code


def _severity(code: ExitCode) -> int:
    return {ExitCode.CONVERGED: 0, ExitCode.DEGRADED: 1, ExitCode.REFUSED: 2, ExitCode.FAILED: 3}.get(code, 0)


def _quorum(
    sites: SitesSpec, votes: Mapping[str, Mapping[str, ProfileState]], spec: DnsctlSpec
) -> SiteHealth:
    """The sites' verdicts, combined as the vantages combine them."""
    reports = {
        name: VantageReport(name, 1, 0.0, "plan", verdicts_of(name, states)) for name, states in votes.items()
    }
    interval = max((p.monitor.interval for p in spec.profiles), default=10.0)
    return combine(sites, reports, 0.0, interval)


async def _probe(spec: DnsctlSpec) -> Mapping[str, ProfileState]:
    """A site without records of its own: its verdicts only, for the quorum."""
    engine = compose.build_engine(spec)
    await engine.until_verdicts(await engine.round())
    return engine.snapshot()


async def _plan(
    spec: DnsctlSpec,
    args: argparse.Namespace,
    *,
    vantage: str | None = None,
    health: SiteHealth | None = None,
) -> Report:
    clock = compose.build_clock()
    engine = (
        Engine(spec, QuorumProber(lambda: health), clock)
        if health is not None
        else compose.build_engine(spec, clock)
    )
    target = compose.build_target(spec, clock)
    store = compose.build_store(args.state_file, clock=clock, read_only=True, vantage=vantage)
    try:
        return await reconcile_once(engine, target, store, dry_run=True)
    finally:
        await target.close()
