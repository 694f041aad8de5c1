"""TcpProber against real sockets on loopback."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from dnsctl.core.results import FailureReason
from dnsctl.probes import TcpProber
from dnsctl.process.clock import SystemClock
from tests.probes.builders import endpoint, profile
from tests.support.registry import RegistryServer


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port on 127.0.0.2 whose accept queue is full, so new SYNs go unanswered (a connect timeout).

    The listener never accepts; connections are queued until one no longer completes.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(64):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.2", port))
            fillers.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                break
        else:
            pytest.fail("the accept queue never filled up")
        yield port
    finally:
        for s in [*fillers, listener]:
            s.close()


async def test_listening_port_is_ok() -> None:
    with RegistryServer("127.0.0.2") as server:
        result = await TcpProber(clock=SystemClock()).probe(profile(server.port, "tcp"), endpoint(), 12.5)
        assert (result.ok, result.reason, result.status_code, result.at) == (True, None, None, 12.5)
        assert result.address == "127.0.0.2"
        assert server.wait_for_connections(1) == 1
        assert server.requests == []  # a TCP probe says nothing


async def test_closed_port_is_refused() -> None:
    with RegistryServer("127.0.0.2") as server:
        server.set_behaviour("stopped")
        result = await TcpProber(clock=SystemClock()).probe(profile(server.port, "tcp"), endpoint(), 0.0)
        assert (result.ok, result.reason) == (False, FailureReason.REFUSED)


async def test_unanswered_syn_is_a_connect_timeout(full_backlog: int) -> None:
    result = await TcpProber(clock=SystemClock()).probe(
        profile(full_backlog, "tcp", timeout=0.3), endpoint(), 0.0
    )
    assert (result.ok, result.reason) == (False, FailureReason.CONNECT_TIMEOUT), result


async def test_unanswered_syn_is_a_connect_timeout_for_http_too(full_backlog: int) -> None:
    from dnsctl.probes import HttpProber

    result = await HttpProber(clock=SystemClock()).probe(
        profile(full_backlog, "https", timeout=0.3), endpoint(), 0.0
    )
    assert (result.ok, result.reason) == (False, FailureReason.CONNECT_TIMEOUT), result


async def test_unresolvable_name_is_a_dns_failure() -> None:
    result = await TcpProber(clock=SystemClock()).probe(
        profile(443, "tcp"), endpoint(None, target="nothing.invalid"), 0.0
    )
    assert (result.ok, result.reason) == (False, FailureReason.DNS)


async def test_name_with_no_listener_on_any_address_is_refused() -> None:
    with RegistryServer("127.0.0.1") as server:
        server.set_behaviour("stopped")
        result = await TcpProber(clock=SystemClock()).probe(
            profile(server.port, "tcp"), endpoint(None, target="localhost"), 0.0
        )
        assert (result.ok, result.reason, result.address) == (False, FailureReason.REFUSED, "localhost")
