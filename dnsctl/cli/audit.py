"""`dnsctl audit`: are the private zone's records a pull needs all there? Read-only, one read per zone."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Sequence

from dnsctl.cli.commands import load_spec
from dnsctl.cli.exit_codes import ExitCode
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.zone_audit import Finding, Needed, audit, needed
from dnsctl.errors import InputError


def cmd_audit(args: argparse.Namespace) -> int:
    _, spec = load_spec(args, serving=False)
    if args.profile:
        unknown = sorted(set(args.profile) - {p.name for p in spec.profiles})
        if unknown:
            raise InputError(f"no profile {', '.join(map(repr, unknown))}")
        spec = dataclasses.replace(spec, profiles=tuple(p for p in spec.profiles if p.name in args.profile))
    wants = [n for p in spec.profiles for n in needed(p)]
    if not wants:
        raise InputError(
            "nothing to audit: no profile publishes to an Azure zone with replicas on "
            "<registry>.<region>.geo.azurecr.io targets or a registry probe"
        )
    findings = asyncio.run(read_and_audit(spec, wants))
    missing = [f for f in findings if f.problem is not None]
    if args.json:
        print(json.dumps({"complete": not missing, "records": [_json(f) for f in findings]}, indent=2))
    else:
        for line in text(findings):
            print(line)
    return ExitCode.FAILED if missing else ExitCode.CONVERGED


async def read_and_audit(spec: DnsctlSpec, wants: Sequence[Needed]) -> list[Finding]:
    """Each zone the needed records live in is listed once; nothing is written."""
    from dnsctl.targets.azure import AzureTarget

    zones: dict[tuple[str, str, str], list[Needed]] = {}
    for p in spec.profiles:
        if p.azure is None:
            continue
        key = (p.azure.subscription_id, p.azure.resource_group, p.azure.zone)
        zones.setdefault(key, []).extend(n for n in wants if n.profile == p.name)
    target = AzureTarget(spec)
    try:
        target.begin_pass()
        findings: list[Finding] = []
        for (sub, rg, zone), members in zones.items():
            if not members:
                continue
            records = await target.read_zone(sub, rg, zone)
            findings += [audit(n, records) for n in members]
        return findings
    finally:
        await target.close()


def text(findings: Sequence[Finding]) -> list[str]:
    missing = [f for f in findings if f.problem is not None]
    zones = sorted({f.needed.zone for f in findings})
    head = f"audit: {len(findings)} record(s) a pull needs in {', '.join(zones)}"
    lines = [f"{head}: {len(missing)} missing or wrong" if missing else f"{head}: complete"]
    for f in findings:
        lines.append(f"  {'MISSING' if f.problem is not None else 'ok':8} {f.describe()}")
    return lines


def _json(f: Finding) -> dict[str, object]:
    n = f.needed
    return {
        "profile": n.profile,
        "endpoint": n.endpoint,
        "role": n.role,
        "host": n.host,
        "zone": n.zone,
        "name": n.name,
        "ok": f.problem is None,
        "problem": f.problem,
    }
