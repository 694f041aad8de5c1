"""Warnings on a valid configuration: an allow-list that reaches public address space."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest
import yaml

from dnsctl.config.advice import advise
from dnsctl.core.model import DnsctlSpec, RateLimitSpec, ResolverSpec
from tests.e2e.harness import dnsctl


@pytest.mark.parametrize(
    ("allow", "warned"),
    [
        ("127.0.0.0/8", False),
        ("10.0.0.0/8", False),
        ("172.16.0.0/12", False),
        ("192.168.10.0/24", False),
        ("100.64.0.0/10", False),
        ("fd00::/8", False),
        ("::1/128", False),
        ("0.0.0.0/0", True),
        ("8.8.8.0/24", True),
        ("10.0.0.0/7", True),  # reaches past the private block
        ("::/0", True),
        ("2001:db8::/32", True),
    ],
)
def test_allow_with_public_address_space_is_warned(allow: str, warned: bool) -> None:
    spec = DnsctlSpec(
        profiles=(), resolver=ResolverSpec(allow=(ip_network("127.0.0.0/8"), ip_network(allow)))
    )
    found = advise(spec)
    assert bool(found) == warned
    if warned:
        assert found[0].startswith(f"resolver.allow[1]: {allow} includes public address space")
        assert "rate limited" in found[0]


def test_the_warning_says_when_rate_limiting_is_off() -> None:
    spec = DnsctlSpec(
        profiles=(), resolver=ResolverSpec(allow=(ip_network("0.0.0.0/0"),), rate_limit=RateLimitSpec(qps=0))
    )
    assert "rate limiting is off" in advise(spec)[0]


PROFILES = [
    {"name": "app", "fqdn": "app.example", "endpoints": [{"name": "a", "target": "a.example", "priority": 1}]}
]


def test_validate_prints_the_warning_and_still_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "open.yaml"
    cfg.write_text(yaml.safe_dump({"profiles": PROFILES, "resolver": {"allow": ["10.0.0.0/8", "0.0.0.0/0"]}}))
    result = dnsctl("validate", "-c", str(cfg))
    assert result.code == 0, result
    assert "warning: resolver.allow[1]: 0.0.0.0/0 includes public address space" in result.stderr
    cfg.write_text(yaml.safe_dump({"profiles": PROFILES, "resolver": {"allow": ["10.0.0.0/8"]}}))
    quiet = dnsctl("validate", "-c", str(cfg))
    assert quiet.code == 0 and "warning" not in quiet.stderr, quiet
