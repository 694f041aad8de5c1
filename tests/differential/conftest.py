"""The three servers of the differential test, started once for the module: NSD, unbound, dnsctl."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsctl.core.model import HostPort, ResolverSpec
from tests.differential.servers import ResolverThread, authoritative, forwarder


@dataclass(frozen=True)
class Servers:
    nsd: int
    unbound: int
    dnsctl: int


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
