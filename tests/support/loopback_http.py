"""An HTTP server of the test process on a loopback address, served from its own thread.

The common part of the tests' small scripted servers (a registry that is its own token service, a
registry token server): start and stop, `with`, TLS, the port, and a `released` event that `stop` sets
so that a handler holding a request open (a "slow" or "hanging" server) lets go at once. A subclass
gives the request handler class.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self._port = port
        self._tls = tls
        self.released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def port(self) -> int:
        """The port asked for, or once started the one bound (listening from `start` on)."""
        return self._port

    def start(self) -> Self:
        self.released.clear()
        server = ThreadingHTTPServer((self.host, self._port), self.handler())
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
