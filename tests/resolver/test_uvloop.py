"""The same server on uvloop (the `fast` extra), which `dnsctl serve` uses when it is installed."""

from __future__ import annotations

import asyncio

import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import HostPort, ResolverSpec
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import ResolverServer, SteeredAnswer, SteeringTable
from tests.resolver.conftest import StartUpstream
from tests.resolver.helpers import ask, rrset_texts

uvloop = pytest.importorskip("uvloop")


def test_steered_forwarded_udp_and_tcp_on_uvloop(upstream: StartUpstream) -> None:
    up = upstream("truncate")  # forwarding over UDP then TCP exercises the loop's socket calls

    async def scenario() -> list[list[str]]:
        steering = SteeringTable()
        target = DecisionTarget(None, "t.example", ("10.1.0.5",))
        steering.publish(SteeredAnswer("myregistry.azurecr.io", 30, (target,)))
        spec = ResolverSpec(listen=(HostPort("127.0.0.1", 0),), upstreams=(up.address,))
        server = ResolverServer(spec, steering, clock=SystemClock())
        await server.start()
        try:
            port = server.bound[0][1]
            replies = [
                await ask(port, "myregistry.azurecr.io", "A"),
                await ask(port, "myregistry.azurecr.io", "A", tcp=True),
                await ask(port, "host.example", "A"),
                await ask(port, "host.example", "A", tcp=True),
            ]
        finally:
            await server.stop()
        return [rrset_texts(r) for r in replies]

    loop = uvloop.new_event_loop()
    try:
        answers = loop.run_until_complete(asyncio.wait_for(scenario(), 20))
    finally:
        loop.close()
    assert answers[0] == answers[1] == ["t.example.", "10.1.0.5"]
    assert answers[2] == answers[3] == ["192.0.2.1"]
