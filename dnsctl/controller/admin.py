"""The admin HTTP server: /metrics /healthz /readyz /status, and the operator actions.

Reads are open on loopback; on any other address every call needs the bearer token from
DNSCTL_ADMIN_TOKEN, and every mutating call needs it everywhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dnsctl.core.model import HostPort

TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"
audit = logging.getLogger("dnsctl.audit")
log = logging.getLogger("dnsctl.admin")


class Operations(Protocol):
    registry: CollectorRegistry

    def alive(self) -> bool: ...
    def ready(self) -> tuple[bool, str]: ...
    def status(self) -> dict[str, Any]: ...
    async def drain(self, profile: str, endpoint: str) -> str: ...
    async def undrain(self, profile: str, endpoint: str) -> str: ...
    async def failback(self, profile: str) -> str: ...


class OperatorError(Exception):
    """An operator request that names something that does not exist, or is not allowed now."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class AdminServer:
    def __init__(self, ops: Operations, listen: HostPort, token: str | None = None) -> None:
        self.ops = ops
        self.listen = listen
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.open_reads = _is_loopback(listen.host)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        app.router.add_post("/v1/profiles/{profile}/endpoints/{endpoint}/drain", self._drain)
        app.router.add_post("/v1/profiles/{profile}/endpoints/{endpoint}/undrain", self._undrain)
        app.router.add_post("/v1/profiles/{profile}/failback", self._failback)
        return app

    async def start(self) -> None:
        if not self.open_reads and not self.token:
            raise OperatorError(
                f"admin.listen {self.listen} is not loopback: set {TOKEN_ENV} so the admin API is not open"
            )
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.listen.host, self.listen.port)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.listen.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        mutating = request.method not in ("GET", "HEAD")
        if mutating or not self.open_reads:
            if not self.token:
                return _json(
                    {"error": f"operator actions need {TOKEN_ENV} set on the server and the client"}, 403
                )
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return _json({"error": "missing or wrong bearer token"}, 401)
        result: web.StreamResponse = await handler(request)
        return result

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.ops.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n") if self.ops.alive() else web.Response(text="stalled\n", status=503)

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, why = self.ops.ready()
        return web.Response(
            text=f"{'ready' if ready else 'not ready'}: {why}\n", status=200 if ready else 503
        )

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self.ops.status())

    async def _drain(self, request: web.Request) -> web.Response:
        p, e = request.match_info["profile"], request.match_info["endpoint"]
        return await self._act("drain", f"{p}/{e}", self.ops.drain(p, e))

    async def _undrain(self, request: web.Request) -> web.Response:
        p, e = request.match_info["profile"], request.match_info["endpoint"]
        return await self._act("undrain", f"{p}/{e}", self.ops.undrain(p, e))

    async def _failback(self, request: web.Request) -> web.Response:
        p = request.match_info["profile"]
        return await self._act("failback", p, self.ops.failback(p))

    async def _act(self, action: str, subject: str, work: Any) -> web.Response:
        try:
            message = await work
        except OperatorError as e:
            return _json({"error": str(e)}, 404)
        audit.info(
            "operator action: %s %s: %s",
            action,
            subject,
            message,
            extra={"audit": {"operator_action": action, "subject": subject, "result": message}},
        )
        return _json({"ok": True, "message": message})


def _json(doc: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(doc, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=str)
