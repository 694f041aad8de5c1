"""HTTP(S) probe: one GET, judged by status code and optionally by the start of the body.

Each probe opens a fresh connection by default, because a kept-alive connection hides failures of new
connections (a dead listener, a broken TLS setup). The client is asyncio streams plus h11 (the HTTP/1.1
state machine under httpx): measured, it is several times cheaper per probe than a short-lived httpx
client or an httpcore connection (see bench/probe_fanout.py).
"""

from __future__ import annotations

import ssl

import h11

from dnsctl import __version__
from dnsctl.core.model import DEFAULT_PORTS, EndpointSpec, MonitorProtocol, MonitorSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes.base import ProbeVerdict, run_probe
from dnsctl.probes.connect import open_stream
from dnsctl.probes.failures import (
    InvalidRequest,
    PeerClosed,
    Phase,
    Progress,
    TlsSetupError,
)
from dnsctl.probes.keepalive import HttpConnection, KeepAlivePool
from dnsctl.probes.tls import client_context
from dnsctl.process.clock import Clock

BODY_LIMIT = 4096
DEFAULT_USER_AGENT = f"dnsctl/{__version__}"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def host_header(monitor: MonitorSpec, endpoint: EndpointSpec) -> str:
    """The Host header: the override, else the endpoint's target (with the port when not the default)."""
    if monitor.host:
        return monitor.host
    name = _bracketed(endpoint.target.rstrip("."))
    return name if DEFAULT_PORTS.get(monitor.protocol) == monitor.port else f"{name}:{monitor.port}"


def server_name(monitor: MonitorSpec, endpoint: EndpointSpec) -> str:
    """The TLS server name (SNI and certificate check): the override, else the endpoint's target."""
    return (monitor.sni or endpoint.target).rstrip(".")


def request_headers(
    monitor: MonitorSpec, endpoint: EndpointSpec, *, keepalive: bool
) -> list[tuple[str, str]]:
    headers = [("Host", host_header(monitor, endpoint))]
    names = {"host"}
    for name, value in monitor.headers:
        if name.lower() not in names:
            names.add(name.lower())
            headers.append((name, value))
    if "user-agent" not in names:
        headers.append(("User-Agent", DEFAULT_USER_AGENT))
    if not keepalive:
        headers.append(("Connection", "close"))
    return headers


async def _receive(conn: HttpConnection, progress: Progress) -> h11.Event:
    """The next h11 event, reading from the stream as needed; EOF mid-message is PeerClosed."""
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            data = await conn.reader.read(BODY_LIMIT)
            if not data:
                raise PeerClosed(f"closed during {progress.phase}")
            progress.heard = True
            conn.h11.receive_data(data)
            continue
        if event is h11.PAUSED:  # pragma: no cover - only after a complete response
            raise PeerClosed("connection paused")
        assert isinstance(event, h11.Event)
        return event


async def _read_body_start(conn: HttpConnection, progress: Progress) -> tuple[bytes, bool]:
    """Up to BODY_LIMIT bytes of the body, and whether the whole message fit in them."""
    progress.phase = Phase.BODY
    body = bytearray()
    while len(body) < BODY_LIMIT:
        try:
            event = await _receive(conn, progress)
        except PeerClosed:
            # A body delimited by the connection closing ends here (h11 then reports EndOfMessage);
            # a body cut short of its Content-Length makes h11 raise, which is a reset.
            conn.h11.receive_data(b"")
            try:
                event = await _receive(conn, progress)
            except h11.RemoteProtocolError as exc:
                raise PeerClosed(f"closed during {progress.phase}") from exc
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body[:BODY_LIMIT]), len(body) <= BODY_LIMIT
        else:  # pragma: no cover - h11 only yields Data/EndOfMessage in a body
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in body")
    return bytes(body[:BODY_LIMIT]), False


def _request(monitor: MonitorSpec, endpoint: EndpointSpec, *, keepalive: bool) -> h11.Request:
    try:
        return h11.Request(
            method="GET",
            target=monitor.path if monitor.path.startswith("/") else "/" + monitor.path,
            headers=request_headers(monitor, endpoint, keepalive=keepalive),
        )
    except (h11.LocalProtocolError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidRequest from exc


def _tls_context(monitor: MonitorSpec) -> ssl.SSLContext:
    try:
        return client_context(monitor.verify_tls, monitor.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        ) from exc


class HttpProber:
    """GET `{protocol}://{address or target}:{port}{path}` with Host and SNI kept on the target.

    With `keepalive=True` connections are reused between probes (for comparison and for very large
    fleets); a reused connection that turns out dead is retried once on a fresh one.
    """

    def __init__(self, *, clock: Clock, keepalive: bool = False, max_idle: float = 30.0) -> None:
        self._clock = clock  # latency is measured on it, idle connections expire on it
        self._pool = KeepAlivePool(clock=clock, max_idle=max_idle) if keepalive else None

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        monitor = profile.monitor

        async def check(address: str, progress: Progress) -> ProbeVerdict:
            return await self._check(monitor, endpoint, address, progress)

        return await run_probe(profile, endpoint, now, address, check, clock=self._clock)

    async def _check(
        self, monitor: MonitorSpec, endpoint: EndpointSpec, address: str, progress: Progress
    ) -> ProbeVerdict:
        https = monitor.protocol is MonitorProtocol.HTTPS
        sni = server_name(monitor, endpoint) if https else None
        key = (https, address, monitor.port, sni, monitor.verify_tls, monitor.ca_file)
        request = _request(monitor, endpoint, keepalive=self._pool is not None)
        if self._pool is not None and (conn := self._pool.take(key)) is not None:
            try:
                return await self._exchange(conn, request, monitor, progress, key)
            except ConnectionError:
                if conn.h11.their_state is not h11.SEND_RESPONSE or progress.phase is not Phase.RESPONSE:
                    raise
                # The idle connection was closed under us before any answer: not the endpoint's fault.
        tls = _tls_context(monitor) if https else None
        reader, writer = await open_stream(address, monitor.port, progress, tls=tls, server_hostname=sni)
        return await self._exchange(HttpConnection(reader, writer), request, monitor, progress, key)

    async def _exchange(
        self,
        conn: HttpConnection,
        request: h11.Request,
        monitor: MonitorSpec,
        progress: Progress,
        key: tuple[object, ...],
    ) -> ProbeVerdict:
        keep = False
        try:
            progress.phase = Phase.REQUEST
            conn.writer.write(conn.h11.send(request) + (conn.h11.send(h11.EndOfMessage()) or b""))
            progress.phase = Phase.RESPONSE
            event = await _receive(conn, progress)
            while isinstance(event, h11.InformationalResponse):
                event = await _receive(conn, progress)
            if not isinstance(event, h11.Response):  # pragma: no cover - h11 yields a response here
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")
            status = event.status_code
            if not monitor.accepts(status):
                return ProbeVerdict(status, FailureReason.HTTP_STATUS, f"HTTP {status}")
            if monitor.body_match is None and self._pool is None:
                return ProbeVerdict(status)
            body, complete = await _read_body_start(conn, progress)
            keep = complete and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE
            if monitor.body_match is not None and monitor.body_match.encode() not in body:
                return ProbeVerdict(
                    status, FailureReason.BODY_MISMATCH, "expected text not in the first 4 KiB"
                )
            return ProbeVerdict(status)
        finally:
            if keep and self._pool is not None:
                self._pool.give(key, conn)
            else:
                conn.abort()
