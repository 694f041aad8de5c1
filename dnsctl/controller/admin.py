"""The admin HTTP server: /metrics /healthz /readyz /status, and the operator actions.

Reads are open on loopback; on any other address every call needs the bearer token from
DNSCTL_ADMIN_TOKEN, and every mutating call needs it everywhere.

Hostile clients: request headers must arrive within HEADER_TIMEOUT, at most MAX_CONNECTIONS are open at
once and at most MAX_PER_CLIENT from one client address, with RESERVED_CONNECTIONS more kept for
clients that have none open (so that a probe of /healthz or /readyz gets through whatever a few
clients do), and a malformed request is answered 400 and logged as one rate-limited WARNING line that carries
nothing the client sent (aiohttp's own report includes the offending header, token and all).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
from typing import Any, Protocol, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from dnsctl.controller.metrics import metrics_body
from dnsctl.core.model import HostPort
from dnsctl.documents.jsonable import JsonObject, to_object
from dnsctl.documents.status import StatusDoc
from dnsctl.errors import ListenError, OperatorError
from dnsctl.process import secrets
from dnsctl.process.clock import Clock

TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"
audit = logging.getLogger("dnsctl.audit")
log = logging.getLogger("dnsctl.admin")

# Seconds a client has to send a request's headers, from connecting or from the end of its last response.
HEADER_TIMEOUT = 10.0
# Open connections at once; past this a new one is answered 503 and closed.
MAX_CONNECTIONS = 64
# Open connections from one client address; past this its new ones are answered 503 and closed.
MAX_PER_CLIENT = 8
# Connections admitted past MAX_CONNECTIONS, only for a client with none open (a kubelet probe).
RESERVED_CONNECTIONS = 8
# At most one WARNING line about malformed requests per this many seconds (the rest are counted in it).
NOTICE_INTERVAL = 60.0
# Worded so that the log mask leaves it readable: no "bearer <word>", no "authorization:".
UNAUTHORIZED = (
    f"missing or rejected admin token: the client must send the value of {TOKEN_ENV} "
    "in the Authorization header"
)
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Operations(Protocol):
    registry: CollectorRegistry

    def alive(self) -> bool: ...
    def ready(self) -> tuple[bool, str]: ...
    def status(self) -> StatusDoc: ...
    async def drain(self, profile: str, endpoint: str) -> str: ...
    async def undrain(self, profile: str, endpoint: str) -> str: ...
    async def failback(self, profile: str) -> str: ...
    async def resync_now(self) -> str: ...


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _peer(value: object) -> str:
    """A client address fit for a log line (anything else aiohttp might pass becomes "?")."""
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return "?"


class MalformedRequests:
    """Reports malformed requests: the first at once, then at most one line per `interval` that counts
    the ones in between. Only the client's address and the kind of problem are ever written."""

    def __init__(self, clock: Clock, interval: float = NOTICE_INTERVAL) -> None:
        self.interval = interval
        self.clock = clock
        self.total = 0
        self._quiet_until: float | None = None
        self._suppressed = 0

    def report(self, peer: str, problem: str) -> None:
        self.total += 1
        now = self.clock.monotonic()
        if self._quiet_until is not None and now < self._quiet_until:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        log.warning("malformed admin request from %s answered 400: %s%s", peer, problem, more)
        self._suppressed = 0
        self._quiet_until = now + self.interval


class _ServerLog(logging.Logger):
    """Stands in for aiohttp's `aiohttp.server` logger (the documented `logger` argument of its request
    handler): parse errors become a MalformedRequests report, errors of our own handlers keep their
    traceback, and nothing of a request's content is written."""

    def __init__(self, malformed: MalformedRequests) -> None:
        super().__init__("dnsctl.admin.http")
        self.malformed = malformed

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        args = record.args if isinstance(record.args, tuple) else ()
        if isinstance(exc, HttpProcessingError):
            self.malformed.report(_peer(args[0] if args else None), _problem(exc))
        elif exc is not None:
            log.error("admin request failed: %s", type(exc).__name__, exc_info=record.exc_info)
        elif record.levelno >= logging.WARNING:
            log.log(record.levelno, "admin HTTP server: %s", record.msg)


def _problem(exc: HttpProcessingError) -> str:
    """The kind of parse error, without its message (which quotes the offending bytes)."""
    name = type(exc).__name__
    return {
        "BadHttpMethod": "not an HTTP request",
        "BadStatusLine": "bad request line",
        "LineTooLong": "line too long",
        "InvalidHeader": "invalid header",
        "BadHttpMessage": "invalid header or framing",
        "InvalidURLError": "invalid path",
    }.get(name, name)


def _client(transport: asyncio.BaseTransport) -> str:
    """The client's address (without port; for IPv6 its /64): what the per-client limit counts by."""
    peer = transport.get_extra_info("peername")
    host = peer[0] if isinstance(peer, tuple) and peer else ""
    try:
        address = ipaddress.ip_address(str(host).partition("%")[0])
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)  # the same client whether it came in over IPv4 or IPv6
        if not address.is_loopback:
            # One host holds a whole /64: counted by address, it could take every slot.
            return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _Counted(asyncio.Protocol):
    """One admin connection, admitted while its client has fewer than `max_per_client` open and fewer
    than `max_connections` are open in all (or, for a client with none open, fewer than that plus
    `reserved`); otherwise answered 503 and closed."""

    def __init__(self, server: AdminServer) -> None:
        self.server = server
        self.inner: asyncio.Protocol | None = None
        self.client = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self.server
        client = _client(transport)
        if not server.admits(client) or server._runner is None:
            server.busy_refusals += 1
            cast(asyncio.Transport, transport).write(_BUSY)
            transport.close()
            return
        self.client = client
        server.connections += 1
        server.per_client[client] = server.per_client.get(client, 0) + 1
        handler_factory = server._runner.server
        assert handler_factory is not None
        self.inner = handler_factory()
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            server = self.server
            server.connections -= 1
            left = server.per_client.get(self.client, 1) - 1
            if left > 0:
                server.per_client[self.client] = left
            else:
                server.per_client.pop(self.client, None)
            self.inner.connection_lost(exc)
            self.inner = None

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class AdminServer:
    def __init__(
        self,
        ops: Operations,
        listen: HostPort,
        token: str | None = None,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        max_per_client: int = MAX_PER_CLIENT,
        reserved: int = RESERVED_CONNECTIONS,
        clock: Clock,
        malformed: MalformedRequests | None = None,
    ) -> None:
        self.ops = ops
        self.listen = listen
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        secrets.KNOWN.add(self.token or "")  # masked in every log line
        self.open_reads = _is_loopback(listen.host)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.reserved = reserved
        self.per_client: dict[str, int] = {}  # open connections by client address
        self.malformed = malformed if malformed is not None else MalformedRequests(clock)
        self.connections = 0
        self.busy_refusals = 0
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.port: int | None = None

    def admits(self, client: str) -> bool:
        """Whether a new connection from `client` is taken (see `_Counted`)."""
        open_here = self.per_client.get(client, 0)
        if open_here >= self.max_per_client:
            return False
        if self.connections < self.max_connections:
            return True
        return open_here == 0 and self.connections < self.max_connections + self.reserved

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        app.router.add_post("/v1/profiles/{profile}/endpoints/{endpoint}/drain", self._drain)
        app.router.add_post("/v1/profiles/{profile}/endpoints/{endpoint}/undrain", self._undrain)
        app.router.add_post("/v1/profiles/{profile}/failback", self._failback)
        app.router.add_post("/v1/resync", self._resync)
        return app

    async def start(self) -> None:
        if not self.open_reads and not self.token:  # the configuration refuses it first; never open it anyway
            raise ListenError(
                f"admin.listen: {self.listen} is not loopback: set {TOKEN_ENV} so the admin API is not open"
            )
        # aiohttp's keep-alive timer runs from the moment a connection opens and is not renewed by a
        # request still arriving, so it is also the limit on how long headers may take.
        self._runner = web.AppRunner(
            self.app(),
            access_log=None,
            keepalive_timeout=self.header_timeout,
            logger=_ServerLog(self.malformed),
        )
        await self._runner.setup()
        try:
            # The listener is ours (aiohttp's low-level server is the protocol factory) so that
            # connections can be counted before aiohttp sees them.
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _Counted(self), self.listen.host, self.listen.port, reuse_address=True
            )
        except BaseException as e:
            await self._runner.cleanup()
            self._runner = None
            if isinstance(e, OSError):
                raise ListenError.from_os_error(self.listen, e) from None
            raise
        self.port = int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        problem = _undecodable(request)
        if problem is not None:
            self.malformed.report(_peer(request.remote), problem)
            return _json({"error": "malformed request: " + problem}, 400)
        mutating = request.method not in ("GET", "HEAD")
        if mutating or not self.open_reads:
            if not self.token:
                return _json(
                    {"error": f"operator actions need {TOKEN_ENV} set on the server and the client"}, 403
                )
            if not _bearer_matches(request.headers.get("Authorization", ""), self.token):
                return _json({"error": UNAUTHORIZED}, 401)
        result: web.StreamResponse = await handler(request)
        return result

    async def _metrics(self, request: web.Request) -> web.Response:
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        loop = asyncio.get_running_loop()  # in a thread: the event loop's DNS answers do not wait for it
        body, encoding = await loop.run_in_executor(None, metrics_body, self.ops.registry, gzipped)
        headers = {"Content-Type": CONTENT_TYPE_LATEST} | ({"Content-Encoding": encoding} if encoding else {})
        return web.Response(body=body, headers=headers)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n") if self.ops.alive() else web.Response(text="stalled\n", status=503)

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, why = self.ops.ready()
        return web.Response(
            text=f"{'ready' if ready else 'not ready'}: {why}\n", status=200 if ready else 503
        )

    async def _status(self, request: web.Request) -> web.Response:
        return _json(to_object(self.ops.status()))

    async def _drain(self, request: web.Request) -> web.Response:
        p, e = request.match_info["profile"], request.match_info["endpoint"]
        return await self._act("drain", f"{p}/{e}", self.ops.drain(p, e))

    async def _undrain(self, request: web.Request) -> web.Response:
        p, e = request.match_info["profile"], request.match_info["endpoint"]
        return await self._act("undrain", f"{p}/{e}", self.ops.undrain(p, e))

    async def _failback(self, request: web.Request) -> web.Response:
        p = request.match_info["profile"]
        return await self._act("failback", p, self.ops.failback(p))

    async def _resync(self, request: web.Request) -> web.Response:
        return await self._act("resync", "all profiles", self.ops.resync_now())

    async def _act(self, action: str, subject: str, work: Any) -> web.Response:
        try:
            message = await work
        except OperatorError as e:
            # Unknown names are 404, a request that does not apply is 409, one that may succeed later
            # (state not read yet) is 503.
            return _json({"error": str(e)}, e.http_status)
        audit.info(
            "operator action: %s %s: %s",
            action,
            subject,
            message,
            extra={"audit": {"operator_action": action, "subject": subject, "result": message}},
        )
        return _json({"ok": True, "message": message})


def _undecodable(request: web.Request) -> str | None:
    """What is not UTF-8 in the request line's path or the headers (aiohttp hands such bytes on as
    surrogates, which no handler can use), or None."""
    for name, value in request.raw_headers:
        try:
            name.decode()
            value.decode()
        except UnicodeDecodeError:
            return "a header is not UTF-8"
    try:
        request.raw_path.encode()
    except UnicodeEncodeError:
        return "the path is not UTF-8"
    return None


def _bearer_matches(header: str, token: str) -> bool:
    """RFC 9110 11.1: the scheme is case-insensitive; the token is compared in constant time."""
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _json(doc: JsonObject, status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=str)
