"""The `rfc2136:` section of a profile: a record on a primary that takes RFC 2136 dynamic updates.

Its shape (pydantic), its rules (checked with the others by `dnsctl.config.rules`), and its
conversion to the frozen `Rfc2136RecordSpec`. The TSIG secret is never in the file: it comes from
DNSCTL_TSIG_SECRET, whose presence `validate` checks.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from dnsctl.config.values import is_ip, normalize_fqdn, parse_host_port, shown
from dnsctl.core.model import HostPort
from dnsctl.core.publication import RecordType, Rfc2136RecordSpec, TsigSpec

if TYPE_CHECKING:
    from dnsctl.config.problems import Problems
    from dnsctl.config.schema import ProfileModel

TSIG_SECRET_ENV = "DNSCTL_TSIG_SECRET"
TSIG_ALGORITHMS = ("hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TsigModel(_Section):
    name: str
    algorithm: str = "hmac-sha256"


class Rfc2136RecordModel(_Section):
    server: str  # "host" or "host:port" (53 by default)
    zone: str
    record: str  # relative to the zone ("@" for the apex), or absolute with a final dot
    record_type: Literal["CNAME", "A"] = "CNAME"
    tsig: TsigModel | None = None
    timeout: float = Field(default=5.0, gt=0, le=60)
    adopt: bool = False
    allow_type_change: bool = False


def primary_address(value: str) -> HostPort:
    """The primary as an IP address and port: updates go to one server, not to what a name resolves to."""
    server = parse_host_port(value, 53)
    if not is_ip(server.host):
        raise ValueError(
            f"{shown(value)} is not an IP address (give the primary's address, like 10.0.0.53:53)"
        )
    return server


def relative_record(record: str, zone: str) -> str:
    """The record name relative to `zone`; raises ValueError when it is not inside the zone."""
    name = record.strip()
    if name == "@":
        return name
    if name.endswith("."):
        full, origin = normalize_fqdn(name), normalize_fqdn(zone)
        if full == origin:
            return "@"
        if not full.endswith("." + origin):
            raise ValueError(f"{shown(record)} is not inside the zone {shown(zone)}")
        return full[: -len(origin) - 1]
    return normalize_fqdn(name)


def check_record(p: Problems, at: str, profile: ProfileModel) -> None:
    r = profile.rfc2136
    assert r is not None
    if profile.azure is not None:
        p.add(at, "a profile publishes to one target: give `azure` or `rfc2136`, not both")
    p.check(f"{at}.server", primary_address, r.server)
    p.check(f"{at}.zone", normalize_fqdn, r.zone)
    if r.record.strip() == "@" and r.record_type == "CNAME":
        p.add(f"{at}.record", "a CNAME cannot sit at the zone apex '@'")
    else:
        p.check(f"{at}.record", relative_record, r.record, r.zone)
    if r.tsig is not None:
        p.check(f"{at}.tsig.name", normalize_fqdn, r.tsig.name)
        if r.tsig.algorithm.lower() not in TSIG_ALGORITHMS:
            p.add(
                f"{at}.tsig.algorithm",
                f"{shown(r.tsig.algorithm)} is not one of {', '.join(TSIG_ALGORITHMS)}",
            )


def check_secret(p: Problems, profiles: Sequence[ProfileModel], environ: Mapping[str, str]) -> None:
    """The TSIG secret is in the environment, and is base64 (only under `validate`)."""
    for i, profile in enumerate(profiles):
        r = profile.rfc2136
        if r is None or r.tsig is None:
            continue
        secret = environ.get(TSIG_SECRET_ENV, "").strip()
        if not secret:
            p.add(
                f"profiles[{i}].rfc2136.tsig",
                f"the key's secret is taken from {TSIG_SECRET_ENV}, which is not set "
                "(secrets are never given in the file)",
            )
        else:
            try:
                binascii.a2b_base64(secret.encode(), strict_mode=True)
            except (binascii.Error, ValueError):
                p.add(f"profiles[{i}].rfc2136.tsig", f"{TSIG_SECRET_ENV} is not base64")
        return  # one key for the process: said once


def to_spec(r: Rfc2136RecordModel) -> Rfc2136RecordSpec:
    server = primary_address(r.server)
    return Rfc2136RecordSpec(
        server=server.host,
        port=server.port,
        zone=normalize_fqdn(r.zone),
        record=relative_record(r.record, r.zone),
        record_type=RecordType(r.record_type),
        adopt=r.adopt,
        allow_type_change=r.allow_type_change,
        tsig=TsigSpec(normalize_fqdn(r.tsig.name), r.tsig.algorithm.lower()) if r.tsig is not None else None,
        timeout=r.timeout,
    )
