"""Registry probe (`monitor.protocol: registry`): what a pull needs, not just a front end that answers.

`GET /v2/`; on 401 with a Bearer challenge, a token for `repository:<repo>:pull` from the challenge's
realm (anonymously, or for ACR by exchanging the Azure credential's access token at `/oauth2/exchange`
for a refresh token and that at `/oauth2/token`); then `HEAD /v2/<repo>/manifests/<reference>` must
answer 200. A replica whose token service or storage is broken fails here although `/v2/` answers 401.

The challenge is the registry's word, so where a token is asked for is checked first: the realm must
name the endpoint's own target or a host in `registry.token_hosts`, over https (plain http only for an
anonymous token when the probe itself is plain http). The Azure access token goes only to
`https://<that host>/oauth2/exchange`. A realm that fails this is a `token-realm` failure and nothing
is sent to it.

Tokens are cached per endpoint and (realm, service, scope) until shortly before they expire, at most
MAX_TOKENS_PER_ENDPOINT per endpoint and MAX_TOKENS in all (least recently used go first, expired ones
at every insert); they never appear in a result's detail or a log line.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from dnsctl.core.model import EndpointSpec, MonitorSpec, ProfileSpec, RegistryProbeSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import ProbeVerdict, run_probe
from dnsctl.probes.failures import Progress, classify
from dnsctl.probes.http import server_name
from dnsctl.probes.registry_http import (
    ACR_TOKEN_PATH,
    Response,
    StepFailed,
    call,
    check_realm,
    json_field,
    parse_challenge,
    same_host,
    token_from,
)
from dnsctl.process.clock import Clock

TOKEN_MARGIN = 30.0  # seconds before expiry a cached token is no longer used
# A cached token hides an outage of the token service; renewing at least this often bounds how long.
TOKEN_MAX_AGE = 300.0
# The registry chooses the cache key (its realm and service): bounded, whatever it answers.
MAX_TOKENS_PER_ENDPOINT = 4
MAX_TOKENS = 256
ACR_EXCHANGE_PATH = "/oauth2/exchange"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)

# An Azure (Entra ID) access token for the registry exchange; supplied by the composition root.
AadTokenSource = Callable[[], Awaitable[str]]


class Step(StrEnum):
    PING = "/v2/"
    TOKEN = "token endpoint"
    MANIFEST = "manifest"


@dataclass(slots=True)
class _CachedToken:
    value: str
    expires: float  # monotonic


# (profile, endpoint) and (realm, service, scope, auth)
CacheKey = tuple[tuple[str, str], str, str, str, str]


class RegistryProber:
    def __init__(
        self,
        aad_token: AadTokenSource | None = None,
        *,
        clock: Clock,
        max_tokens: int = MAX_TOKENS,
        max_tokens_per_endpoint: int = MAX_TOKENS_PER_ENDPOINT,
    ) -> None:
        self._aad_token = aad_token
        self._clock = clock
        self._max_tokens = max_tokens
        self._max_per_endpoint = max_tokens_per_endpoint
        self._tokens: OrderedDict[CacheKey, _CachedToken] = OrderedDict()  # least recently used first
        self.token_fetches = 0  # how many times a token endpoint was asked (the cache's effect)

    def _cached(self, key: CacheKey) -> _CachedToken | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        if self._clock.monotonic() >= entry.expires:
            del self._tokens[key]
            return None
        self._tokens.move_to_end(key)
        return entry

    def _remember(self, key: CacheKey, value: str, keep: float) -> None:
        now = self._clock.monotonic()
        for old in [k for k, t in self._tokens.items() if now >= t.expires]:
            del self._tokens[old]
        self._tokens[key] = _CachedToken(value, now + keep)
        self._tokens.move_to_end(key)
        mine = [k for k in self._tokens if k[0] == key[0]]
        for old in mine[: max(len(mine) - self._max_per_endpoint, 0)]:
            del self._tokens[old]
        while len(self._tokens) > self._max_tokens:
            self._tokens.popitem(last=False)

    async def aclose(self) -> None:
        self._tokens.clear()

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        monitor = profile.monitor
        step = [Step.PING]

        async def check(address: str, progress: Progress) -> ProbeVerdict:
            return ProbeVerdict(await self._check(monitor, endpoint, address, step, progress))

        def explain(exc: Exception, progress: Progress) -> ProbeVerdict:
            if isinstance(exc, StepFailed):
                return ProbeVerdict(exc.status, exc.reason, exc.detail)
            reason, detail = classify(exc, progress.phase, monitor.timeout)
            if reason in (FailureReason.TIMEOUT, FailureReason.CONNECT_TIMEOUT, FailureReason.DNS):
                detail = f"slow: {step[0]}: {detail}"
            elif step[0] is Step.TOKEN:
                reason, detail = FailureReason.TOKEN_UNAVAILABLE, f"token endpoint: {detail}"
            else:
                detail = f"{step[0]}: {detail}"
            return ProbeVerdict(None, reason, detail)

        return await run_probe(profile, endpoint, now, address, check, explain, clock=self._clock)

    async def _check(
        self, monitor: MonitorSpec, endpoint: EndpointSpec, address: str, step: list[Step], progress: Progress
    ) -> int:
        reg = monitor.registry
        assert reg is not None  # the configuration requires it for this protocol
        tls = not reg.plain_http
        host = _host_header(monitor, endpoint, tls)
        sni = server_name(monitor, endpoint)

        async def registry_call(method: str, path: str, headers: list[tuple[str, str]]) -> Response:
            return await call(
                address, monitor.port, tls, sni, monitor, method, path, [("Host", host), *headers], progress
            )

        ping = await registry_call("GET", "/v2/", [])
        auth: list[tuple[str, str]] = []
        challenge: dict[str, str] | None = None
        cached = False
        if ping.status == 401:
            challenge = parse_challenge(ping.headers.get("www-authenticate", ""))
            if challenge is None:
                raise StepFailed(
                    FailureReason.HTTP_STATUS, "/v2/ answered 401 without a Bearer challenge", 401
                )
            step[0] = Step.TOKEN
            token, cached = await self._token(challenge, reg, monitor, endpoint, address, progress)
            auth = [("Authorization", f"Bearer {token}")]
        elif not 200 <= ping.status < 300:
            raise StepFailed(FailureReason.HTTP_STATUS, f"/v2/ answered HTTP {ping.status}", ping.status)
        step[0] = Step.MANIFEST
        path = f"/v2/{reg.repository}/manifests/{reg.reference}"
        head = await registry_call("HEAD", path, [*auth, ("Accept", MANIFEST_TYPES)])
        if head.status == 401 and auth and cached and challenge is not None:
            # The registry no longer takes the cached token (revoked, or its key rotated): a fresh one.
            self._tokens.pop(_cache_key(challenge, reg, endpoint, monitor), None)
            step[0] = Step.TOKEN
            token, _ = await self._token(challenge, reg, monitor, endpoint, address, progress)
            step[0] = Step.MANIFEST
            head = await registry_call(
                "HEAD", path, [("Authorization", f"Bearer {token}"), ("Accept", MANIFEST_TYPES)]
            )
        if head.status == 200:
            return 200
        where = f"{reg.repository}:{reg.reference}"
        if head.status == 404:
            raise StepFailed(FailureReason.MANIFEST_MISSING, f"manifest {where} not found", 404)
        if head.status in (401, 403):
            raise StepFailed(
                FailureReason.TOKEN_REFUSED, f"the registry refused the token for {where}", head.status
            )
        raise StepFailed(FailureReason.HTTP_STATUS, f"manifest {where}: HTTP {head.status}", head.status)

    async def _token(
        self,
        challenge: dict[str, str],
        reg: RegistryProbeSpec,
        monitor: MonitorSpec,
        endpoint: EndpointSpec,
        address: str,
        progress: Progress,
    ) -> tuple[str, bool]:
        """A token for the challenge, and whether it came from the cache."""
        realm = challenge["realm"]
        service = challenge.get("service", "")
        scope = f"repository:{reg.repository}:pull"
        parts = check_realm(realm, reg, endpoint)
        key = _cache_key(challenge, reg, endpoint, monitor)
        cached = self._cached(key)
        if cached is not None:
            return cached.value, True
        https = parts.scheme == "https"
        realm_host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        # The realm on the replica's own name is reached at the probed address, like the registry.
        connect_to = address if same_host(realm_host, endpoint.target) else realm_host
        host_value = parts.netloc.rpartition("@")[2]

        async def realm_call(method: str, path: str, body: bytes | None = None) -> Response:
            headers = [("Host", host_value)]
            if body is not None:
                headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            return await call(
                connect_to, port, https, realm_host, monitor, method, path, headers, progress, body
            )

        self.token_fetches += 1
        if reg.auth == "azure":
            value, lifetime = await self._acr_token(realm_call, service, scope)
        else:
            query = urlencode({"service": service, "scope": scope})
            sep = "&" if parts.query else ""
            r = await realm_call("GET", f"{parts.path or '/'}?{parts.query}{sep}{query}")
            value, lifetime = token_from(r, "token endpoint")
        keep = min(lifetime - TOKEN_MARGIN, TOKEN_MAX_AGE)
        if keep > 0:
            self._remember(key, value, keep)
        return value, False

    async def _acr_token(
        self,
        call: Callable[[str, str, bytes | None], Awaitable[Response]],
        service: str,
        scope: str,
    ) -> tuple[str, float]:
        if self._aad_token is None:
            raise StepFailed(
                FailureReason.TOKEN_REFUSED, "registry.auth is azure but no Azure credential is set up"
            )
        try:
            aad = await self._aad_token()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise StepFailed(
                FailureReason.TOKEN_REFUSED, f"no Azure access token: {type(exc).__name__}"
            ) from None
        # `check_realm` made sure this is https on the registry's host (or an allowed one).
        form = urlencode({"grant_type": "access_token", "service": service, "access_token": aad})
        r = await call("POST", ACR_EXCHANGE_PATH, form.encode())
        refresh = json_field(r, "refresh_token", "token exchange")
        form = urlencode(
            {"grant_type": "refresh_token", "service": service, "scope": scope, "refresh_token": refresh}
        )
        r = await call("POST", ACR_TOKEN_PATH, form.encode())
        return token_from(r, "token endpoint")


def _cache_key(
    challenge: dict[str, str], reg: RegistryProbeSpec, endpoint: EndpointSpec, monitor: MonitorSpec
) -> CacheKey:
    scope = f"repository:{reg.repository}:pull"
    # The monitor's port too: two profiles may probe one endpoint name on different registries.
    owner = (f"{endpoint.target}:{monitor.port}", endpoint.name)
    return (owner, challenge["realm"], challenge.get("service", ""), scope, reg.auth)


def _host_header(monitor: MonitorSpec, endpoint: EndpointSpec, tls: bool) -> str:
    if monitor.host:
        return monitor.host
    name = endpoint.target.rstrip(".")
    name = f"[{name}]" if ":" in name else name
    return name if monitor.port == (443 if tls else 80) else f"{name}:{monitor.port}"
