"""Every address of an endpoint probed (same Host and SNI); canaries that tell 'cut off' from 'down'."""

from __future__ import annotations

from dataclasses import replace

from dnsctl.compose import make_prober
from dnsctl.core.model import CanarySpec, EndpointSpec
from dnsctl.core.results import FailureReason
from dnsctl.probes import TcpProber
from dnsctl.probes.canary import probe_canaries
from dnsctl.probes.round import probe_round
from dnsctl.process.clock import SystemClock
from tests.e2e.harness import common_free_port
from tests.probes.builders import TARGET, profile
from tests.support.registry import RegistryPki, RegistryServer


async def test_each_address_is_probed_with_the_endpoints_host_and_sni(pki: RegistryPki) -> None:
    port = common_free_port(["127.0.0.2", "127.0.0.3"])
    dead = RegistryServer("127.0.0.2", port, tls=pki.server_context(TARGET), behaviour="blackhole")
    live = RegistryServer("127.0.0.3", port, tls=pki.server_context(TARGET))
    with dead, live:
        p = profile(port, ca_file=pki.ca_file, timeout=0.5)
        ep = EndpointSpec("eastus", TARGET, 1, addresses=("127.0.0.2", "127.0.0.3"))
        prober = make_prober(clock=SystemClock())
        results = await probe_round(prober, [(replace(p, endpoints=(ep,)), ep)], now=5.0)
        await prober.aclose()
    assert [(r.address, r.ok) for r in results] == [("127.0.0.2", False), ("127.0.0.3", True)]
    assert results[0].reason is FailureReason.CONNECT_TIMEOUT and results[0].says_nothing
    seen = live.requests[-1]
    assert seen.header("host") == f"{TARGET}:{port}" and seen.sni == TARGET


async def test_a_blackholed_port_is_a_connect_timeout_and_says_nothing() -> None:
    port = common_free_port(["127.0.0.2"])
    with RegistryServer("127.0.0.2", port, behaviour="blackhole") as server:
        ep = EndpointSpec("eastus", TARGET, 1, addresses=("127.0.0.2",))
        result = await TcpProber(clock=SystemClock()).probe(profile(port, "tcp", timeout=0.3), ep, 0.0)
        assert (result.ok, result.reason, result.says_nothing) == (False, FailureReason.CONNECT_TIMEOUT, True)
        server.set_behaviour("healthy")
        result = await TcpProber(clock=SystemClock()).probe(profile(port, "tcp", timeout=2.0), ep, 0.0)
        assert result.ok


async def test_canaries_answer_unless_silent(pki: RegistryPki) -> None:
    port = common_free_port(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    with (
        RegistryServer("127.0.0.2", port) as http_canary,
        RegistryServer("127.0.0.3", port, behaviour="blackhole"),
        RegistryServer("127.0.0.4", port, behaviour="stopped"),
    ):
        got = await probe_canaries(
            [
                CanarySpec("127.0.0.2", port),  # TCP: accepted
                CanarySpec("127.0.0.2", port, "http", "/status/503"),  # any HTTP answer proves the path
                CanarySpec("127.0.0.3", port),  # silence
                CanarySpec("127.0.0.4", port),  # a refusal proves the path too
            ],
            0.5,
            SystemClock(),
        )
        assert http_canary.requests[-1].path == "/status/503"
    assert [c.connected for c in got] == [True, True, False, True]
    assert got[2].canary == f"127.0.0.3:{port}" and "connect-timeout" in got[2].detail
