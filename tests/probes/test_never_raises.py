"""Whatever the endpoint does and however the monitor is set, a probe returns a well-formed result."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dnsctl.compose import make_prober
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.process.clock import SystemClock
from tests.probes.builders import endpoint, profile
from tests.support.registry import Behaviour, RegistryPki, RegistryServer


@dataclass
class Servers:
    tls: RegistryServer
    plain: RegistryServer
    wrong_name: RegistryServer
    untrusted: RegistryServer
    closed_port: int


@pytest.fixture(scope="module")
def servers(pki: RegistryPki) -> Iterator[Servers]:
    started = [
        RegistryServer("127.0.0.2", tls=pki.server_context(), slow_delay=1.0),
        RegistryServer("127.0.0.3", slow_delay=1.0),
        RegistryServer("127.0.0.4", tls=pki.server_context("wrong.example.net")),
        RegistryServer("127.0.0.5", tls=pki.server_context(trusted=False)),
    ]
    closed = RegistryServer("127.0.0.6").start()
    closed.stop()  # its port is now (very likely) closed
    try:
        for s in started:
            s.start()
        tls, plain, wrong_name, untrusted = started
        yield Servers(tls, plain, wrong_name, untrusted, closed.port)
    finally:
        for s in started:
            s.stop()


KINDS = ["tls", "plain", "wrong_name", "untrusted", "closed_port", "dns"]
T = TypeVar("T")


def mostly(valid: list[T], noise: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """A valid value three times in four, otherwise anything `noise` makes (odd text included)."""
    return st.integers(0, 3).flatmap(lambda i: noise if i == 0 else st.sampled_from(valid))


any_text = st.text(max_size=24)
header = st.tuples(st.text(min_size=1, max_size=12), any_text)
VALID_HEADERS: list[tuple[tuple[str, str], ...]] = [
    (),
    (("User-Agent", "dnsctl"),),
    (("Authorization", "Bearer s3cr3t-token"),),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(KINDS),
    behaviour=st.sampled_from([b for b in Behaviour if b is not Behaviour.STOPPED]),
    protocol=st.sampled_from(["https", "http", "tcp"]),
    verify_tls=st.booleans(),
    ca_file=st.sampled_from(["good", "missing", None]),
    path=mostly(["/v2/", "/big", "/status/302", "/status/500", "/missing"], any_text),
    body_match=mostly([None, "UNAUTHORIZED", "MARKER-AFTER-4KIB"], any_text),
    headers=mostly(VALID_HEADERS, st.lists(header, max_size=3).map(tuple)),
    host=mostly([None, "myregistry.azurecr.io"], any_text),
    sni=mostly([None, "myregistry.azurecr.io"], any_text),
    timeout=st.sampled_from([0.05, 0.2]),
    keepalive=st.booleans(),
)
def test_probe_never_raises(
    servers: Servers,
    pki: RegistryPki,
    kind: str,
    behaviour: Behaviour,
    protocol: str,
    verify_tls: bool,
    ca_file: str | None,
    path: str,
    body_match: str | None,
    headers: tuple[tuple[str, str], ...],
    host: str | None,
    sni: str | None,
    timeout: float,
    keepalive: bool,
) -> None:
    if kind == "dns":
        address, port, ep = None, 443, endpoint(None, target="registry.example.invalid")
    elif kind == "closed_port":
        address, port, ep = "127.0.0.6", servers.closed_port, endpoint("127.0.0.6")
    else:
        server: RegistryServer = getattr(servers, kind)
        server.set_behaviour(behaviour)
        address, port, ep = server.host, server.port, endpoint(server.host)
    spec = profile(
        port,
        protocol,
        verify_tls=verify_tls,
        ca_file={"good": pki.ca_file, "missing": "/nonexistent/ca.pem", None: None}[ca_file],
        path=path,
        body_match=body_match,
        headers=headers,
        host=host,
        sni=sni,
        timeout=timeout,
    )

    async def run() -> ProbeResult:
        prober = make_prober(clock=SystemClock(), keepalive=keepalive)
        try:
            return await prober.probe(spec, ep, 42.0)
        finally:
            await prober.aclose()

    result = asyncio.run(run())
    event(f"{protocol}: {result.reason or 'ok'}")
    assert isinstance(result, ProbeResult)
    assert (result.profile, result.endpoint, result.at) == ("myregistry", "eastus", 42.0)
    assert result.address == (address or "registry.example.invalid")
    assert result.ok is (result.reason is None)
    assert result.latency >= 0
    assert len(result.detail) <= 160
    if result.reason is FailureReason.HTTP_STATUS:
        assert result.status_code is not None
    if protocol == "tcp":
        assert result.status_code is None
    for _, value in headers:
        if len(value) >= 6:  # a configured header value (maybe a credential) never shows up in the detail
            assert value not in result.detail
