"""`dnsctl audit`: are the private zone's records a pull needs all there? Read-only, one read per zone."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Mapping, Sequence

from dnsctl import compose
from dnsctl.cli.commands import load_spec
from dnsctl.cli.exit_codes import ExitCode
from dnsctl.core.model import DnsctlSpec
from dnsctl.core.zone_audit import Finding, Needed, audit, needed
from dnsctl.errors import InputError
from dnsctl.process.clock import Clock

ZoneKey = tuple[str, str, str]  # subscription, resource group, zone


def cmd_audit(args: argparse.Namespace) -> int:
    _, spec = load_spec(args, serving=False)
    if args.profile:
        unknown = sorted(set(args.profile) - {p.name for p in spec.profiles})
        if unknown:
            raise InputError(f"no profile {', '.join(map(repr, unknown))}")
        spec = dataclasses.replace(spec, profiles=tuple(p for p in spec.profiles if p.name in args.profile))
    groups = zone_groups(spec, [zone_key(z) for z in args.zone or []])
    if not any(groups.values()):
        raise InputError(
            "nothing to audit: no replica on <registry>.<region>.geo.azurecr.io or with a data endpoint in "
            "the zones of the profiles' azure records (give another zone with --zone SUB/RG/ZONE)"
        )
    findings = asyncio.run(read_and_audit(spec, groups, compose.build_clock()))
    missing = [f for f in findings if f.problem is not None]
    if args.json:
        print(json.dumps({"complete": not missing, "records": [_json(f) for f in findings]}, indent=2))
    else:
        for line in text(findings):
            print(line)
    return ExitCode.FAILED if missing else ExitCode.CONVERGED


def zone_key(value: str) -> ZoneKey:
    """`--zone SUBSCRIPTION/RESOURCE_GROUP/ZONE`."""
    parts = value.strip().split("/")
    if len(parts) != 3 or not all(parts):
        raise InputError(f"--zone {value!r}: expected SUBSCRIPTION/RESOURCE_GROUP/ZONE")
    return parts[0], parts[1], parts[2].rstrip(".").lower()


def zone_groups(spec: DnsctlSpec, extra: Sequence[ZoneKey] = ()) -> dict[ZoneKey, list[Needed]]:
    """The records to look for, by zone: each Azure profile's own zone, and every zone given."""
    groups: dict[ZoneKey, list[Needed]] = {}
    for p in spec.profiles:
        if p.azure is not None:
            key = (p.azure.subscription_id, p.azure.resource_group, p.azure.zone)
            groups.setdefault(key, []).extend(needed(p))
        for key in extra:
            groups.setdefault(key, []).extend(needed(p, key[2]))
    for key, members in groups.items():
        groups[key] = list({(n.profile, n.endpoint, n.name): n for n in members}.values())
    return groups


async def read_and_audit(
    spec: DnsctlSpec, groups: Mapping[ZoneKey, Sequence[Needed]], clock: Clock
) -> list[Finding]:
    """Each zone the needed records live in is listed once; nothing is written."""
    from dnsctl.targets.azure import AzureTarget

    target = AzureTarget(spec, clock=clock)
    try:
        target.begin_pass()
        findings: list[Finding] = []
        for (sub, rg, zone), members in groups.items():
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
