"""A loopback webhook receiver for notification tests: records every POST, answers as told.

Behaviours: "ok" (204), "500", or "hang" (holds the request open up to `hang_seconds`, then 204;
`stop` releases it at once). Thread-based, so both a test's own event loop and a real dnsctl process
can call it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.waits import ACTIVITY


@dataclass(frozen=True)
class Received:
    path: str  # with the query
    headers: dict[str, str]
    body: Any


class WebhookReceiver:
    def __init__(self, behaviour: str = "ok", hang_seconds: float = 30.0) -> None:
        self.behaviour = behaviour
        self.hang_seconds = hang_seconds
        self.received: list[Received] = []
        self.attempts = 0  # every request, answered or not
        self._lock = threading.Condition()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    behaviour = receiver.behaviour
                ACTIVITY.bump()
                if behaviour == "hang":
                    receiver._release.wait(receiver.hang_seconds)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers), json.loads(raw or b"null"))
                    )
                    receiver._lock.notify_all()
                ACTIVITY.bump()
                self.send_response(500 if behaviour == "500" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received]

    def wait_for(self, count: int, limit: float = 30.0) -> list[Any]:
        with self._lock:
            if self._lock.wait_for(lambda: len(self.received) >= count, timeout=limit):
                return [r.body for r in self.received]
        raise AssertionError(f"waited {limit}s for {count} webhook call(s); got {self.bodies()}")

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
