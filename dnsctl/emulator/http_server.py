"""The HTTP(S) plumbing: a stdlib threading server whose connections hand each request to a Backend.

Kept apart from the emulator's logic so it stays independent of any event loop and easy to replace.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

CONTROL_PREFIX = "/_emulator"
JSON_CONTENT = "application/json; charset=utf-8"


@dataclass(frozen=True)
class ArmRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # case-insensitive: the handler passes a view of the request headers
    body: bytes
    host: str


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # send nothing: reset the connection (TCP RST) instead


class Backend(Protocol):
    @property
    def base_url(self) -> str: ...

    def handle(self, request: ArmRequest) -> Reply: ...

    def handle_control(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply: ...


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # open keep-alive connections must not hold up stop()

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken or non-TLS clients are their own problem; keep the test output clean."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections end by themselves
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes; without this, Nagle and delayed ACKs add ~40 ms each
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request details go to the request log, which never holds headers with secrets."""

    def _serve(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        backend = self.server.backend
        if url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
            reply = backend.handle_control(self.command, url.path, query, body)
        else:
            host = self.headers.get("Host") or urlsplit(backend.base_url).netloc
            request = ArmRequest(self.command, url.path, query, _HeaderView(self.headers), body, host)
            reply = backend.handle(request)
        if reply.reset:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.request.close()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = do_HEAD = _serve


class _HeaderView(Mapping[str, str]):
    """Case-insensitive read access to the request headers."""

    def __init__(self, message: Any) -> None:
        self._message = message

    def __getitem__(self, key: str) -> str:
        value = self._message.get(key)
        if value is None:
            raise KeyError(key)
        return str(value)

    def __iter__(self) -> Any:
        return iter(self._message.keys())

    def __len__(self) -> int:
        return len(self._message.keys())
