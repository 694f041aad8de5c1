"""Registry-like HTTP(S) test servers on loopback, with a behaviour you can switch at run time.

In a test (sync or async; the server runs its own event loop in a thread)::

    pki = RegistryPki(tmp_path)                       # trustme: trusted CA, server certs, untrusted CA
    with RegistryServer("127.0.0.2", tls=pki.server_context()) as server:
        server.port                                   # ephemeral port, kept across stop/start
        server.set_behaviour("503")                   # healthy 503 slow reset stopped hang blackhole
        server.requests[-1].header("host")            # what the server saw, including the TLS SNI

As a separate process (``python -m tests.support.registry --host 127.0.0.3 --tls-pem server.pem``), driven
by `RegistryProcess`: it prints ``READY <host> <port>`` and then obeys one behaviour name per stdin line.

Paths (healthy): ``/v2/`` answers 401 with the registry headers (a live registry asking for auth, as ACR
does); ``/status/<code>`` answers that code (3xx with ``Location: /v2/``); ``/big`` answers 200 with
8 KiB of filler before the text ``MARKER-AFTER-4KIB``; anything else 404.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import trustme

from tests.support.waits import ACTIVITY, wait_exit

T = TypeVar("T")

DEFAULT_NAMES = (
    "myregistry.eastus.geo.azurecr.io",
    "myregistry.westeurope.geo.azurecr.io",
    "myregistry.southeastasia.geo.azurecr.io",
    "myregistry.azurecr.io",
    "localhost",
)
UNAUTHORIZED_BODY = (
    b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit '
    b'https://aka.ms/acr/authorization for more information.","detail":null}]}'
)
UNAVAILABLE_BODY = b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":null}]}'
BIG_MARKER = b"MARKER-AFTER-4KIB"
MAX_HEAD = 64 * 1024  # a request head larger than this is refused (431), so memory stays bounded
MAX_SEEN = 10_000  # `requests` keeps the most recent ones, so a long-running server stays small
_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 400: "Bad Request", 401: "Unauthorized"}
_REASONS |= {404: "Not Found", 431: "Request Header Fields Too Large"}
_REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}


class Behaviour(StrEnum):
    HEALTHY = "healthy"  # registry answers (see module docstring)
    UNAVAILABLE = "503"  # every request: 503
    SLOW = "slow"  # answers like healthy after `slow_delay` seconds
    RESET = "reset"  # reads the request (after TLS), then resets the connection (RST)
    STOPPED = "stopped"  # listening socket closed: connection refused
    HANG = "hang"  # accepts the TCP connection, then never says anything (not even TLS)
    BLACKHOLE = "blackhole"  # SYNs go unanswered (a full accept queue): a connect timeout, as if cut off


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in arrival order
    sni: str | None  # TLS server name the client sent; None for plain HTTP or no SNI
    connection: int  # sequence number of the TCP connection it came on (1, 2, ...)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


class RegistryPki:
    """trustme certificates: `ca_file` is the CA probes trust; contexts can be signed by an untrusted CA."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.untrusted_ca = trustme.CA()
        self.ca_file = str(self.directory / "registry-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def _leaf(self, names: tuple[str, ...], trusted: bool) -> trustme.LeafCert:
        return (self.ca if trusted else self.untrusted_ca).issue_cert(*(names or DEFAULT_NAMES))

    def server_context(self, *names: str, trusted: bool = True) -> ssl.SSLContext:
        """A server context with a certificate for `names` (default DEFAULT_NAMES)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf(names, trusted).configure_cert(ctx)
        return ctx

    def write_server_pem(self, path: Path | str, *names: str, trusted: bool = True) -> str:
        """Key and certificate chain in one PEM file (for `--tls-pem` of the subprocess)."""
        self._leaf(names, trusted).private_key_and_cert_chain_pem.write_to_path(str(path))
        return str(path)


# The SNI callback is set on the server's context and may be shared by servers: one table for all.
_sni_lock = threading.Lock()
_sni_seen: dict[int, str | None] = {}


def _remember_sni(ssl_object: Any, server_name: str | None, _ctx: ssl.SSLContext) -> None:
    with _sni_lock:
        _sni_seen[id(ssl_object)] = server_name


def _take_sni(ssl_object: object) -> str | None:
    with _sni_lock:
        return _sni_seen.pop(id(ssl_object), None)


def _response(status: int, body: bytes, headers: list[tuple[str, str]], close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(body)}", f"Connection: {'close' if close else 'keep-alive'}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RegistryServer:
    """A registry-like HTTP(S) server on `host`:`port` (0 = ephemeral), running in its own thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        name: str = "myregistry.azurecr.io",
        behaviour: Behaviour | str = Behaviour.HEALTHY,
        slow_delay: float = 5.0,
    ) -> None:
        self.host = host
        self.name = name
        self.slow_delay = slow_delay
        self._port = port
        self._tls = tls
        if tls is not None:
            tls.sni_callback = _remember_sni
        self._behaviour = Behaviour(behaviour)
        self._lock = threading.Condition()
        self._requests: deque[SeenRequest] = deque(maxlen=MAX_SEEN)
        self._connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._blackhole: list[socket.socket] = []

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"registry-{self.host}", daemon=True
        )
        self._thread.start()
        try:
            if self._behaviour is Behaviour.BLACKHOLE:
                if self._port == 0:
                    raise ValueError("a server that starts as a black hole needs an explicit port")
                self._open_blackhole()
            elif self._behaviour is not Behaviour.STOPPED:
                self._run(self._listen())
            elif self._port == 0:
                raise ValueError("a server that starts stopped needs an explicit port")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._run(self._close(listener=True, connections=True))
        self._close_blackhole()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what tests look at and change -------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self._tls is not None else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self._port}"

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    @property
    def requests(self) -> list[SeenRequest]:
        """The requests seen (the most recent MAX_SEEN), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._lock:
            return self._connections

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> int:
        """Wait (at most `timeout`) until `count` connections were accepted; returns the number seen."""
        with self._lock:
            self._lock.wait_for(lambda: self._connections >= count, timeout)
            return self._connections

    def set_behaviour(self, behaviour: Behaviour | str) -> None:
        """Switch behaviour; `stopped` closes the port and open connections, leaving it reopens the port."""
        new = Behaviour(behaviour)
        self.switch(self.flip(new), new)

    def flip(self, new: Behaviour) -> Behaviour:
        """The first, instant half of a switch (the old behaviour is returned): from here on a
        connection that reaches the old listener is answered as `new` would be, a black hole's by
        silence before the TLS handshake. Several servers flipped together are cut at one moment."""
        old, self._behaviour = self._behaviour, new
        return old

    def switch(self, old: Behaviour, new: Behaviour) -> None:
        """The second half: the listeners follow the flipped behaviour."""
        closed = (Behaviour.STOPPED, Behaviour.BLACKHOLE)
        if new is old:
            return
        # Entering or leaving a black hole, the new listener opens before the old one closes
        # (SO_REUSEPORT), so that no connection is refused in between: a refusal would prove the path works.
        if new is Behaviour.BLACKHOLE:
            self._open_blackhole()
        if old not in closed and new in closed:
            # A cut network does not reset connections already open: let those finish their answer.
            self._run(self._close(listener=True, connections=new is Behaviour.STOPPED))
        if old in closed and new not in closed:
            self._run(self._listen())
        if old is Behaviour.BLACKHOLE:
            self._close_blackhole()

    def clear(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._requests.clear()

    def _open_blackhole(self) -> None:
        """Listen without ever accepting, and fill the accept queue: further SYNs are dropped."""
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((self.host, self._port))
        listener.listen(0)
        self._blackhole = [listener]
        for _ in range(64):
            filler = socket.socket(listener.family)
            filler.setblocking(False)
            filler.connect_ex((self.host, self._port))
            self._blackhole.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.05)
            if not writable:
                return
        self._close_blackhole()
        raise RuntimeError("the accept queue never filled up")

    def _close_blackhole(self) -> None:
        for sock in self._blackhole:
            sock.close()
        self._blackhole = []

    # --- inside the server thread -------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, reuse_address=True, reuse_port=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _close(self, *, listener: bool, connections: bool) -> None:
        if listener and self._server is not None:
            self._server.close()
            self._server = None
        if connections:
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        with self._lock:
            self._connections += 1
            connection = self._connections
            self._lock.notify_all()
        ACTIVITY.bump()
        try:
            await self._serve(reader, writer, connection)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away or spoke nonsense, TLS failed, or the server is stopping
        finally:
            writer.transport.abort()
            self._handlers.discard(task)
            ACTIVITY.bump()  # the answer was taken (or the connection dropped): the prober has it now

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: int
    ) -> None:
        if self._behaviour in (Behaviour.HANG, Behaviour.BLACKHOLE):
            # A black hole's old listener, until it closes, is as silent as the new one.
            await asyncio.Event().wait()  # until the server stops
        sni = None
        if self._tls is not None:
            await writer.start_tls(self._tls)
            sni = _take_sni(writer.get_extra_info("ssl_object"))
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                if buffer[:1] == b"\x16":  # a TLS ClientHello on a plain port: answer like nginx does
                    writer.write(_response(400, b"plain HTTP port", [], close=True))
                    await writer.drain()
                    return
                if len(buffer) > MAX_HEAD:  # a client streaming something that is not HTTP
                    writer.write(_response(431, b"", [], close=True))
                    await writer.drain()
                    return
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            method, path, headers = _parse_head(head)
            length = int(dict(headers).get("content-length", "0") or 0)
            buffer = buffer[length:]  # requests to a registry probe carry no body worth reading
            with self._lock:
                self._requests.append(SeenRequest(method, path, headers, sni, connection))
            ACTIVITY.bump()  # a probe arrived: a test waiting on its prober re-checks
            behaviour = self._behaviour
            if behaviour is Behaviour.RESET:
                _reset(writer)
                return
            if behaviour in (Behaviour.HANG, Behaviour.BLACKHOLE):
                await asyncio.Event().wait()
            if behaviour is Behaviour.SLOW:
                await asyncio.sleep(self.slow_delay)
            close = dict(headers).get("connection", "").lower() == "close"
            writer.write(self._answer(behaviour, path, close))
            await writer.drain()
            if close:
                return

    def _answer(self, behaviour: Behaviour, path: str, close: bool) -> bytes:
        json = [("Content-Type", "application/json; charset=utf-8")]
        if behaviour is Behaviour.UNAVAILABLE:
            return _response(503, UNAVAILABLE_BODY, json, close)
        if path == "/v2/":
            auth = f'Bearer realm="https://{self.name}/oauth2/token",service="{self.name}"'
            headers = [*json, ("Docker-Distribution-Api-Version", "registry/2.0"), ("Www-Authenticate", auth)]
            return _response(401, UNAUTHORIZED_BODY, headers, close)
        if path.startswith("/status/") and path[8:].isdigit():
            status = int(path[8:])
            return _response(status, b"", [("Location", "/v2/")] if 300 <= status < 400 else [], close)
        if path == "/big":
            return _response(200, b"x" * 8192 + BIG_MARKER, [("Content-Type", "text/plain")], close)
        return _response(404, b"", [], close)


def _parse_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers = []
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers.append((name.strip().lower(), value.strip()))
    return method, path, tuple(headers)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST rather than a FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- as a subprocess ---------------------------------------------------------------------------------
_REPO_ROOT = Path(__file__).resolve().parents[2]


class RegistryProcess:
    """`RegistryServer` in a child process (`python -m tests.support.registry`), driven over stdin."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_pem: str | None = None,
        name: str = "myregistry.azurecr.io",
        behaviour: Behaviour | str = Behaviour.HEALTHY,
        slow_delay: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self._args = [
            *("--host", host, "--port", str(port), "--name", name),
            *("--behaviour", str(Behaviour(behaviour)), "--slow-delay", str(slow_delay)),
            *(("--tls-pem", tls_pem) if tls_pem else ()),
        ]
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")])),
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.registry", *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=_REPO_ROOT,
        )
        line = self._readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"registry process did not start: {line!r}")
        self.port = int(line.split()[2])
        return self

    @property
    def pid(self) -> int:
        """The child's process id (to freeze it with SIGSTOP, as a hung replica is)."""
        assert self._proc is not None
        return self._proc.pid

    def _readline(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        return self._proc.stdout.readline().strip()

    def set_behaviour(self, behaviour: Behaviour | str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(f"{Behaviour(behaviour)}\n")
        self._proc.stdin.flush()
        answer = self._readline()
        if answer != f"OK {Behaviour(behaviour)}":
            raise RuntimeError(f"registry process answered {answer!r}")

    def stop(self) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # EOF on stdin: the child stops its server and exits
        try:
            wait_exit(self._proc, 10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            wait_exit(self._proc, 5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.registry", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-pem", help="key + certificate chain PEM (RegistryPki.write_server_pem)")
    parser.add_argument("--name", default="myregistry.azurecr.io")
    parser.add_argument("--behaviour", default="healthy", choices=[b.value for b in Behaviour])
    parser.add_argument("--slow-delay", type=float, default=5.0)
    args = parser.parse_args(argv)
    tls = None
    if args.tls_pem:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_pem)
    server = RegistryServer(
        args.host, args.port, tls=tls, name=args.name, behaviour=args.behaviour, slow_delay=args.slow_delay
    )
    with server:
        print(f"READY {server.host} {server.port}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            try:
                server.set_behaviour(command)
            except ValueError:
                print(f"ERROR unknown behaviour {command!r}", flush=True)
                continue
            print(f"OK {server.behaviour}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
