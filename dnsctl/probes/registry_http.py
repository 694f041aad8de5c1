"""The registry probe's requests: one HTTP/1.1 request on a fresh connection (or, with a `Session`, on the
connection the previous request to the same place left open), where a token may be asked for (the
challenge's realm, checked before anything is sent to it), and reading the token services' answers.

A failure found in an answer is a `StepFailed` with its FailureReason; its detail never holds a token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import h11

from dnsctl.core.model import EndpointSpec, MonitorSpec
from dnsctl.core.registry_spec import RegistryProbeSpec
from dnsctl.core.results import FailureReason
from dnsctl.probes.connect import open_stream
from dnsctl.probes.failures import PeerClosed, Phase, Progress, TlsSetupError
from dnsctl.probes.http import DEFAULT_USER_AGENT
from dnsctl.probes.tls import client_context

MAX_RESPONSE = 64 * 1024
DEFAULT_TOKEN_LIFETIME = 60.0  # the token spec's default when `expires_in` is absent
ACR_TOKEN_PATH = "/oauth2/token"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes


@dataclass(slots=True)
class _Open:
    key: tuple[str, int, bool, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: h11.Connection


class Session:
    """Keeps the one connection a probe's previous request to the registry left open, for its next request
    to the same address (the data path's blob GET after the manifest): one probe, one connection there.
    `close` when the probe is over; a connection the server closed meanwhile is replaced by a fresh one."""

    def __init__(self) -> None:
        self._open: _Open | None = None

    def take(self, key: tuple[str, int, bool, str]) -> _Open | None:
        found, self._open = self._open, None
        if found is not None and (found.key != key or found.writer.transport.is_closing()):
            found.writer.transport.abort()
            return None
        return found

    def keep(self, found: _Open) -> None:
        self.close()
        self._open = found

    def close(self) -> None:
        if self._open is not None:
            self._open.writer.transport.abort()
            self._open = None


class StepFailed(Exception):
    def __init__(self, reason: FailureReason, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


def throttled(r: Response) -> bool:
    """429, or 503 with Retry-After: the registry is up and asks its clients to come back later."""
    return r.status == 429 or (r.status == 503 and "retry-after" in r.headers)


def check_throttled(r: Response, what: str) -> None:
    """A throttled answer is a `throttled` failure (counted toward `throttled_fall`, not `fall`)."""
    if throttled(r):
        after = r.headers.get("retry-after", "")[:40]
        tail = f", Retry-After {after}" if after else ""
        raise StepFailed(FailureReason.THROTTLED, f"{what}: HTTP {r.status}{tail}", r.status)


_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(value: str) -> dict[str, str] | None:
    """The parameters of a `Bearer realm="...",service="..."` challenge, or None for another scheme."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = {k.lower(): v for k, v in _PARAM.findall(rest)}
    return params if "realm" in params else None


def _norm_host(host: str) -> str:
    name = host.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def same_host(a: str, b: str) -> bool:
    return _norm_host(a) == _norm_host(b)


def check_realm(realm: str, reg: RegistryProbeSpec, endpoint: EndpointSpec) -> SplitResult:
    """The realm's parts; a realm a token may not be asked at is refused (a `token-realm` failure),
    before anything is sent."""

    def refuse(why: str) -> StepFailed:
        return StepFailed(FailureReason.TOKEN_REALM, f"token realm refused: {why}; nothing was sent to it")

    try:
        parts = urlsplit(realm)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise refuse("the challenge's realm is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse("the challenge's realm is not an http(s) URL")
    full = _norm_host(parts.hostname)
    host = full[:100]  # the registry's word: shown, but not at any length
    if not same_host(full, endpoint.target) and full not in reg.token_hosts:
        raise refuse(
            f"{host} is neither the registry's host ({_norm_host(endpoint.target)}) "
            "nor in registry.token_hosts"
        )
    if parts.username is not None or parts.password is not None:
        raise refuse(f"the realm on {host} carries credentials")
    if parts.scheme == "http":
        if reg.auth == "azure":
            raise refuse(f"plain http to {host}: the Azure access token is sent over https only")
        if not reg.plain_http:
            raise refuse(f"plain http to {host} although the registry is https")
    if reg.auth == "azure" and parts.path != ACR_TOKEN_PATH:
        raise refuse(
            f"registry.auth azure expects ACR's realm https://{host}{ACR_TOKEN_PATH}, "
            f"not the path {parts.path[:80]!r}"
        )
    return parts


def _json(r: Response, what: str) -> dict[str, object]:
    try:
        doc = json.loads(r.body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise StepFailed(FailureReason.TOKEN_UNAVAILABLE, f"{what} answered without a JSON object", r.status)
    return doc


def _check_status(r: Response, what: str) -> None:
    check_throttled(r, what)
    if r.status in (401, 403):
        raise StepFailed(
            FailureReason.TOKEN_REFUSED, f"{what} refused the credentials (HTTP {r.status})", r.status
        )
    if not 200 <= r.status < 300:
        raise StepFailed(FailureReason.TOKEN_UNAVAILABLE, f"{what} answered HTTP {r.status}", r.status)


def json_field(r: Response, field: str, what: str) -> str:
    _check_status(r, what)
    value = _json(r, what).get(field)
    if not isinstance(value, str) or not value:
        raise StepFailed(FailureReason.TOKEN_UNAVAILABLE, f"{what} answered without {field}", r.status)
    return value


def token_from(r: Response, what: str) -> tuple[str, float]:
    _check_status(r, what)
    doc = _json(r, what)
    value = doc.get("token") or doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise StepFailed(FailureReason.TOKEN_UNAVAILABLE, f"{what} answered without a token", r.status)
    lifetime = doc.get("expires_in")
    return value, float(lifetime) if isinstance(
        lifetime, int | float
    ) and lifetime > 0 else DEFAULT_TOKEN_LIFETIME


def _tls(monitor: MonitorSpec) -> ssl.SSLContext:
    try:
        return client_context(monitor.verify_tls, monitor.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(getattr(exc, "strerror", None) or str(exc)) from exc


async def call(
    address: str,
    port: int,
    tls: bool,
    sni: str,
    monitor: MonitorSpec,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    progress: Progress,
    body: bytes | None = None,
    session: Session | None = None,
) -> Response:
    """One request on a fresh connection (or the session's); the response body read up to MAX_RESPONSE."""
    key = (address, port, tls, sni)
    reused = session.take(key) if session is not None else None
    if reused is not None:
        try:
            return await _exchange(reused, monitor, method, target, headers, progress, body, session)
        except (PeerClosed, ConnectionError, h11.RemoteProtocolError):
            if reused.conn.their_state is not h11.SEND_RESPONSE:
                raise  # the server had begun to answer: a real failure, not an idle connection closed
            # The server closed the idle connection before this request: once more on a fresh one.
    reader, writer = await open_stream(
        address, port, progress, tls=_tls(monitor) if tls else None, server_hostname=sni if tls else None
    )
    fresh = _Open(key, reader, writer, h11.Connection(h11.CLIENT))
    return await _exchange(fresh, monitor, method, target, headers, progress, body, session)


async def _exchange(
    opened: _Open,
    monitor: MonitorSpec,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    progress: Progress,
    body: bytes | None,
    session: Session | None,
) -> Response:
    reader, writer, conn = opened.reader, opened.writer, opened.conn
    keep = False
    try:
        names = {k.lower() for k, _ in headers}
        all_headers = [*headers] if session is not None else [*headers, ("Connection", "close")]
        if "user-agent" not in names:
            all_headers.append(("User-Agent", DEFAULT_USER_AGENT))
        if body is not None:
            all_headers.append(("Content-Length", str(len(body))))
        progress.phase = Phase.REQUEST
        data = conn.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
        writer.write((data or b"") + (conn.send(h11.EndOfMessage()) or b""))
        progress.phase = Phase.RESPONSE
        response: h11.Response | None = None
        content = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                chunk = await reader.read(16384)
                if not chunk and response is None:
                    raise PeerClosed(f"closed during {progress.phase}")
                conn.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                response = event
                progress.phase = Phase.BODY
            elif isinstance(event, h11.Data):
                content += event.data
                if len(content) > MAX_RESPONSE:
                    break
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        assert response is not None
        if session is not None and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            session.keep(opened)
            keep = True
        return Response(
            response.status_code,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers},
            bytes(content[:MAX_RESPONSE]),
        )
    finally:
        if not keep:
            writer.transport.abort()
