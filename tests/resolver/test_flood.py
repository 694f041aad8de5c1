"""Names answered from memory do not wait behind forwarding: with an upstream that never answers and
more forwarded names pending than the server keeps, steered and lab zone names are still answered."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.rcode
import dns.rdatatype
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import HostPort
from dnsctl.resolver import SteeredAnswer, SteeringTable
from dnsctl.resolver.sockets import MAX_PENDING
from tests.resolver.conftest import StartResolver
from tests.resolver.helpers import ask, lab_zone, make_query, rrset_texts

FQDN = "myregistry.azurecr.io"
ZONE = lab_zone("lab.internal", (("www", "A", "10.0.0.1"),))


@pytest.fixture
def dead_upstream() -> Iterator[HostPort]:
    """A UDP socket that is bound and never read: an upstream that never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield HostPort("127.0.0.1", sock.getsockname()[1])


async def flood(port: int, count: int) -> None:
    """`count` queries for distinct forwarded names, sent without waiting for replies."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        for i in range(count):
            await loop.sock_sendto(
                sock, make_query(f"n{i}.flood.example", "A").to_wire(), ("127.0.0.1", port)
            )


async def test_steered_and_lab_names_answered_while_forwards_pile_up(
    resolver: StartResolver, dead_upstream: HostPort
) -> None:
    steering = SteeringTable()
    steering.publish(SteeredAnswer(FQDN, 30, (DecisionTarget(None, "t.example", ("10.1.0.5",)),)))
    server = await resolver(
        steering=steering, zones=(ZONE,), upstreams=(dead_upstream,), upstream_timeout=30.0
    )
    port = server.bound[0][1]
    await flood(port, MAX_PENDING * 2)
    # A generous bound: these answers are due at once, but the machine may be busy.
    steered = await ask(port, FQDN, "A", timeout=5)
    lab = await ask(port, "www.lab.internal", "A", timeout=5)
    missing = await ask(port, "missing.lab.internal", "A", timeout=5)
    other_type = await ask(port, FQDN, "TXT", timeout=5)
    over_tcp = await ask(port, FQDN, "A", tcp=True, timeout=5)
    await flood(port, 200)  # still full: these are dropped as they come
    again = await ask(port, FQDN, "A", timeout=5)
    assert rrset_texts(steered) == rrset_texts(over_tcp) == rrset_texts(again) == ["t.example.", "10.1.0.5"]
    assert rrset_texts(lab) == ["10.0.0.1"]
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert other_type.rcode() == dns.rcode.NOERROR
    assert not [r for r in other_type.answer if r.rdtype == dns.rdatatype.TXT]  # no data, from memory
    # The forwards the server keeps are bounded; the rest were dropped, not queued.
    assert server.metrics.dropped >= MAX_PENDING
    assert 0 < len(server._tasks) <= MAX_PENDING
