"""HttpProber against real registry-like servers on loopback (TLS from trustme)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from dnsctl.core.model import StatusRange
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes import HttpProber
from dnsctl.process.clock import SystemClock
from tests.probes.builders import TARGET, endpoint, profile
from tests.support.registry import RegistryPki, RegistryServer

SHORT = 0.3  # probe timeout for the tests that wait for one


@pytest.fixture
def registry(pki: RegistryPki) -> Iterator[RegistryServer]:
    """HTTPS registry on 127.0.0.2 with a certificate for the replica names, signed by the trusted CA."""
    with RegistryServer("127.0.0.2", tls=pki.server_context()) as server:
        yield server


@pytest.fixture
def plain() -> Iterator[RegistryServer]:
    with RegistryServer("127.0.0.2") as server:
        yield server


@pytest.fixture
async def prober() -> AsyncIterator[HttpProber]:
    p = HttpProber(clock=SystemClock())
    yield p
    await p.aclose()


async def https_probe(
    prober: HttpProber, server: RegistryServer, pki: RegistryPki, **monitor: Any
) -> ProbeResult:
    monitor.setdefault("ca_file", pki.ca_file)
    return await prober.probe(profile(server.port, **monitor), endpoint(), time.time())


async def test_healthy_registry_answering_401_is_ok(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    now = time.time()
    result = await prober.probe(profile(registry.port, ca_file=pki.ca_file), endpoint(), now)
    assert result.ok, result
    assert (result.status_code, result.reason, result.at) == (401, None, now)
    assert (result.profile, result.endpoint, result.address) == ("myregistry", "eastus", "127.0.0.2")
    assert result.latency > 0


async def test_address_is_dialled_but_host_and_sni_stay_on_the_target(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    result = await https_probe(prober, registry, pki)
    assert result.ok, result
    [seen] = registry.requests
    assert seen.sni == TARGET
    assert seen.header("host") == f"{TARGET}:{registry.port}"
    assert (seen.method, seen.path) == ("GET", "/v2/")


async def test_host_on_the_default_port_has_no_port_suffix(pki: RegistryPki) -> None:
    # Port 443 needs no privileges under gVisor/containers only sometimes; use the header builder instead.
    from dnsctl.probes.http import host_header

    assert host_header(profile(443).monitor, endpoint()) == TARGET
    assert host_header(profile(80, "http").monitor, endpoint()) == TARGET
    assert host_header(profile(8443).monitor, endpoint()) == f"{TARGET}:8443"
    assert host_header(profile(8443).monitor, endpoint(target=TARGET + ".")) == f"{TARGET}:8443"


async def test_host_and_sni_overrides_are_sent(prober: HttpProber, pki: RegistryPki) -> None:
    with RegistryServer("127.0.0.2", tls=pki.server_context("myregistry.azurecr.io")) as server:
        result = await https_probe(
            prober, server, pki, host="myregistry.azurecr.io", sni="myregistry.azurecr.io"
        )
        assert result.ok, result
        [seen] = server.requests
        assert (seen.sni, seen.header("host")) == ("myregistry.azurecr.io", "myregistry.azurecr.io")


async def test_custom_headers_arrive(prober: HttpProber, registry: RegistryServer, pki: RegistryPki) -> None:
    headers = (("User-Agent", "dnsctl-test"), ("X-Probe", "eastus"), ("Accept", "application/json"))
    result = await https_probe(prober, registry, pki, headers=headers)
    assert result.ok, result
    [seen] = registry.requests
    assert seen.header("user-agent") == "dnsctl-test"
    assert seen.header("x-probe") == "eastus"
    assert seen.header("accept") == "application/json"
    assert seen.header("connection") == "close"  # fresh connection per probe


async def test_503_is_an_http_status_failure(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    registry.set_behaviour("503")
    result = await https_probe(prober, registry, pki)
    assert (result.ok, result.reason, result.status_code) == (False, FailureReason.HTTP_STATUS, 503)
    assert result.describe() == "http-status 503"


async def test_expected_status_decides(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    only_200 = (StatusRange(200, 299),)
    result = await https_probe(prober, registry, pki, expected_status=only_200)
    assert (result.ok, result.reason, result.status_code) == (False, FailureReason.HTTP_STATUS, 401)


async def test_redirects_are_judged_not_followed(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    result = await https_probe(prober, registry, pki, path="/status/302")
    assert (result.ok, result.reason, result.status_code) == (False, FailureReason.HTTP_STATUS, 302)
    accepting = (StatusRange(300, 399),)
    result = await https_probe(prober, registry, pki, path="/status/302", expected_status=accepting)
    assert (result.ok, result.status_code) == (True, 302)
    assert [r.path for r in registry.requests] == ["/status/302", "/status/302"]  # never went to Location


async def test_slow_answer_is_a_timeout(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    registry.set_behaviour("slow")
    result = await https_probe(prober, registry, pki, timeout=SHORT)
    assert (result.ok, result.reason) == (False, FailureReason.TIMEOUT)
    assert "no response" in result.detail
    assert len(registry.requests) == 1  # it was connected and had sent its request


async def test_hang_before_tls_is_a_timeout_not_a_connect_timeout(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    registry.set_behaviour("hang")
    result = await https_probe(prober, registry, pki, timeout=SHORT)
    assert (result.ok, result.reason) == (False, FailureReason.TLS_TIMEOUT)
    assert "TLS handshake" in result.detail


async def test_reset_mid_request_is_a_reset(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    registry.set_behaviour("reset")
    result = await https_probe(prober, registry, pki)
    assert (result.ok, result.reason) == (False, FailureReason.RESET)


async def test_stopped_server_is_refused(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    registry.set_behaviour("stopped")
    result = await https_probe(prober, registry, pki)
    assert (result.ok, result.reason) == (False, FailureReason.REFUSED)
    registry.set_behaviour("healthy")  # the port comes back
    assert (await https_probe(prober, registry, pki)).ok


async def test_certificate_for_another_name_is_a_tls_failure(prober: HttpProber, pki: RegistryPki) -> None:
    with RegistryServer("127.0.0.2", tls=pki.server_context("wrong.example.net")) as server:
        result = await https_probe(prober, server, pki)
        assert (result.ok, result.reason) == (False, FailureReason.TLS)
        assert "mismatch" in result.detail.lower()
        assert server.requests == []


async def test_certificate_from_an_untrusted_ca_is_a_tls_failure(
    prober: HttpProber, pki: RegistryPki
) -> None:
    with RegistryServer("127.0.0.2", tls=pki.server_context(trusted=False)) as server:
        result = await https_probe(prober, server, pki)
        assert (result.ok, result.reason) == (False, FailureReason.TLS)
        assert server.requests == []


async def test_default_trust_does_not_include_a_private_ca(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    result = await https_probe(prober, registry, pki, ca_file=None)
    assert (result.ok, result.reason) == (False, FailureReason.TLS)


async def test_verify_tls_off_accepts_a_wrong_certificate(prober: HttpProber, pki: RegistryPki) -> None:
    with RegistryServer("127.0.0.2", tls=pki.server_context("wrong.example.net", trusted=False)) as server:
        result = await https_probe(prober, server, pki, verify_tls=False, ca_file=None)
        assert (result.ok, result.status_code) == (True, 401), result


async def test_missing_ca_file_is_a_tls_failure_not_an_exception(
    prober: HttpProber, registry: RegistryServer, pki: RegistryPki
) -> None:
    result = await https_probe(prober, registry, pki, ca_file="/nonexistent/ca.pem")
    assert (result.ok, result.reason) == (False, FailureReason.TLS)


async def test_https_probe_of_a_plain_http_server_is_a_tls_failure(
    prober: HttpProber, plain: RegistryServer, pki: RegistryPki
) -> None:
    result = await https_probe(prober, plain, pki)
    assert (result.ok, result.reason) == (False, FailureReason.TLS)


async def test_unresolvable_name_is_a_dns_failure(prober: HttpProber) -> None:
    result = await prober.probe(profile(443), endpoint(None, target="myregistry.eastus.invalid"), time.time())
    assert (result.ok, result.reason, result.address) == (
        False,
        FailureReason.DNS,
        "myregistry.eastus.invalid",
    )


async def test_target_name_is_resolved_when_there_are_no_addresses(prober: HttpProber) -> None:
    with RegistryServer("127.0.0.1") as server:
        result = await prober.probe(
            profile(server.port, "http"), endpoint(None, target="localhost"), time.time()
        )
        assert (result.ok, result.address) == (True, "localhost"), result
        assert server.requests[0].header("host") == f"localhost:{server.port}"


async def test_ipv6_address_is_dialled_in_brackets(prober: HttpProber) -> None:
    with RegistryServer("::1") as server:
        result = await prober.probe(profile(server.port, "http"), endpoint("::1"), time.time())
        assert (result.ok, result.address) == (True, "::1"), result
        assert server.requests[0].header("host") == f"{TARGET}:{server.port}"


@pytest.mark.parametrize(
    ("path", "body_match", "ok"),
    [
        ("/v2/", "UNAUTHORIZED", True),
        ("/v2/", "no such text", False),
        ("/big", "xxxx", True),
        ("/big", "MARKER-AFTER-4KIB", False),  # only the first 4 KiB of the body count
    ],
)
async def test_body_match_looks_at_the_start_of_the_body(
    prober: HttpProber, plain: RegistryServer, path: str, body_match: str, ok: bool
) -> None:
    result = await prober.probe(
        profile(plain.port, "http", path=path, body_match=body_match), endpoint(), 0.0
    )
    assert result.ok is ok, result
    assert result.status_code in (200, 401)
    assert result.reason is (None if ok else FailureReason.BODY_MISMATCH)


async def test_each_probe_opens_a_fresh_connection(prober: HttpProber, plain: RegistryServer) -> None:
    for _ in range(3):
        assert (await prober.probe(profile(plain.port, "http"), endpoint(), 0.0)).ok
    assert plain.connections == 3
    assert [r.connection for r in plain.requests] == [1, 2, 3]


async def test_keepalive_mode_reuses_one_connection_and_still_sees_failures(plain: RegistryServer) -> None:
    prober = HttpProber(clock=SystemClock(), keepalive=True)
    try:
        for _ in range(3):
            assert (await prober.probe(profile(plain.port, "http"), endpoint(), 0.0)).ok
        assert plain.connections == 1
        assert plain.requests[0].header("connection") is None
        plain.set_behaviour("503")
        assert (await prober.probe(profile(plain.port, "http"), endpoint(), 0.0)).status_code == 503
        # The server dropping idle connections must not look like a failure: the probe reconnects.
        plain.set_behaviour("stopped")
        plain.set_behaviour("healthy")
        result = await prober.probe(profile(plain.port, "http"), endpoint(), 0.0)
        assert result.ok, result
        assert plain.connections == 2
        plain.set_behaviour("stopped")
        assert (
            await prober.probe(profile(plain.port, "http"), endpoint(), 0.0)
        ).reason is FailureReason.REFUSED
    finally:
        await prober.aclose()


async def test_credentials_in_headers_never_reach_the_detail(
    prober: HttpProber, plain: RegistryServer
) -> None:
    headers = (("Authorization", "Bearer s3cr3t-token\r\nX-Injected: 1"),)
    result = await prober.probe(profile(plain.port, "http", headers=headers), endpoint(), 0.0)
    assert (result.ok, result.reason) == (False, FailureReason.ERROR)
    assert "s3cr3t" not in result.detail and "s3cr3t" not in result.describe()
    assert plain.requests == []  # a header that would inject another header is never sent


async def _raw_server(answer: Callable[[asyncio.StreamWriter], None]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        answer(writer)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.2", 0)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n\r\n", FailureReason.ERROR),  # not HTTP
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", FailureReason.RESET),  # body cut short
        (b"HTTP/1.1 200 OK\r\nContent-Le", FailureReason.RESET),  # head cut short
        (b"", FailureReason.RESET),  # closed without a word
        (b"HTTP/1.0 200 OK\r\n\r\nUNAUTHORIZED until close", None),  # body delimited by close
    ],
)
async def test_odd_answers_are_classified(
    prober: HttpProber, answer: bytes, reason: FailureReason | None
) -> None:
    server = await _raw_server(lambda writer: writer.write(answer))
    try:
        port = server.sockets[0].getsockname()[1]
        result = await prober.probe(profile(port, "http", body_match="UNAUTHORIZED"), endpoint(), 0.0)
        assert result.reason is reason, result
        assert result.ok is (reason is None)
    finally:
        server.close()
