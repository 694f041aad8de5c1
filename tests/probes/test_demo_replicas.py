"""The demo replicas answer like registries, and flip up/down in process and over HTTP."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from dnsctl.compose import make_prober
from dnsctl.core.model import ProfileSpec
from dnsctl.core.results import FailureReason
from dnsctl.demo.replicas import DemoReplicas
from dnsctl.probes import probe_round
from dnsctl.process.clock import SystemClock
from tests.probes.builders import profile


async def test_replicas_answer_like_registries_and_go_down_on_request() -> None:
    async with DemoReplicas(["eastus", "westeurope"]) as demo:
        eastus, westeurope = demo.replicas
        assert (eastus.host, westeurope.host) == ("127.0.0.2", "127.0.0.3")
        assert eastus.port == westeurope.port == demo.port != 0
        spec = profile(demo.port, "http")
        spec = ProfileSpec(
            name="myregistry",
            fqdn="myregistry.azurecr.io",
            endpoints=demo.endpoint_specs(),
            monitor=spec.monitor,
        )
        assert [(e.name, e.target, e.addresses, e.priority) for e in spec.endpoints] == [
            ("eastus", "myregistry.eastus.geo.azurecr.io", ("127.0.0.2",), 1),
            ("westeurope", "myregistry.westeurope.geo.azurecr.io", ("127.0.0.3",), 2),
        ]
        prober = make_prober(clock=SystemClock())
        work = [(spec, ep) for ep in spec.endpoints]

        results = await probe_round(prober, work, now=time.time())
        assert [(r.ok, r.status_code) for r in results] == [(True, 401), (True, 401)]

        demo.set_up("eastus", False)  # in process
        results = await probe_round(prober, work, now=time.time())
        assert [(r.reason, r.status_code) for r in results] == [(FailureReason.HTTP_STATUS, 503), (None, 401)]

        async with httpx.AsyncClient(trust_env=False) as client:  # over HTTP, on the replica itself
            answer = await client.post(f"{westeurope.url}/_demo/down")
            assert (answer.status_code, answer.json()) == (200, {"name": "westeurope", "up": False})
            assert (await client.post(f"{eastus.url}/_demo/up")).json()["up"] is True
            state = await client.get(f"{westeurope.url}/_demo/state")
            assert json.loads(state.content) == {"name": "westeurope", "up": False}
            assert (await client.get(f"{eastus.url}/_demo/up")).status_code == 405
            assert (await client.get(f"{eastus.url}/elsewhere")).status_code == 404
            registry = await client.get(f"{eastus.url}/v2/")
            assert registry.headers["docker-distribution-api-version"] == "registry/2.0"
            assert 'service="myregistry.azurecr.io"' in registry.headers["www-authenticate"]

        results = await probe_round(prober, work, now=time.time())
        assert [(r.ok, r.status_code) for r in results] == [(True, 401), (False, 503)]
        await prober.aclose()


async def test_fixed_port_in_use_is_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        with pytest.raises(OSError):
            await DemoReplicas(["eastus"], port=taken.getsockname()[1]).start()
