"""The registry-like test server itself: what it answers, and its subprocess mode."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import httpx

from dnsctl.core.results import FailureReason
from dnsctl.probes import HttpProber
from dnsctl.process.clock import SystemClock
from tests.probes.builders import TARGET, endpoint, profile
from tests.support.registry import MAX_HEAD, RegistryPki, RegistryProcess, RegistryServer


def test_healthy_v2_answers_like_a_registry(pki: RegistryPki) -> None:
    ctx = ssl.create_default_context(cafile=pki.ca_file)
    with RegistryServer("127.0.0.2", tls=pki.server_context(), name="myregistry.azurecr.io") as server:
        transport = httpx.HTTPTransport(verify=ctx)
        with httpx.Client(transport=transport, trust_env=False) as client:
            url = f"https://127.0.0.2:{server.port}/v2/"
            response = client.get(url, extensions={"sni_hostname": TARGET}, headers={"Host": TARGET})
        assert response.status_code == 401
        assert response.headers["docker-distribution-api-version"] == "registry/2.0"
        assert response.headers["www-authenticate"] == (
            'Bearer realm="https://myregistry.azurecr.io/oauth2/token",service="myregistry.azurecr.io"'
        )
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
        [seen] = server.requests
        assert (seen.sni, seen.header("host"), seen.path) == (TARGET, TARGET, "/v2/")


def test_plain_server_sees_no_sni_and_can_forget_requests() -> None:
    with RegistryServer("127.0.0.3") as server, httpx.Client(trust_env=False) as client:
        assert client.get(f"{server.url}/nothing").status_code == 404
        assert client.get(f"{server.url}/status/500").status_code == 500
        assert [r.sni for r in server.requests] == [None, None]
        server.clear()
        assert server.requests == []


async def test_subprocess_mode_switches_behaviour(pki: RegistryPki, tmp_path: Path) -> None:
    pem = pki.write_server_pem(tmp_path / "server.pem")
    prober = HttpProber(clock=SystemClock())
    with RegistryProcess("127.0.0.3", tls_pem=pem) as registry:
        spec = profile(registry.port, ca_file=pki.ca_file)
        ep = endpoint("127.0.0.3")
        assert (await prober.probe(spec, ep, time.time())).status_code == 401
        registry.set_behaviour("503")
        assert (await prober.probe(spec, ep, time.time())).status_code == 503
        registry.set_behaviour("stopped")
        assert (await prober.probe(spec, ep, time.time())).reason is FailureReason.REFUSED
        registry.set_behaviour("healthy")
        assert (await prober.probe(spec, ep, time.time())).ok


def test_garbage_request_closes_only_that_connection() -> None:
    with RegistryServer("127.0.0.3") as server:
        with socket.create_connection(("127.0.0.3", server.port), timeout=5) as raw:
            raw.sendall(b"GARBAGE\r\n\r\n")
            assert raw.recv(100) == b""  # closed, no answer
        with httpx.Client(trust_env=False) as client:
            assert client.get(f"{server.url}/v2/").status_code == 401


def test_endless_request_head_is_refused_not_buffered() -> None:
    with RegistryServer("127.0.0.3") as server:
        with socket.create_connection(("127.0.0.3", server.port), timeout=5) as raw:
            head = b"GET /v2/ HTTP/1.1\r\nX-Long: "
            raw.sendall(head + b"a" * (MAX_HEAD + 1 - len(head)))  # all of it is read: no RST on close
            assert raw.recv(100).startswith(b"HTTP/1.1 431 ")
        assert server.requests == []
