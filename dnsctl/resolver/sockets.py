"""The resolver's sockets under `ResolverServer` (resolver/server.py): a UDP and a TCP socket bound on one
port (`bind_pair`), and the event loop's side of each UDP socket (`UdpSocket`), which answers what its
reader thread (resolver/udp_reader.py) hands over.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import TYPE_CHECKING, Any

from dnsctl.core.model import HostPort
from dnsctl.errors import ListenError
from dnsctl.resolver.ratelimit import bucket_of
from dnsctl.resolver.udp_limit import capped, truncated_reply
from dnsctl.resolver.udp_reader import UdpReader
from dnsctl.resolver.wire import Query

if TYPE_CHECKING:
    from dnsctl.resolver.server import ResolverServer

# Queries waiting on upstreams; past this, new ones are dropped (the clients retry) rather than queued.
# Small enough that a flood of names for a dead upstream costs little (each waits out the upstream
# timeout): what is answered from memory keeps its speed. dnsmasq keeps 150 (--dns-forward-max).
MAX_PENDING = 500
_SOCKET_BUFFER = 4 * 1024 * 1024
# A send from the event loop must never wait (the socket itself blocks, for its reader thread); where the
# flag does not exist (Windows) a full send buffer would make it wait.
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_BIND_ATTEMPTS = 20


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket, int]:
    """A UDP and a TCP socket on the same address and port (one ephemeral port for both when port is 0)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {HostPort(host, port)}: {exc}") from exc
    for _ in range(_BIND_ATTEMPTS):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            for sock in (udp, tcp):
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    udp.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)
            udp.bind(address)
            actual = udp.getsockname()[1]
            try:
                tcp.bind((address[0], actual, *address[2:]))
            except OSError as exc:
                if port == 0 and exc.errno == errno.EADDRINUSE:
                    udp.close()
                    tcp.close()
                    continue  # the ephemeral UDP port is taken for TCP: draw another
                raise
            tcp.listen(128)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp, actual
        except OSError as exc:
            udp.close()
            tcp.close()
            raise ListenError.from_os_error(HostPort(host, port), exc) from None
    raise ListenError(f"cannot find a free port for UDP and TCP on {host}")


class UdpSocket:
    """The event loop's side of one UDP socket: what its reader thread hands over (a datagram without a
    valid replay) is answered here, from memory or after upstream work."""

    def __init__(self, server: ResolverServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.engine = server.engine
        self.metrics = server.metrics
        self.limiter = server.limiter
        self.clock = server.clock
        self.open = True
        self.reader = UdpReader(
            sock,
            server.engine,
            server.metrics.reader(),
            asyncio.get_running_loop(),
            self.handle,
            server.limiter,
            server.limiter_lock,
            server.count_rate_limited,
        )

    def handle(self, data: bytes, addr: Any, now: float, started: float) -> None:
        """One datagram from the reader; `started` is set when this one is timed."""
        self.reader.take(data)
        if not self.open:
            return
        try:
            reply = self.engine.quick_udp(data, addr[0], now)
        except Exception:
            self.metrics.internal_errors += 1
            return
        if reply is None:
            return
        if type(reply) is bytes:
            bucket = None
            if self.limiter is not None:
                # The replay just made of this reply (if it was) knows its group already.
                replay = self.engine.replays.get(data[2:])
                if replay is not None and replay.tail == reply[2:]:
                    bucket = replay.bucket
            self._send(reply, addr, bucket)
            if started:
                self.metrics.observe(self.clock.monotonic() - started)
            return
        assert isinstance(reply, Query)
        # Answers from memory never wait for forwarding: past MAX_PENDING queries waiting on upstreams,
        # the next one is dropped here, before it costs a task (the client retries).
        server = self.server
        if len(server._tasks) >= MAX_PENDING:
            self.metrics.loop.dropped += 1
            return
        server.spawn(self._finish(reply, addr, started or self.clock.monotonic()))

    async def _finish(self, q: Query, addr: Any, started: float) -> None:
        reply = await self.engine.answer(q, True)
        if self.open:
            self._send(reply, addr)
        self.metrics.observe(self.clock.monotonic() - started)

    def _send(self, reply: bytes, addr: Any, bucket: bytes | None = None) -> None:
        """Send a reply within the rate limit (over it: truncated or dropped) and the UDP size limit;
        `bucket` is the reply's group when it is known already."""
        limiter = self.limiter
        if limiter is not None:
            if bucket is None:
                bucket = bucket_of(reply)
            with self.server.limiter_lock:
                over = not limiter.allow(addr[0], bucket, self.clock.monotonic())
                if over:
                    self.server.count_rate_limited()
                    if not limiter.slip(addr[0], bucket):
                        return
            if over:
                reply = truncated_reply(reply)
        reply = capped(reply)
        try:
            self.sock.sendto(reply, _DONTWAIT, addr)
        except BlockingIOError:
            self.metrics.loop.dropped += 1
        except OSError:
            pass  # the client's address is unreachable: nothing to do, as for any UDP reply

    def close(self) -> None:
        self.open = False
        self.reader.stop()
        self.sock.close()
