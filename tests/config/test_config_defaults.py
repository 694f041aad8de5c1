"""Defaults are written once, in the core specs; the schema reads them, so a file that leaves a key out
gets exactly the spec's default."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from dnsctl.core.model import (
    AdminSpec,
    AzureSpec,
    CacheSpec,
    DnsctlSpec,
    EndpointSpec,
    HaSpec,
    IsolationGuardSpec,
    MonitorSpec,
    ProfileSpec,
    RateLimitSpec,
    ResolverSpec,
    SafetySpec,
)
from dnsctl.core.publication import AzureRecordSpec
from dnsctl.core.zone_records import ZoneRecordSpec, ZoneRecordType, ZoneSpec

from .documents import load_ok, write

MINIMAL = """\
profiles:
  - name: app
    fqdn: app.example
    endpoints:
      - {name: a, target: a.example, priority: 1}
    azure:
      subscription_id: 00000000-0000-0000-0000-000000000000
      resource_group: rg
      zone: example
      record: app
resolver:
  zones:
    - name: lab.internal
      records: [{name: www, type: A, value: 10.0.0.1}]
"""


def test_a_minimal_file_gets_the_spec_defaults_everywhere(tmp_path: Path) -> None:
    spec = load_ok(write(tmp_path, MINIMAL))
    expected = DnsctlSpec(
        profiles=(
            ProfileSpec(
                name="app",
                fqdn="app.example",
                endpoints=(EndpointSpec(name="a", target="a.example", priority=1),),
                azure=AzureRecordSpec(
                    subscription_id="00000000-0000-0000-0000-000000000000",
                    resource_group="rg",
                    zone="example",
                    record="app",
                ),
            ),
        ),
        resolver=ResolverSpec(
            zones=(
                ZoneSpec(
                    "lab.internal",
                    (ZoneRecordSpec("www.lab.internal", ZoneRecordType.A, IPv4Address("10.0.0.1")),),
                ),
            )
        ),
    )
    assert spec == expected
    # Spelled out, so that a default that differs between the two places cannot hide in a nested spec.
    assert spec.profiles[0].monitor == MonitorSpec()
    assert spec.resolver.cache == CacheSpec() and spec.resolver.rate_limit == RateLimitSpec()
    assert (spec.azure, spec.admin, spec.ha) == (AzureSpec(), AdminSpec(), HaSpec())
    assert (spec.safety, spec.isolation_guard) == (SafetySpec(), IsolationGuardSpec())
