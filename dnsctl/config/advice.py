"""Warnings about a valid configuration: things it allows that are probably not meant.

They never make a configuration invalid; `validate` prints them and `serve` logs them at start.
"""

from __future__ import annotations

import ipaddress

from dnsctl.core.model import DnsctlSpec, Network, WhenAllDown

# Address space that is not reachable from the Internet: private (RFC 1918, RFC 4193), shared (RFC 6598),
# loopback and link-local.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def _includes_public(net: Network) -> bool:
    return not any(net.version == inner.version and net.subnet_of(inner) for inner in _NOT_PUBLIC)  # type: ignore[arg-type]


def advise(spec: DnsctlSpec) -> list[str]:
    """Every warning for `spec`, each `location: message`."""
    out: list[str] = []
    rrl = spec.resolver.rate_limit
    for i, cidr in enumerate(spec.resolver.allow):
        if _includes_public(cidr):
            limiting = (
                "response rate limiting is off (rate_limit.qps: 0)"
                if rrl.qps == 0
                else "responses are rate limited per client network (resolver.rate_limit)"
            )
            out.append(
                f"resolver.allow[{i}]: {cidr} includes public address space: anyone there who can reach "
                f"the resolver may use it, and spoofed queries can aim its answers at others; {limiting}"
            )
    out.extend(_all_down_held_back(spec))
    return out


def _all_down_held_back(spec: DnsctlSpec) -> list[str]:
    """An all-down policy the isolation guard would hold back in exactly the outage it is for."""
    guard = spec.isolation_guard
    if not guard.enabled or guard.canaries:
        return []
    return [
        f"profiles[{i}].when_all_down: {p.when_all_down.value!r}, but when every endpoint times out at "
        "once the isolation guard cannot tell 'they are down' from 'we are cut off' and keeps the last "
        "answer instead; add isolation_guard.canaries (for example https://management.azure.com/ or "
        "168.63.129.16:53) so that the policy applies when the controller's own network works"
        for i, p in enumerate(spec.profiles)
        if p.when_all_down is not WhenAllDown.KEEP_LAST
    ]
