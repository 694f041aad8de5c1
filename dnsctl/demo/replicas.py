"""Registry-like replicas for the demo: plain HTTP on loopback, each switchable up and down at run time.

Every replica listens on its own loopback address (127.0.0.2, 127.0.0.3, ...) on one shared port, the
way regional registry replicas all listen on 443, so one profile (one monitor port) covers them all.
(Linux routes all of 127.0.0.0/8 to loopback; macOS needs `ifconfig lo0 alias 127.0.0.2` first.)

    GET  /v2/          401 with the registry headers when up (a live registry asking for auth), 503 when down
    POST /_demo/down   take this replica down        POST /_demo/up   bring it back
    GET  /_demo/state  {"name": "eastus", "up": true}

Run it alone with ``python -m dnsctl.demo.replicas --port 8080 eastus westeurope``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from dnsctl.core.model import EndpointSpec

_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"
_UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'
_UNAVAILABLE = b'{"errors":[{"code":"UNAVAILABLE","message":"replica is down (dnsctl demo)","detail":null}]}'
_MAX_HEAD = 16 * 1024


@dataclass(slots=True)
class Replica:
    """One demo replica; flip `up` (or POST /_demo/down) to make its probes fail."""

    name: str
    target: str  # the name it stands for, e.g. myregistry.eastus.geo.azurecr.io
    host: str  # the loopback address it listens on
    port: int
    up: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def answer(self, method: str, path: str, login_server: str) -> tuple[int, list[tuple[str, str]], bytes]:
        json_type = ("Content-Type", "application/json; charset=utf-8")
        if path.startswith("/_demo/"):
            action = path.removeprefix("/_demo/")
            if action not in ("up", "down", "state"):
                return 404, [], b""
            if action != "state":
                if method != "POST":
                    return 405, [], b""
                self.up = action == "up"
            elif method not in ("GET", "HEAD"):
                return 405, [], b""
            return 200, [json_type], json.dumps({"name": self.name, "up": self.up}).encode()
        if path != "/v2/":
            return 404, [], b""
        if not self.up:
            return 503, [json_type], _UNAVAILABLE
        auth = f'Bearer realm="https://{login_server}/oauth2/token",service="{login_server}"'
        headers = [json_type, ("Docker-Distribution-Api-Version", "registry/2.0"), ("Www-Authenticate", auth)]
        return 401, headers, _UNAUTHORIZED


class DemoReplicas:
    """Replicas named after regions, on consecutive loopback addresses and one port."""

    def __init__(
        self,
        names: Sequence[str] = ("eastus", "westeurope", "southeastasia"),
        *,
        registry: str = "myregistry",
        first_address: str = "127.0.0.2",
        port: int = 0,
    ) -> None:
        first = ipaddress.ip_address(first_address)
        self.login_server = f"{registry}.azurecr.io"
        self.port = port
        self._requested_port = port
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.StreamWriter] = set()
        self.replicas = [
            Replica(name, f"{registry}.{name}.geo.azurecr.io", str(first + i), port)
            for i, name in enumerate(names)
        ]

    async def start(self) -> Self:
        """Listen on every replica's address; with port 0, find a port free on all of them."""
        attempts = 1 if self._requested_port else 20
        for attempt in range(attempts):
            try:
                await self._listen_all(self._requested_port)
                break
            except OSError:
                await self.aclose()
                if attempt == attempts - 1:
                    raise
        return self

    async def _listen_all(self, port: int) -> None:
        for replica in self.replicas:
            server = await asyncio.start_server(self._handler(replica), replica.host, port)
            self._servers.append(server)
            port = server.sockets[0].getsockname()[1]  # the first bind picks it, the others follow
        self.port = port
        for replica in self.replicas:
            replica.port = port

    async def aclose(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        for writer in list(self._connections):
            writer.close()  # kept-alive clients would otherwise hold their handler open
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def replica(self, name: str) -> Replica:
        for replica in self.replicas:
            if replica.name == name:
                return replica
        raise KeyError(name)

    def set_up(self, name: str, up: bool) -> None:
        self.replica(name).up = up

    def endpoint_specs(self) -> tuple[EndpointSpec, ...]:
        """Endpoints for a demo profile: priority in the order given, probed at the replica's address."""
        return tuple(
            EndpointSpec(name=r.name, target=r.target, priority=i + 1, region=r.name, addresses=(r.host,))
            for i, r in enumerate(self.replicas)
        )

    def _handler(
        self, replica: Replica
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._connections.add(writer)
            try:
                await self._serve(replica, reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass  # a client that went away or spoke nonsense
            finally:
                self._connections.discard(writer)
                writer.close()

        return handle

    async def _serve(
        self, replica: Replica, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
            }
            with contextlib.suppress(ValueError):
                await reader.readexactly(int(headers.get("content-length", "0")))
            status, extra, body = replica.answer(method, path, self.login_server)
            close = headers.get("connection", "").lower() == "close"
            lines_out = [
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                *(f"{k}: {v}" for k, v in extra),
            ]
            lines_out += [f"Content-Length: {len(body)}", f"Connection: {'close' if close else 'keep-alive'}"]
            writer.write(
                ("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body)
            )
            await writer.drain()
            if close:
                return


async def _run(names: Sequence[str], port: int, first_address: str) -> None:
    async with DemoReplicas(names, port=port, first_address=first_address) as demo:
        for r in demo.replicas:
            print(f"{r.name:<16} {r.target:<42} {r.url}   (POST {r.url}/_demo/down | /_demo/up)", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dnsctl.demo.replicas", description="Demo registry replicas."
    )
    parser.add_argument("names", nargs="*", default=["eastus", "westeurope", "southeastasia"])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--first-address", default="127.0.0.2")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args.names, args.port, args.first_address))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
