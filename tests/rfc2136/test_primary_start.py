"""The real primaries' harness: ready when the server says so and answers, and a port another process
took between free_port and the server's bind is replaced instead of waited on until the start timeout."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.e2e.harness import free_port
from tests.rfc2136 import servers
from tests.rfc2136.servers import ZONE, Primary


@pytest.mark.parametrize("kind", servers.KINDS)
def test_a_port_taken_after_free_port_is_replaced_by_a_fresh_one(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        picks = iter([port])
        # The race, made certain: free_port's first answer is a port something else holds.
        monkeypatch.setattr(servers, "free_port", lambda: next(picks, 0) or free_port())

        def forbidden(seconds: float) -> None:
            raise AssertionError(f"slept {seconds} s on the real clock")

        monkeypatch.setattr(time, "sleep", forbidden)
        with started(Primary(kind, tmp_path / kind)) as primary:
            assert primary.port != port
            reply = dns.query.tcp(
                dns.message.make_query(f"{ZONE}.", "SOA"), "127.0.0.1", port=primary.port, timeout=10
            )
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer


@contextlib.contextmanager
def started(primary: Primary) -> Iterator[Primary]:
    primary.start()
    try:
        yield primary
    finally:
        primary.stop()
