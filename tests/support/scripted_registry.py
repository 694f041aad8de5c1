"""A registry whose 401 challenge says whatever the test wants, and that is also its own token service.

    with ScriptedRegistry("127.0.0.61", tls=pki.server_context("registry.test")) as registry:
        registry.realm = lambda n: f"https://registry.test:{registry.port}/oauth2/token"   # n: 1, 2, ...
        registry.requests                 # every request seen: method, path, headers, body

Answers: ``GET /v2/`` 401 with ``Bearer realm="<realm(n)>",service="<service>"``; ``POST /oauth2/exchange``
a refresh token; ``POST /oauth2/token`` and any ``GET`` of another path an access token;
``HEAD /v2/<repository>/manifests/<reference>`` 200. The same class with the default realm serves as
a "foreign" host that only records what reaches it. A thread per connection; loopback only.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback_http import LoopbackServer

MANIFEST_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def carries(self, secret: str) -> bool:
        text = self.path + " ".join(self.headers.values()) + self.body.decode("latin-1")
        return secret in text


class ScriptedRegistry(LoopbackServer):
    def __init__(
        self,
        host: str,
        *,
        tls: ssl.SSLContext | None = None,
        service: str = "registry.test",
        token_lifetime: int = 300,
    ) -> None:
        super().__init__(host, tls=tls)
        self.service = service
        self.token_lifetime = token_lifetime
        self.realm: Callable[[int], str] = lambda n: f"{self.scheme}://{host}:{self.port}/oauth2/token"
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._challenges = 0

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _seen(self) -> Seen:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with owner._lock:
                    owner._seen.append(seen)
                return seen

            def _reply(self, status: int, doc: dict[str, Any] | None, headers: dict[str, str]) -> None:
                body = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)
                self.close_connection = True

            def _token(self) -> None:
                self._reply(200, {"token": "registry-token", "expires_in": owner.token_lifetime}, {})

            def do_GET(self) -> None:
                seen = self._seen()
                if seen.path == "/v2/":
                    with owner._lock:
                        owner._challenges += 1
                        n = owner._challenges
                    challenge = f'Bearer realm="{owner.realm(n)}",service="{owner.service}"'
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
                else:
                    self._token()

            def do_HEAD(self) -> None:
                seen = self._seen()
                if "/manifests/" in seen.path:
                    self._reply(200, None, {"Docker-Content-Digest": MANIFEST_DIGEST})
                else:
                    self._reply(404, None, {})

            def do_POST(self) -> None:
                seen = self._seen()
                if seen.path == "/oauth2/exchange":
                    self._reply(200, {"refresh_token": "refresh-token"}, {})
                else:
                    self._token()

        return Handler
