"""Who may ask (the allow-list) and which view a client sees (by source address or EDNS Client Subnet)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from dnsctl.core.model import IPAddress, Network, ViewSpec
from dnsctl.resolver.wire import ClientSubnet

# The verdict of most clients; returned as this very object so the hot path can test it with `is`.
ALLOWED: tuple[bool, str | None] = (True, None)
# Verdicts are memoised per source address; past this many distinct clients the memo starts over.
_MEMO_LIMIT = 65_536


def _address(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientPolicy:
    """The allow-list and the views, matched against client addresses."""

    def __init__(self, allow: Sequence[Network], views: Sequence[ViewSpec]) -> None:
        self.allow = list(allow)
        self.views = [(v.name, list(v.clients)) for v in views]
        self.memo: dict[str, tuple[bool, str | None]] = {}

    def classify(self, host: str) -> tuple[bool, str | None]:
        """(allowed, view name or None) for a client source address."""
        found = self.memo.get(host)
        if found is not None:
            return found
        address = _address(host)
        if address is None:
            verdict: tuple[bool, str | None] = (False, None)
        else:
            allowed = any(address in net for net in self.allow)
            view = self._view_of(address)[0]
            verdict = ALLOWED if allowed and view is None else (allowed, view)
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[host] = verdict
        return verdict

    def _view_of(self, address: IPAddress) -> tuple[str | None, int]:
        for name, networks in self.views:
            for net in networks:
                if address in net:
                    return name, net.prefixlen
        return None, 0

    def subnet_view(self, ecs: ClientSubnet) -> tuple[str | None, int]:
        """(view, scope prefix length) for an EDNS Client Subnet.

        A matching view's network length is the scope the answer is valid for; with no match the answer
        covers the client's subnet, or longer if a view lies inside that subnet.
        """
        size = 4 if ecs.family == 1 else 16
        raw = ecs.address.ljust(size, b"\x00")
        address: IPAddress = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
        subnet = ipaddress.ip_network((address, ecs.source), strict=False)
        name, length = self._view_of(subnet.network_address)
        if name is not None and length <= ecs.source:
            return name, length
        scope = ecs.source
        for _, networks in self.views:
            for net in networks:
                if net.version == subnet.version and net.subnet_of(subnet):  # type: ignore[arg-type]
                    scope = max(scope, net.prefixlen)
        return name, scope
