"""The registry probe against a real docker-registry with token auth and a token server made for the test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dnsctl.compose import make_prober
from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    IsolationGuardSpec,
    MonitorProtocol,
    MonitorSpec,
    ProfileSpec,
    RegistryProbeSpec,
)
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.engine import Engine
from dnsctl.probes.http import HttpProber
from dnsctl.probes.registry import RegistryProber
from dnsctl.probes.registry_http import parse_challenge
from dnsctl.process.clock import SystemClock
from tests.mirror.conftest import AAD_TOKEN, TokenLab
from tests.support.clock import ManualClock


@pytest.fixture
def lab(token_lab: TokenLab) -> Iterator[TokenLab]:
    token_lab.heal()
    yield token_lab
    token_lab.heal()


def registry_profile(
    lab: TokenLab,
    reference: str = "1",
    auth: str = "anonymous",
    timeout: float = 2.0,
    token_hosts: tuple[str, ...] | None = None,
) -> ProfileSpec:
    # The token service runs on a host of its own: the probe asks it only when it is allowed.
    hosts = (lab.tokens.host,) if token_hosts is None else token_hosts
    return ProfileSpec(
        name="myregistry",
        fqdn="myregistry.azurecr.io",
        endpoints=(EndpointSpec("eastus", "authreg.mirror.test", 1, addresses=("127.0.0.44",)),),
        monitor=MonitorSpec(
            protocol=MonitorProtocol.REGISTRY,
            port=lab.registry.port,
            interval=5.0,
            timeout=timeout,
            fall=1,
            registry=RegistryProbeSpec("app", reference, plain_http=True, auth=auth, token_hosts=hosts),
        ),
    )


async def probe(prober: RegistryProber, profile: ProfileSpec) -> ProbeResult:
    return await prober.probe(profile, profile.endpoints[0], 0.0)


async def test_a_healthy_replica_passes_and_the_token_is_cached(lab: TokenLab) -> None:
    prober = RegistryProber(clock=SystemClock())
    first = await probe(prober, registry_profile(lab))
    second = await probe(prober, registry_profile(lab))
    assert (first.ok, first.status_code) == (True, 200), first.detail
    assert second.ok
    assert prober.token_fetches == 1


async def test_token_endpoint_down_is_a_failure_although_v2_answers_401(lab: TokenLab) -> None:
    lab.tokens.stop()
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab))
    assert not r.ok and r.reason is FailureReason.TOKEN_UNAVAILABLE, r
    # The plain /v2/ probe still calls this replica healthy: exactly what the registry probe is for.
    plain = replace(
        registry_profile(lab), monitor=replace(registry_profile(lab).monitor, protocol=MonitorProtocol.HTTP)
    )
    v2 = await HttpProber(clock=SystemClock()).probe(plain, plain.endpoints[0], 0.0)
    assert v2.ok and v2.status_code == 401


async def test_a_broken_token_service_is_token_unavailable(lab: TokenLab) -> None:
    lab.tokens.mode = "broken"
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab))
    assert r.reason is FailureReason.TOKEN_UNAVAILABLE and "HTTP 500" in r.detail


async def test_a_refused_token_is_token_refused(lab: TokenLab) -> None:
    lab.tokens.mode = "refuse"
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab))
    assert r.reason is FailureReason.TOKEN_REFUSED


async def test_a_missing_manifest_is_manifest_missing(lab: TokenLab) -> None:
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab, reference="2"))
    assert (r.ok, r.reason, r.status_code) == (False, FailureReason.MANIFEST_MISSING, 404)
    assert "app:2" in r.detail


async def test_a_slow_token_endpoint_is_reported_as_slow(lab: TokenLab) -> None:
    lab.tokens.mode = "slow"
    lab.tokens.slow_delay = 1.0
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab, timeout=0.5))
    assert r.reason is FailureReason.TIMEOUT and r.detail.startswith("slow: token endpoint"), r.detail


async def test_the_azure_token_is_never_sent_to_a_plain_http_token_service(lab: TokenLab) -> None:
    # The exchange itself is tested over https in tests/probes/test_registry_realm.py.
    asked = []

    async def aad() -> str:
        asked.append(1)
        return AAD_TOKEN

    before = set(lab.tokens.refresh_tokens)
    r = await probe(RegistryProber(aad, clock=SystemClock()), registry_profile(lab, auth="azure"))
    assert (r.ok, r.reason) == (False, FailureReason.TOKEN_REALM), r
    assert "the Azure access token is sent over https only" in r.detail
    assert asked == [] and lab.tokens.refresh_tokens == before


async def test_a_token_service_on_another_host_is_asked_only_when_listed(lab: TokenLab) -> None:
    issued = len(lab.tokens.issued)
    r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab, token_hosts=()))
    assert (r.ok, r.reason) == (False, FailureReason.TOKEN_REALM), r
    assert f"{lab.tokens.host} is neither the registry's host" in r.detail
    assert len(lab.tokens.issued) == issued


async def test_no_token_appears_in_results_or_logs(lab: TokenLab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def aad() -> str:
        return AAD_TOKEN

    prober = RegistryProber(aad, clock=SystemClock())
    results = [await probe(prober, registry_profile(lab))]
    results.append(await probe(prober, registry_profile(lab, auth="azure")))
    lab.tokens.mode = "refuse"
    results.append(await probe(RegistryProber(aad, clock=SystemClock()), registry_profile(lab)))
    cached = [t.value for t in prober._tokens.values()]
    assert cached
    text = caplog.text + " ".join(f"{r.detail} {r.address}" for r in results)
    for secret in [AAD_TOKEN, *cached, *lab.tokens.refresh_tokens]:
        assert secret not in text


async def test_the_engine_marks_such_a_replica_degraded(lab: TokenLab) -> None:
    spec = DnsctlSpec(
        profiles=(registry_profile(lab, reference="2"),), isolation_guard=IsolationGuardSpec(False)
    )
    engine = Engine(spec, make_prober(clock=SystemClock()), ManualClock())
    await engine.round()
    health = engine.states["myregistry"].endpoints["eastus"]
    assert health.status is MonitorStatus.DEGRADED
    assert health.last is not None and health.last.reason is FailureReason.MANIFEST_MISSING


def test_challenges_are_parsed() -> None:
    assert parse_challenge('Bearer realm="https://r/oauth2/token",service="r.azurecr.io"') == {
        "realm": "https://r/oauth2/token",
        "service": "r.azurecr.io",
    }
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge("Bearer") is None


def test_registry_config_needs_its_settings(tmp_path: Path) -> None:
    from dnsctl.config.load import load
    from dnsctl.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "profiles:\n- name: p\n  fqdn: r.azurecr.io\n"
        "  monitor: {protocol: registry, registry: {repository: 'Bad Name'}}\n"
        "  endpoints: [{name: e, target: e.example, priority: 1}]\n"
    )
    with pytest.raises(ConfigError) as e:
        load(cfg)
    assert any("registry.repository" in p for p in e.value.problems)


async def test_a_cached_token_the_registry_no_longer_takes_is_replaced_once(lab: TokenLab) -> None:
    prober = RegistryProber(clock=SystemClock())
    assert (await probe(prober, registry_profile(lab))).ok
    [key] = prober._tokens
    prober._tokens[key].value = "revoked.token.value"  # as if the registry's signing key had rotated
    again = await probe(prober, registry_profile(lab))
    assert again.ok, again.detail
    assert prober.token_fetches == 2
    assert prober._tokens[key].value != "revoked.token.value"


async def test_a_token_without_the_pull_grant_is_token_refused(lab: TokenLab) -> None:
    lab.tokens.grant = False
    try:
        r = await probe(RegistryProber(clock=SystemClock()), registry_profile(lab))
    finally:
        lab.tokens.grant = True
    assert (r.ok, r.reason) == (False, FailureReason.TOKEN_REFUSED), r
