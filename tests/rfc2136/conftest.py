"""A real primary per test (BIND 9, Knot, PowerDNS), and a reconcile harness writing to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rfc2136.servers import KINDS, Primary


@pytest.fixture(params=KINDS)
def primary(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Primary]:
    server = Primary(str(request.param), tmp_path / str(request.param))
    server.start()
    try:
        yield server
    finally:
        server.stop()
