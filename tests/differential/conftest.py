"""The three servers of the differential test, started once for the module: NSD, unbound, dnsctl."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsctl.core.model import HostPort, ResolverSpec
from dnsctl.resolver import ResolverServer, SteeringTable
from tests.differential.servers import authoritative, forwarder


@dataclass(frozen=True)
class Servers:
    nsd: int
    unbound: int
    dnsctl: int


class ResolverThread:
    """dnsctl's resolver on its own event loop in a thread, so the test can query it synchronously."""

    def __init__(self, spec: ResolverSpec) -> None:
        self.spec = spec
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: ResolverServer | None = None

    def start(self) -> int:
        self.thread.start()
        self.server = ResolverServer(self.spec, SteeringTable())
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server.bound[0][1]

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base: Path = tmp_path_factory.mktemp("differential")
    with authoritative(base / "nsd") as nsd, forwarder(base / "unbound", nsd) as unbound:
        spec = ResolverSpec(listen=(HostPort("127.0.0.1", 0),), upstreams=(HostPort("127.0.0.1", nsd),))
        dnsctl = ResolverThread(spec)
        try:
            yield Servers(nsd, unbound, dnsctl.start())
        finally:
            dnsctl.stop()
