"""Where the registry probe asks for a token: only where the configuration says, whatever the challenge says.

A registry (or anyone answering in its name) chooses the realm of its 401 challenge. The Azure access
token the probe exchanges for a registry token can rewrite the Private DNS zone, so it goes only over
https to `/oauth2/exchange` on the registry's own host (or a host in `registry.token_hosts`). Real
servers on loopback: a hostile registry, and "foreign" servers that record whatever reaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dnsctl.core.model import EndpointSpec, MonitorProtocol, MonitorSpec, ProfileSpec, RegistryProbeSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.registry import MAX_TOKENS, MAX_TOKENS_PER_ENDPOINT, TOKEN_MAX_AGE, RegistryProber
from dnsctl.process.clock import SystemClock
from tests.support.clock import ManualClock
from tests.support.registry import RegistryPki
from tests.support.scripted_registry import ScriptedRegistry

TARGET = "registry.test"  # the endpoint's target: the registry's own host
ADDRESS = "127.0.0.61"  # where it is probed
FOREIGN_HTTP, FOREIGN_HTTPS = "127.0.0.62", "127.0.0.63"
ARM_TOKEN = "arm-access-token-that-can-rewrite-the-zone"


class Lab:
    def __init__(self, pki: RegistryPki) -> None:
        self.pki = pki
        self.registry = ScriptedRegistry(ADDRESS, tls=pki.server_context(TARGET)).start()
        self.plain = ScriptedRegistry(ADDRESS).start()  # the registry's own address, plain http
        self.foreign_http = ScriptedRegistry(FOREIGN_HTTP).start()
        self.foreign_https = ScriptedRegistry(FOREIGN_HTTPS, tls=pki.server_context(FOREIGN_HTTPS)).start()
        self.aad_calls = 0

    @property
    def servers(self) -> list[ScriptedRegistry]:
        return [self.registry, self.plain, self.foreign_http, self.foreign_https]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    async def aad(self) -> str:
        self.aad_calls += 1
        return ARM_TOKEN

    def profile(
        self, registry: ScriptedRegistry, *, auth: str = "azure", token_hosts: tuple[str, ...] = ()
    ) -> ProfileSpec:
        plain = registry.scheme == "http"
        spec = RegistryProbeSpec("app", "1", plain_http=plain, auth=auth, token_hosts=token_hosts)
        monitor = MonitorSpec(
            protocol=MonitorProtocol.REGISTRY,
            port=registry.port,
            timeout=10.0,
            ca_file=self.pki.ca_file,
            fall=1,
            registry=spec,
        )
        endpoint = EndpointSpec("eastus", TARGET, 1, addresses=(ADDRESS,))
        return ProfileSpec(name="myregistry", fqdn="myregistry.test", endpoints=(endpoint,), monitor=monitor)

    def carrying_the_token(self) -> list[tuple[str, str, str]]:
        return [(s.host, r.method, r.path) for s in self.servers for r in s.requests if r.carries(ARM_TOKEN)]


@pytest.fixture
def lab(pki: RegistryPki) -> Iterator[Lab]:
    lab = Lab(pki)
    try:
        yield lab
    finally:
        lab.stop()


async def probe(prober: RegistryProber, profile: ProfileSpec) -> ProbeResult:
    return await prober.probe(profile, profile.endpoints[0], 0.0)


Realm = Callable[[Lab], str]
HOSTILE_REALMS: dict[str, Realm] = {
    "foreign host over http": lambda lab: f"http://{FOREIGN_HTTP}:{lab.foreign_http.port}/oauth2/token",
    "foreign host over https": lambda lab: f"https://{FOREIGN_HTTPS}:{lab.foreign_https.port}/oauth2/token",
    "own host over plain http": lambda lab: f"http://{TARGET}:{lab.plain.port}/oauth2/token",
    "own host, not ACR's token path": lambda lab: f"https://{TARGET}:{lab.registry.port}/steal/token",
    "credentials in the realm": lambda lab: f"https://u:p@{TARGET}:{lab.registry.port}/oauth2/token",
}


@pytest.mark.parametrize("realm", list(HOSTILE_REALMS), ids=list(HOSTILE_REALMS))
async def test_the_azure_token_goes_to_no_realm_but_the_registrys_own_exchange(lab: Lab, realm: str) -> None:
    lab.registry.realm = lambda n: HOSTILE_REALMS[realm](lab)
    r = await probe(RegistryProber(lab.aad, clock=SystemClock()), lab.profile(lab.registry))
    assert lab.carrying_the_token() == []
    for other in (lab.plain, lab.foreign_http, lab.foreign_https):
        assert other.requests == [], other.host
    assert [(x.method, x.path) for x in lab.registry.requests] == [("GET", "/v2/")]
    assert lab.aad_calls == 0  # not even fetched
    assert (r.ok, r.reason) == (False, FailureReason.TOKEN_REALM), r
    assert r.detail.startswith("token realm refused: ") and r.detail.endswith("nothing was sent to it")


async def test_refusals_say_what_is_wrong(lab: Lab) -> None:
    reasons = {}
    for name, realm in HOSTILE_REALMS.items():
        lab.registry.realm = lambda n, realm=realm: realm(lab)
        reasons[name] = (
            await probe(RegistryProber(lab.aad, clock=SystemClock()), lab.profile(lab.registry))
        ).detail
    assert (
        f"{FOREIGN_HTTP} is neither the registry's host ({TARGET}) nor in registry.token_hosts"
        in (reasons["foreign host over http"])
    )
    assert (
        "plain http to registry.test: the Azure access token is sent over https only"
        in (reasons["own host over plain http"])
    )
    assert (
        "expects ACR's realm https://registry.test/oauth2/token, not the path '/steal/token'"
        in (reasons["own host, not ACR's token path"])
    )
    assert "carries credentials" in reasons["credentials in the realm"]


async def test_the_azure_token_goes_to_the_exchange_endpoint_of_the_registry_probed(lab: Lab) -> None:
    lab.registry.realm = lambda n: f"https://{TARGET}:{lab.registry.port}/oauth2/token"
    r = await probe(RegistryProber(lab.aad, clock=SystemClock()), lab.profile(lab.registry))
    assert r.ok, r.detail
    assert [(x.method, x.path) for x in lab.registry.requests] == [
        ("GET", "/v2/"),
        ("POST", "/oauth2/exchange"),
        ("POST", "/oauth2/token"),
        ("HEAD", "/v2/app/manifests/1"),
    ]
    assert lab.carrying_the_token() == [(ADDRESS, "POST", "/oauth2/exchange")]


async def test_a_host_in_token_hosts_may_take_the_exchange_over_https_only(lab: Lab) -> None:
    lab.registry.realm = lambda n: f"https://{FOREIGN_HTTPS}:{lab.foreign_https.port}/oauth2/token"
    allowed = lab.profile(lab.registry, token_hosts=(FOREIGN_HTTPS, FOREIGN_HTTP))
    r = await probe(RegistryProber(lab.aad, clock=SystemClock()), allowed)
    assert r.ok, r.detail
    assert lab.carrying_the_token() == [(FOREIGN_HTTPS, "POST", "/oauth2/exchange")]

    lab.registry.realm = lambda n: f"http://{FOREIGN_HTTP}:{lab.foreign_http.port}/oauth2/token"
    r = await probe(RegistryProber(lab.aad, clock=SystemClock()), allowed)
    assert r.reason is FailureReason.TOKEN_REALM and "over https only" in r.detail, r
    assert lab.foreign_http.requests == []


ANONYMOUS_REFUSED: dict[str, Realm] = {
    "foreign host over http": HOSTILE_REALMS["foreign host over http"],
    "foreign host over https": HOSTILE_REALMS["foreign host over https"],
    "own host over plain http from an https registry": HOSTILE_REALMS["own host over plain http"],
}


@pytest.mark.parametrize("realm", list(ANONYMOUS_REFUSED), ids=list(ANONYMOUS_REFUSED))
async def test_an_anonymous_token_is_not_asked_of_a_foreign_realm(lab: Lab, realm: str) -> None:
    lab.registry.realm = lambda n: ANONYMOUS_REFUSED[realm](lab)
    r = await probe(RegistryProber(clock=SystemClock()), lab.profile(lab.registry, auth="anonymous"))
    for other in (lab.plain, lab.foreign_http, lab.foreign_https):
        assert other.requests == [], other.host
    assert (r.ok, r.reason) == (False, FailureReason.TOKEN_REALM), r


async def test_a_plain_http_registry_gets_an_anonymous_token_from_itself_or_an_allowed_host(
    lab: Lab,
) -> None:
    plain = lab.profile(lab.plain, auth="anonymous")
    lab.plain.realm = lambda n: f"http://{TARGET}:{lab.plain.port}/token"
    r = await probe(RegistryProber(clock=SystemClock()), plain)
    assert r.ok, r.detail
    query = "service=registry.test&scope=repository%3Aapp%3Apull"
    assert [x.path for x in lab.plain.requests][:2] == ["/v2/", f"/token?{query}"]

    lab.plain.realm = lambda n: f"http://{FOREIGN_HTTP}:{lab.foreign_http.port}/token"
    r = await probe(RegistryProber(clock=SystemClock()), plain)
    assert r.reason is FailureReason.TOKEN_REALM and lab.foreign_http.requests == [], r
    r = await probe(
        RegistryProber(clock=SystemClock()),
        lab.profile(lab.plain, auth="anonymous", token_hosts=(FOREIGN_HTTP,)),
    )
    assert r.ok, r.detail
    assert [x.method for x in lab.foreign_http.requests] == ["GET"]


async def test_the_token_cache_stays_bounded_whatever_realms_the_registry_names(lab: Lab) -> None:
    # Each challenge names a new realm (on the registry's own host, so it is taken): a new cache key
    # each time.
    lab.plain.realm = lambda n: f"http://{TARGET}:{lab.plain.port}/token/{n}"
    prober = RegistryProber(clock=SystemClock())
    one = lab.profile(lab.plain, auth="anonymous")
    for _ in range(200):
        r = await probe(prober, one)
        assert r.ok, r.detail
        assert len(prober._tokens) <= MAX_TOKENS_PER_ENDPOINT
    assert prober.token_fetches == 200
    # Many endpoints (one probe each) fill the cache up to its global bound and no further.
    many = MAX_TOKENS + 30
    for i in range(many):
        endpoint = EndpointSpec(f"e{i}", TARGET, 1, addresses=(ADDRESS,))
        r = await prober.probe(one, endpoint, 0.0)
        assert r.ok, r.detail
    assert len(prober._tokens) == MAX_TOKENS
    # The most recently used are kept.
    assert {key[0][1] for key in prober._tokens} == {f"e{i}" for i in range(many - MAX_TOKENS, many)}


async def test_expired_tokens_leave_the_cache(lab: Lab) -> None:
    clock = ManualClock()
    lab.plain.realm = lambda n: f"http://{TARGET}:{lab.plain.port}/token/{n}"
    prober = RegistryProber(clock=clock)
    one = lab.profile(lab.plain, auth="anonymous")
    for i in range(3):
        endpoint = EndpointSpec(f"e{i}", TARGET, 1, addresses=(ADDRESS,))
        assert (await prober.probe(one, endpoint, 0.0)).ok
    assert len(prober._tokens) == 3
    clock.advance(TOKEN_MAX_AGE + 1)
    assert (await probe(prober, one)).ok
    assert len(prober._tokens) == 1  # the three expired ones dropped when the new one came
