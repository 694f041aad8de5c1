"""The one-shot pass against a real primary: the engine with scripted probes, the RFC 2136 target."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from dnsctl.controller.reconcile import Report, reconcile_once
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    EndpointStatus,
    IsolationGuardSpec,
    MonitorSpec,
    ProfileSpec,
    SafetySpec,
)
from dnsctl.core.publication import RecordType, Rfc2136RecordSpec, TsigSpec
from dnsctl.engine import Engine
from dnsctl.process.state_store import FileStore
from dnsctl.targets.rfc2136 import TSIG_SECRET_ENV, Rfc2136Target
from tests.reconcile.scripted import ScriptedProber
from tests.rfc2136.servers import KEY_NAME, SECRET, ZONE, Primary
from tests.support.clock import ManualClock

EAST = "myregistry.eastus.geo.azurecr.io"
WEST = "myregistry.westeurope.geo.azurecr.io"
NAME = f"myregistry.{ZONE}."
OWNER = f"_dnsctl.myregistry.{ZONE}."


def make_spec(
    primary: Primary,
    *,
    record_type: RecordType = RecordType.CNAME,
    adopt: bool = False,
    allow_type_change: bool = False,
    isolation: bool = False,
    east_status: EndpointStatus = EndpointStatus.ENABLED,
    timeout: float = 5.0,
    port: int | None = None,
) -> DnsctlSpec:
    return DnsctlSpec(
        profiles=(
            ProfileSpec(
                name="myregistry",
                fqdn="myregistry.azurecr.io",
                endpoints=(
                    EndpointSpec("eastus", EAST, 1, addresses=("10.1.0.4",), status=east_status),
                    EndpointSpec("westeurope", WEST, 2, addresses=("10.2.0.4",)),
                ),
                monitor=MonitorSpec(fall=3, rise=2, interval=60, timeout=5),
                failback_hold=120,
                target=Rfc2136RecordSpec(
                    server="127.0.0.1",
                    port=primary.port if port is None else port,
                    zone=ZONE,
                    record="myregistry",
                    record_type=record_type,
                    adopt=adopt,
                    allow_type_change=allow_type_change,
                    tsig=TsigSpec(KEY_NAME),
                    timeout=timeout,
                ),
            ),
        ),
        safety=SafetySpec(max_changes_per_run=5),
        isolation_guard=IsolationGuardSpec(enabled=isolation),
    )


class Harness:
    def __init__(self, spec: DnsctlSpec, state_dir: Path, secret: str = SECRET) -> None:
        self.spec = spec
        self.clock = ManualClock()
        self.prober = ScriptedProber()
        self.env = {TSIG_SECRET_ENV: secret}
        self.state_file = state_dir / "state.json"

    def target(self) -> Rfc2136Target:
        return Rfc2136Target(self.spec, self.env)

    async def run(self, *, dry_run: bool = False) -> Report:
        """One `dnsctl reconcile`: a fresh process (engine, target) with the history in a state file."""
        engine = Engine(self.spec, self.prober, self.clock)
        store = FileStore(self.state_file, clock=self.clock, read_only=dry_run)
        report = await reconcile_once(engine, self.target(), store, dry_run=dry_run)
        self.clock.advance(60)
        return report


def query(primary: Primary, name: str, rtype: str) -> list[str]:
    """The record's values as the primary answers them now (sorted)."""
    resp = dns.query.tcp(dns.message.make_query(name, rtype), "127.0.0.1", port=primary.port, timeout=10)
    want = dns.rdatatype.from_text(rtype)
    return sorted(
        rd.to_text().rstrip(".").strip('"').lower()
        for rrset in resp.answer
        if rrset.rdtype == want and rrset.name == dns.name.from_text(name)
        for rd in rrset
    )


def hand_edit(primary: Primary, name: str, rtype: str, *values: str, ttl: int = 30) -> None:
    """An operator's own update (nsupdate), with the same key: no prerequisites, the last writer wins."""
    upd = dns.update.UpdateMessage(
        ZONE, keyring=dns.tsigkeyring.from_text({KEY_NAME: SECRET}), keyalgorithm="hmac-sha256"
    )
    if rtype in ("A", "CNAME"):
        upd.delete(name, "A")
        upd.delete(name, "CNAME")
    upd.replace(name, ttl, rtype, *values)
    resp = dns.query.tcp(upd, "127.0.0.1", port=primary.port, timeout=10)
    assert resp.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(resp.rcode())
