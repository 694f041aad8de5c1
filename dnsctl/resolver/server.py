"""The embedded resolver's sockets: UDP and TCP on every listen address, driving the Resolver.

Each UDP socket is read by a thread of its own (resolver/udp_reader.py), which sends the answers it has
made before itself; the others are answered on the event loop, where only queries that need upstream
work become tasks. Port 53 needs root or CAP_NET_BIND_SERVICE
(`setcap cap_net_bind_service=+ep "$(readlink -f .venv/bin/python)"`, or `AmbientCapabilities=` in systemd).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from struct import pack
from typing import Any

from dnsctl.core.model import ResolverSpec
from dnsctl.process.clock import Clock
from dnsctl.resolver.engine import Resolver
from dnsctl.resolver.metrics import ResolverMetrics
from dnsctl.resolver.ratelimit import response_limiter
from dnsctl.resolver.sockets import MAX_PENDING, UdpSocket, bind_pair
from dnsctl.resolver.steering import SteeringTable
from dnsctl.resolver.udp_reader import reader_kind, reader_note
from dnsctl.resolver.wire import FORMERR, HEADER_LEN, NOTIMP, Query

log = logging.getLogger("dnsctl.resolver")

# Replies that say the frame was not a query we could answer: they do not keep a TCP connection open.
_REJECTED = frozenset((FORMERR, NOTIMP))


class _TcpConnection:
    """One client's TCP connection: when it last completed a valid query, and how many are in flight."""

    __slots__ = ("active", "host", "pending", "writer")

    def __init__(self, host: str, writer: asyncio.StreamWriter, now: float) -> None:
        self.host = host
        self.writer = writer
        self.active = now
        self.pending = 0

    def done(self, _: object) -> None:
        self.pending -= 1


class ResolverServer:
    """The resolver: `start` binds every listen address (UDP and TCP), `stop` releases them."""

    def __init__(
        self,
        spec: ResolverSpec,
        steering: SteeringTable,
        *,
        metrics: ResolverMetrics | None = None,
        clock: Clock,
    ) -> None:
        self.spec = spec
        self.steering = steering
        self.metrics = metrics if metrics is not None else ResolverMetrics()
        self.engine = Resolver(spec, steering, self.metrics, clock=clock)
        self.clock = clock
        # UDP responses are rate limited here, on their way out, whatever produced them.
        self.limiter = response_limiter(spec.rate_limit, spec.allow)
        self.engine.limited = self.limiter is not None
        self._bound: list[tuple[str, int]] = []
        # Sockets `bind` took and `start` has not served yet (UDP, TCP).
        self._waiting: list[tuple[socket.socket, socket.socket]] = []
        self._udp: list[UdpSocket] = []
        # The rate limiter is used by the event loop and the UDP reader threads alike.
        self.limiter_lock = threading.Lock()
        self._tcp_servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp: dict[asyncio.StreamWriter, _TcpConnection] = {}
        self._per_client: dict[str, int] = {}
        self.metrics.tcp_connections = self._tcp.__len__
        self._tcp_handlers: set[asyncio.Task[Any]] = set()

    @property
    def bound(self) -> list[tuple[str, int]]:
        """The (host, port) pairs listened on, UDP and TCP alike (port 0 resolved to the real port)."""
        return list(self._bound)

    @property
    def udp_reader(self) -> str:
        """The loop the UDP readers run: "native" or "python" (resolver/udp_reader.py)."""
        return self._udp[0].reader.kind if self._udp else reader_kind()

    @property
    def tcp_connections(self) -> int:
        return len(self._tcp)

    def bind(self) -> list[tuple[str, int]]:
        """Take every listen address (UDP and TCP) without answering yet, and return `bound`: a port in
        use fails here. What arrives before `start` waits in the sockets (datagrams in the receive
        buffer, connections in the listen backlog) and is answered once it runs."""
        if self._bound:
            return self.bound
        try:
            for listen in self.spec.listen:
                udp, tcp, port = bind_pair(listen.host, listen.port)
                self._waiting.append((udp, tcp))
                self._bound.append((listen.host, port))
        except BaseException:
            self._close_waiting()
            self._bound.clear()
            raise
        return self.bound

    async def start(self) -> None:
        """Bind (unless `bind` did) and answer on every listen address."""
        try:
            self.bind()
            while self._waiting:
                udp, tcp = self._waiting[0]
                side = UdpSocket(self, udp)
                self._udp.append(side)
                self._waiting.pop(0)
                side.reader.start()
                try:
                    self._tcp_servers.append(await asyncio.start_server(self._serve_tcp, sock=tcp))
                except BaseException:
                    tcp.close()
                    raise
        except BaseException:
            await self.stop()
            raise
        log.info("UDP reader loop: %s", reader_note(self.udp_reader))
        limiter = self.limiter
        if limiter is not None:
            rrl = self.spec.rate_limit
            over = {0: "every reply dropped", 1: "every reply truncated"}.get(
                rrl.slip, f"1 reply in {rrl.slip} truncated, the others dropped"
            )
            log.info(
                "UDP response rate limiting: %g per second per /%d (IPv4) or /%d (IPv6) client network "
                "and group (answers per name and type, NODATA per name, NXDOMAIN per zone, errors), "
                "burst %d; over the limit %s",
                limiter.rate,
                rrl.ipv4_prefix,
                rrl.ipv6_prefix,
                rrl.burst,
                over,
            )

    def count_rate_limited(self) -> None:
        """A reply over the rate limit (called with `limiter_lock` held)."""
        self.metrics.rate_limited += 1

    def _close_waiting(self) -> None:
        for udp, tcp in self._waiting:
            udp.close()
            tcp.close()
        self._waiting.clear()

    async def stop(self) -> None:
        self._close_waiting()
        for side in self._udp:
            side.close()  # the port is free once this returns
        for server in self._tcp_servers:
            server.close()
        for writer in list(self._tcp):
            writer.transport.abort()  # Python 3.11's Server.close() leaves open connections alone
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._tcp_handlers:
            # They end by themselves once their connection is aborted; cancelling them upsets asyncio.streams.
            await asyncio.wait(list(self._tcp_handlers), timeout=2)
        await self.engine.close()
        self._udp.clear()
        self._tcp_servers.clear()
        self._bound.clear()

    def spawn(self, work: Any) -> None:
        """Run upstream work for one query, unless too many are already waiting (then drop it)."""
        if len(self._tasks) >= MAX_PENDING:
            work.close()
            self.metrics.loop.dropped += 1
            return
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else ""
        refusal = self._admit(host)
        if refusal is not None:
            # Closed at once: a refused client never holds a slot (RFC 7766 lets a server limit them).
            self.metrics.tcp_refused[refusal] = self.metrics.tcp_refused.get(refusal, 0) + 1
            writer.transport.abort()
            return
        loop = asyncio.get_running_loop()
        conn = _TcpConnection(host, writer, self.clock.monotonic())
        self._tcp[writer] = conn
        self._per_client[host] = self._per_client.get(host, 0) + 1
        handler = asyncio.current_task()
        if handler is not None:
            self._tcp_handlers.add(handler)
        pending: set[asyncio.Task[None]] = set()
        idle = self.spec.tcp_idle_timeout
        try:
            # One budget for reading, handling and writing; only a complete, valid query renews it, so
            # trickled bytes, empty frames and garbage cannot keep a connection open.
            async with asyncio.timeout(idle) as budget:
                while True:
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    if size < HEADER_LEN:
                        self.metrics.loop.dropped += 1
                        break  # an empty or headerless frame: not a DNS client
                    data = await reader.readexactly(size)
                    try:
                        reply = self.engine.quick(data, host, False)
                    except Exception:
                        self.metrics.internal_errors += 1
                        break
                    if reply is None:
                        break  # dropped: a response or a packet without a question to answer
                    if isinstance(reply, bytes):
                        if reply[3] & 0xF not in _REJECTED:
                            conn.active = self.clock.monotonic()
                            budget.reschedule(loop.time() + idle)
                        writer.write(pack(">H", len(reply)) + reply)
                        await writer.drain()
                        continue
                    conn.active = self.clock.monotonic()
                    budget.reschedule(loop.time() + idle)  # asyncio's own deadline, on its loop
                    # Several queries per connection are answered as they complete (RFC 7766 6.2.1.1).
                    task = asyncio.ensure_future(self._answer_tcp(reply, writer))
                    pending.add(task)
                    conn.pending += 1
                    task.add_done_callback(pending.discard)
                    task.add_done_callback(conn.done)
                    self._tasks.add(task)  # so that stop() cancels it
                    task.add_done_callback(self._tasks.discard)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        try:
            if pending:
                await asyncio.wait(pending)
        finally:
            for task in pending:
                task.cancel()
            self._release(conn)
            if handler is not None:
                self._tcp_handlers.discard(handler)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _admit(self, host: str) -> str | None:
        """None to take the connection, else why it is refused. When the client holds its maximum, its own
        connection idle the longest (no query in flight) gives its slot up: a forwarding resolver that
        reconnects gets its new connection answered. When every slot is taken, the connection idle the
        longest of all does, as RFC 7766 suggests under pressure."""
        if not self.engine.policy.classify(host)[0]:
            return "not_allowed"
        if self._per_client.get(host, 0) >= self.spec.tcp_max_per_client:
            own = [c for c in self._tcp.values() if c.host == host and not c.pending]
            if not own:
                return "per_client_limit"
            self._evict(min(own, key=lambda c: c.active))
            return None
        if len(self._tcp) < self.spec.tcp_max_connections:
            return None
        idle = [c for c in self._tcp.values() if not c.pending]
        if not idle:
            return "server_full"
        self._evict(min(idle, key=lambda c: c.active))
        return None

    def _evict(self, conn: _TcpConnection) -> None:
        self._release(conn)
        conn.writer.transport.abort()
        self.metrics.tcp_evicted += 1

    def _release(self, conn: _TcpConnection) -> None:
        if self._tcp.pop(conn.writer, None) is None:
            return
        left = self._per_client.get(conn.host, 1) - 1
        if left > 0:
            self._per_client[conn.host] = left
        else:
            self._per_client.pop(conn.host, None)

    async def _answer_tcp(self, q: Query, writer: asyncio.StreamWriter) -> None:
        started = self.clock.monotonic()
        reply = await self.engine.answer(q, False)
        if not writer.is_closing():
            writer.write(pack(">H", len(reply)) + reply)
        self.metrics.observe(self.clock.monotonic() - started)
