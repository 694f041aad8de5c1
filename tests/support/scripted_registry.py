"""A registry whose 401 challenge says whatever the test wants, and that is also its own token service.

    with ScriptedRegistry("127.0.0.61", tls=pki.server_context("registry.test")) as registry:
        registry.realm = lambda n: f"https://registry.test:{registry.port}/oauth2/token"   # n: 1, 2, ...
        registry.requests                 # every request seen: method, path, headers, body

Answers: ``GET /v2/`` 401 with ``Bearer realm="<realm(n)>",service="<service>"``; ``POST /oauth2/exchange``
a refresh token; ``POST /oauth2/token`` and any ``GET`` of another path an access token;
``HEAD /v2/<repository>/manifests/<reference>`` 200. The same class with the default realm serves as
a "foreign" host that only records what reaches it. A thread per connection; loopback only.

Switches (set at run time): ``throttle = 429`` answers every request 429 with ``Retry-After: 1``
(``throttle = 503`` the same with 503; ``throttle_retry_after = None`` leaves the header out);
``None`` serves again. ``keep_alive = True`` leaves connections open for the next request (``connections``
counts them); ``drop_idle = True`` then closes each one after its answer without saying so beforehand.

Images and blobs (the registry-deep probes): ``push("app", "1", *image("v1"))`` stores a manifest (then
``GET``/``HEAD /v2/app/manifests/1`` and by digest answer it; while no image is pushed every manifest
``HEAD`` is 200 as above) and its blobs; ``push(..., lag=600)`` keeps serving the tag's old manifest
(a replica that has not caught up) until ``catch_up()`` or the lag ends. ``GET .../blobs/<digest>``
answers the first bytes (206, honouring ``Range``), or with ``blob_redirect = lambda digest: url`` a 307
there, as ACR does to its data endpoint. The same class with ``blobs`` only is a data endpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback_http import LoopbackServer

MANIFEST_DIGEST = "sha256:" + "0" * 64
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_MANIFEST_PATH = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/?]+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(marker: str, layer_sizes: tuple[int, ...] = (300, 40)) -> tuple[bytes, dict[str, bytes]]:
    """(manifest, blobs by digest) of an OCI image whose layers have these sizes; deterministic."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "marker": marker}).encode()
    layers = [(f"{marker}/{i}:" * size).encode()[:size] for i, size in enumerate(layer_sizes)]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(b), "size": len(b)}
            for b in layers
        ],
    }
    return json.dumps(manifest).encode(), {digest_of(b): b for b in (config, *layers)}


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
        port: int = 0,
    ) -> None:
        super().__init__(host, port, tls=tls)
        self.service = service
        self.token_lifetime = token_lifetime
        self.throttle: int | None = None  # 429 or 503: every request answered so (see the docstring)
        self.keep_alive = False  # True: connections stay open for the client's next request
        self.drop_idle = False  # with keep_alive: closes each connection after its answer, unannounced
        self._connections = 0
        self.throttle_retry_after: str | None = "1"
        self.blobs: dict[str, bytes] = {}  # by digest
        self.blob_redirect: Callable[[str], str] | None = None  # digest -> Location of a 307
        self._images: dict[str, bytes] = {}  # "repo:tag" -> manifest, as served now
        self._by_digest: dict[str, bytes] = {}
        self._pending: dict[str, tuple[bytes, float]] = {}  # lagging pushes: manifest, visible at
        self.realm: Callable[[int], str] = lambda n: f"{self.scheme}://{host}:{self.port}/oauth2/token"
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._challenges = 0

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def push(
        self,
        repository: str,
        tag: str,
        manifest: bytes,
        blobs: Mapping[str, bytes] | None = None,
        *,
        lag: float = 0.0,
    ) -> str:
        """Store an image (its manifest's digest is returned); with `lag` the tag keeps its old manifest
        for that many seconds (or until `catch_up`)."""
        key = f"{repository}:{tag}"
        with self._lock:
            self.blobs.update(blobs or {})
            if lag > 0 and key in self._images:
                self._pending[key] = (manifest, time.monotonic() + lag)
            else:
                self._images[key] = manifest
                self._by_digest[digest_of(manifest)] = manifest
        return digest_of(manifest)

    def catch_up(self) -> None:
        """Every lagging push is served from now on (replication caught up)."""
        with self._lock:
            for key, (manifest, _) in self._pending.items():
                self._images[key] = manifest
                self._by_digest[digest_of(manifest)] = manifest
            self._pending.clear()

    def _manifest(self, repository: str, reference: str) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            for key, (manifest, at) in list(self._pending.items()):
                if now >= at:
                    self._images[key] = manifest
                    self._by_digest[digest_of(manifest)] = manifest
                    del self._pending[key]
            if reference.startswith("sha256:"):
                return self._by_digest.get(reference)
            return self._images.get(f"{repository}:{reference}")

    @property
    def serves_images(self) -> bool:
        with self._lock:
            return bool(self._images or self._pending)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def setup(self) -> None:
                with owner._lock:
                    owner._connections += 1
                super().setup()

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
                if not owner.keep_alive:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)
                self.close_connection = not owner.keep_alive or owner.drop_idle

            def _throttled(self) -> bool:
                status = owner.throttle
                if status is None:
                    return False
                after = owner.throttle_retry_after
                self._reply(
                    status, {"errors": [{"code": "TOOMANYREQUESTS"}]}, {"Retry-After": after} if after else {}
                )
                return True

            def _raw(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                if not owner.keep_alive:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(body)
                self.close_connection = not owner.keep_alive or owner.drop_idle

            def _image(self, path: str) -> bool:
                m = _MANIFEST_PATH.match(path.split("?", 1)[0])
                if m is None or not owner.serves_images:
                    return False
                manifest = owner._manifest(m["repo"], m["ref"])
                if manifest is None:
                    self._reply(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]}, {})
                else:
                    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest_of(manifest)}
                    self._raw(200, manifest, headers)
                return True

            def _blob(self, path: str) -> bool:
                if "/blobs/" not in path:
                    return False
                digest = path.split("?", 1)[0].rsplit("/", 1)[-1]
                if owner.blob_redirect is not None:
                    self._raw(307, b"", {"Location": owner.blob_redirect(digest)})
                    return True
                with owner._lock:
                    data = owner.blobs.get(digest)
                if data is None:
                    self._reply(404, {"errors": [{"code": "BLOB_UNKNOWN"}]}, {})
                    return True
                r = _RANGE.match(self.headers.get("Range", ""))
                if r is None:
                    self._raw(200, data, {"Content-Type": "application/octet-stream"})
                    return True
                first, last = int(r[1]), int(r[2]) if r[2] else len(data) - 1
                part = data[first : last + 1]
                span = f"bytes {first}-{first + len(part) - 1}/{len(data)}"
                self._raw(206, part, {"Content-Type": "application/octet-stream", "Content-Range": span})
                return True

            def _token(self) -> None:
                self._reply(200, {"token": "registry-token", "expires_in": owner.token_lifetime}, {})

            def do_GET(self) -> None:
                seen = self._seen()
                if self._throttled():
                    return
                if seen.path == "/v2/":
                    with owner._lock:
                        owner._challenges += 1
                        n = owner._challenges
                    challenge = f'Bearer realm="{owner.realm(n)}",service="{owner.service}"'
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
                elif self._image(seen.path) or self._blob(seen.path):
                    return
                else:
                    self._token()

            def do_HEAD(self) -> None:
                seen = self._seen()
                if self._throttled() or self._image(seen.path):
                    return
                if "/manifests/" in seen.path:
                    self._reply(200, None, {"Docker-Content-Digest": MANIFEST_DIGEST})
                else:
                    self._reply(404, None, {})

            def do_POST(self) -> None:
                seen = self._seen()
                if self._throttled():
                    return
                if seen.path == "/oauth2/exchange":
                    self._reply(200, {"refresh_token": "refresh-token"}, {})
                else:
                    self._token()

        return Handler
