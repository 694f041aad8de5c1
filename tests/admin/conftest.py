"""A real admin server on 127.0.0.1 (port 0) over a small controller, and what it logs, captured through
dnsctl's own log set-up (text or JSON) at debug level."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from dnsctl.controller.admin import AdminServer, MalformedRequests, OperatorError
from dnsctl.core.model import HostPort
from dnsctl.process import logs
from tests.support.clock import ManualClock

# Characters a naive redaction pattern stops at: the token must vanish from logs whatever it holds.
TOKEN = "adm!n-T0ken/with+odd=chars~%x"


@dataclass
class Controller:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    drained: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return True

    def ready(self) -> tuple[bool, str]:
        return True, "ready"

    def status(self) -> dict[str, Any]:
        return {"profiles": []}

    async def drain(self, profile: str, endpoint: str) -> str:
        if profile != "myregistry":
            raise OperatorError(f"no profile named {profile!r}")
        self.drained.append(endpoint)
        return f"{endpoint} drained"

    async def undrain(self, profile: str, endpoint: str) -> str:
        return f"{endpoint} undrained"

    async def failback(self, profile: str) -> str:
        return "failed back"


@dataclass
class Admin:
    server: AdminServer
    controller: Controller
    clock: ManualClock

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port


@pytest.fixture(params=["text", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Everything logged, as the CLI would write it, in both formats."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.setup("debug", request.param)
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    controller = Controller()
    clock = ManualClock()
    server = AdminServer(
        controller,
        HostPort("127.0.0.1", 0),
        token=TOKEN,
        header_timeout=0.5,
        max_connections=8,
        max_per_client=4,
        reserved=2,
        clock=clock,
        malformed=MalformedRequests(clock=clock),
    )
    await server.start()
    try:
        yield Admin(server, controller, clock)
    finally:
        await server.stop()


async def exchange(port: int, raw: bytes, wait: float = 1.0) -> bytes:
    """Send raw bytes and collect what comes back until the server closes or `wait` seconds pass
    without more (a kept-alive connection after a complete response)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = b""
    try:
        writer.write(raw)
        await writer.drain()
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), wait)
            if not chunk:
                break
            got += chunk
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.transport.abort()
    return got


def status_of(response: bytes) -> int | None:
    head = response.split(b"\r\n", 1)[0].split()
    return int(head[1]) if len(head) >= 2 and head[1].isdigit() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
