"""Fixtures: a running resolver on 127.0.0.1 (port 0) and real upstream DNS server processes."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsctl.config.values import parse_network
from dnsctl.core.model import HostPort, ResolverSpec
from dnsctl.process.clock import SystemClock
from dnsctl.resolver import ResolverMetrics, ResolverServer, SteeringTable, udp_reader
from tests.support.clock import ManualClock
from tests.support.waits import wait_exit

UPSTREAM_SCRIPT = Path(__file__).with_name("upstream_server.py")


class UpstreamProcess:
    """tests/resolver/upstream_server.py running as a child process on loopback."""

    def __init__(self, mode: str = "normal", *, port: int = 0, ttl: int = 300, soa_minimum: int = 60) -> None:
        self.mode = mode
        self.port = port
        self.ttl = ttl
        self.soa_minimum = soa_minimum
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> UpstreamProcess:
        args = [sys.executable, str(UPSTREAM_SCRIPT), "--mode", self.mode, "--port", str(self.port)]
        args += ["--ttl", str(self.ttl), "--soa-minimum", str(self.soa_minimum)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 10)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"upstream did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            wait_exit(self.process, 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            wait_exit(self.process, 5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    @property
    def address(self) -> HostPort:
        return HostPort("127.0.0.1", self.port)


@pytest.fixture
def upstream() -> Iterator[Callable[..., UpstreamProcess]]:
    started: list[UpstreamProcess] = []

    def start(mode: str = "normal", **kwargs: Any) -> UpstreamProcess:
        process = UpstreamProcess(mode, **kwargs).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


StartResolver = Callable[..., Awaitable[ResolverServer]]


@pytest.fixture
async def resolver() -> AsyncIterator[StartResolver]:
    """Start a ResolverServer on 127.0.0.1:0: `await resolver(steering=..., clock=..., **spec_fields)`."""
    servers: list[ResolverServer] = []

    async def start(
        *,
        steering: SteeringTable | None = None,
        clock: ManualClock | None = None,
        metrics: ResolverMetrics | None = None,
        **fields: Any,
    ) -> ResolverServer:
        fields.setdefault("listen", (HostPort("127.0.0.1", 0),))
        if "allow" in fields:  # given as the configuration writes it, parsed as the configuration does
            fields["allow"] = tuple(parse_network(n) for n in fields["allow"])
        spec = ResolverSpec(**fields)
        kwargs: dict[str, Any] = {"metrics": metrics, "clock": clock if clock is not None else SystemClock()}
        server = ResolverServer(spec, steering if steering is not None else SteeringTable(), **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


StartUpstream = Callable[..., UpstreamProcess]


@pytest.fixture(params=["native", "python"])
def reader_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The UDP readers started during the test run this loop: the C one (resolver/_replay.c), or the
    Python one. The native case fails where the extension was not built (`pip install -e .` builds it)."""
    if request.param == "python":
        monkeypatch.setenv(udp_reader.PURE_PYTHON_ENV, "1")
    else:
        monkeypatch.delenv(udp_reader.PURE_PYTHON_ENV, raising=False)
        assert udp_reader.reader_kind() == "native", "dnsctl.resolver._replay is not built"
    return str(request.param)
