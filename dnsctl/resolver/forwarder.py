"""Forwarding to upstream resolvers: in order, with a timeout each, failover, and TCP on truncation.

Within an upstream's timeout a UDP query is sent again when no reply came (first after the upstream's
own round trip allows, resolver/rtt.py, then at doubling intervals: one lost datagram costs little more
than a round trip, not the timeout); when UDP has had
UDP_SHARE of the timeout without a reply, the rest of it goes to the same query over TCP. An upstream that
left DOWN_AFTER queries in a row unanswered is skipped, but for one query at a time (the probe).

UDP queries to an upstream share one connected socket (replies matched by ID and question, on the event
loop, no task or socket per query); the socket is replaced after SOCKET_USES queries, so the source port
still changes (RFC 5452) while a miss costs little more than the upstream's round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from struct import pack
from typing import cast

from dnsctl.core.model import HostPort
from dnsctl.errors import UpstreamError
from dnsctl.process.clock import Clock
from dnsctl.resolver.rtt import RoundTrip
from dnsctl.resolver.wire import CD, HEADER_LEN, NOERROR, NXDOMAIN, OUR_UDP_SIZE, QR, RD, TC, opt_record

log = logging.getLogger("dnsctl.resolver")

# An upstream that failed is tried after the healthy ones for this long, so one dead upstream does
# not cost every query a full timeout.
PENALTY_SECONDS = 30.0
# The share of an upstream's timeout spent on UDP before the query is asked over TCP instead.
UDP_SHARE = 0.5
# Queries sent on one UDP socket before the next ones go out on a new one (a new random source port).
# Small, because an off-path forger who learns the port has only the ID left to guess (RFC 5452);
# a new socket costs a few microseconds, so a miss still costs little more than the round trip.
SOCKET_USES = 64
# Queries asked over TCP at once after UDP had no reply; past this they fail like the UDP wait did.
TCP_FALLBACKS_IN_FLIGHT = 8
# An upstream whose last DOWN_AFTER queries all went unanswered (timeouts, refused or cut connections)
# is down: one query at a time still goes to it (the probe that notices it is back), the others skip it
# at once (the next upstream, else serve-stale or SERVFAIL without waiting), so a flood of names for a
# dead upstream costs no retransmissions, TCP connections or waits on the event loop.
DOWN_AFTER = 3


@dataclass(frozen=True, slots=True)
class UpstreamState:
    """One upstream as the forwarder sees it: up, or down since `since` (wall clock; for an upstream up,
    since it came back or the forwarder started), its queries unanswered in a row, queries that skipped it,
    and its round trip (which times the first retransmission of a query to it)."""

    upstream: str
    up: bool
    since: float
    unanswered: int
    skipped: int
    round_trip: RoundTrip
    first_retry: float  # seconds a UDP query to it waits for a reply before it is first sent again


def _upstream_query(ident: int, question: bytes, do: bool, cd: bool, size: int) -> bytes:
    flags = RD | (CD if cd else 0)
    return pack(">HHHHHH", ident, flags, 1, 0, 0, 1) + question + opt_record(do, size=size)


def _matches(reply: bytes, ident: int, question: bytes) -> bool:
    """Whether `reply` answers our `question` (lower-cased name + type + class): the name compared without
    regard to letter case, the type and class bytes exactly (a lower-cased 0x41, HTTPS, is 0x61)."""
    name_end = HEADER_LEN + len(question) - 4
    return (
        len(reply) >= HEADER_LEN + len(question)
        and (reply[0] << 8 | reply[1]) == ident
        and bool(reply[2] & (QR >> 8))
        and reply[4:6] == b"\x00\x01"
        and reply[HEADER_LEN:name_end].lower() == question[:-4]
        and reply[name_end : name_end + 4] == question[-4:]
    )


class _Channel(asyncio.DatagramProtocol):
    """A connected UDP socket to one upstream; each reply goes to the query waiting with its ID."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[asyncio.Future[bytes], bytes]] = {}
        self.uses = 0
        self.retired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < HEADER_LEN:
            return
        entry = self.pending.get(data[0] << 8 | data[1])
        if entry is not None and not entry[0].done() and _matches(data, data[0] << 8 | data[1], entry[1]):
            entry[0].set_result(data)

    def error_received(self, exc: Exception) -> None:
        # The upstream refused (ICMP): every query waiting on it fails now rather than at the timeout.
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.retired = True
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(exc if exc is not None else OSError("upstream socket closed"))

    def release(self, ident: int) -> None:
        self.pending.pop(ident, None)
        if self.retired and not self.pending and self.transport is not None:
            self.transport.close()


class Forwarder:
    def __init__(
        self,
        upstreams: Sequence[HostPort],
        timeout: float,
        *,
        clock: Clock,
        failures: dict[str, int] | None = None,
    ) -> None:
        self.upstreams = tuple(upstreams)
        self.clock = clock
        self.timeout = timeout
        self._penalized_until = [0.0] * len(self.upstreams)
        self.failures: dict[str, int] = {} if failures is None else failures
        self.retransmits = 0  # UDP queries sent again for want of a reply
        self.tcp_fallbacks = 0  # queries asked over TCP after UDP had no reply
        self._channels: dict[HostPort, _Channel] = {}
        self._tcp_in_flight = 0
        # Per upstream: queries unanswered in a row (any reply resets it), and whether the one query
        # let through to it while it is down is in flight.
        self._unanswered = [0] * len(self.upstreams)
        self._probing = [False] * len(self.upstreams)
        self.skipped = 0  # queries that skipped an upstream because it was down
        self._skipped = [0] * len(self.upstreams)
        self._since = [clock.now()] * len(self.upstreams)  # when each last went down or came back
        self._round_trips = [RoundTrip()] * len(self.upstreams)  # from replies to queries sent once

    def _first_retry(self, index: int) -> float:
        """Seconds before a UDP query to the upstream at `index` is first sent again: as its round trip
        allows, and at most a quarter of the timeout."""
        return min(self._round_trips[index].first_retry(), self.timeout / 4)

    def down(self, index: int) -> bool:
        """Whether the upstream at `index` is down (its last DOWN_AFTER queries went unanswered)."""
        return self._unanswered[index] >= DOWN_AFTER

    def states(self) -> list[UpstreamState]:
        """Every upstream's state, in the configured order."""
        return [
            UpstreamState(
                str(u),
                not self.down(i),
                self._since[i],
                self._unanswered[i],
                self._skipped[i],
                self._round_trips[i],
                self._first_retry(i),
            )
            for i, u in enumerate(self.upstreams)
        ]

    def _unanswered_by(self, index: int, problem: str) -> None:
        self._unanswered[index] += 1
        if self._unanswered[index] == DOWN_AFTER:
            self._since[index] = self.clock.now()
            log.warning(
                "upstream %s is down: %d queries in a row unanswered (last: %s); "
                "other queries skip it while one at a time still asks it",
                self.upstreams[index],
                DOWN_AFTER,
                problem,
            )

    def _answered_by(self, index: int) -> None:
        if self.down(index):
            now = self.clock.now()
            log.warning(
                "upstream %s is up again: it answered after %d queries unanswered (down for %.1f s)",
                self.upstreams[index],
                self._unanswered[index],
                now - self._since[index],
            )
            self._since[index] = now
        self._unanswered[index] = 0

    def _order(self) -> list[int]:
        now = self.clock.monotonic()
        indexes = range(len(self.upstreams))
        return sorted(indexes, key=lambda i: (self._penalized_until[i] > now, i))

    async def resolve(
        self, question: bytes, *, do: bool = False, cd: bool = False, size: int = OUR_UDP_SIZE
    ) -> bytes:
        """A NOERROR or NXDOMAIN reply for `question` (lower-cased name + type + class) from an upstream,
        asked with the DO and CD bits given and `size` as our EDNS buffer."""
        if not self.upstreams:
            raise UpstreamError("no upstream configured")
        problems: list[str] = []
        for index in self._order():
            upstream = self.upstreams[index]
            probe = self.down(index)
            if probe:
                if self._probing[index]:
                    self.skipped += 1
                    self._skipped[index] += 1
                    problems.append(f"{upstream}: down ({self._unanswered[index]} queries unanswered)")
                    continue
                self._probing[index] = True
            try:
                reply = await self._ask(index, question, _upstream_query(0, question, do, cd, size))
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                problem = f"{upstream}: {type(exc).__name__}"
                self._unanswered_by(index, type(exc).__name__)
            else:
                self._answered_by(index)
                rcode = reply[3] & 0xF
                if rcode in (NOERROR, NXDOMAIN):
                    self._penalized_until[index] = 0.0
                    return reply
                problem = f"{upstream}: rcode {rcode}"
            finally:
                if probe:
                    self._probing[index] = False
            problems.append(problem)
            self.failures[str(upstream)] = self.failures.get(str(upstream), 0) + 1
            self._penalized_until[index] = self.clock.monotonic() + PENALTY_SECONDS
        raise UpstreamError("; ".join(problems))

    async def _ask(self, index: int, question: bytes, template: bytes) -> bytes:
        upstream = self.upstreams[index]
        ident = secrets.randbits(16)
        query = pack(">H", ident) + template[2:]
        try:
            # Raises TimeoutError itself after UDP_SHARE of the timeout (its retransmission timer does).
            reply = await self._udp(index, query, ident, question, self.timeout * UDP_SHARE)
        except TimeoutError:
            # UDP keeps failing (datagrams lost or filtered on the way): the same query over TCP, but
            # only a few at once: a flood of misses to a dead upstream must not become a flood of
            # connections that starves the event loop (and with it every other answer).
            if self._tcp_in_flight >= TCP_FALLBACKS_IN_FLIGHT:
                raise
            self.tcp_fallbacks += 1
            self._tcp_in_flight += 1
            try:
                async with asyncio.timeout(self.timeout * (1 - UDP_SHARE)):
                    return await self._tcp(upstream, query, ident, question)
            finally:
                self._tcp_in_flight -= 1
        if reply[2] & (TC >> 8):
            async with asyncio.timeout(self.timeout * (1 - UDP_SHARE)):
                reply = await self._tcp(upstream, query, ident, question)
        return reply

    async def _channel(self, upstream: HostPort) -> _Channel:
        channel = self._channels.get(upstream)
        if channel is None or channel.retired:
            loop = asyncio.get_running_loop()
            family = socket.AF_INET6 if ":" in upstream.host else socket.AF_INET
            _, made = await loop.create_datagram_endpoint(
                _Channel, remote_addr=(upstream.host, upstream.port), family=family
            )
            channel = self._channels.get(upstream)
            if channel is None or channel.retired:
                channel = self._channels[upstream] = made
            elif made.transport is not None:  # another query made one meanwhile: that one is used
                made.transport.close()
        channel.uses += 1
        if channel.uses >= SOCKET_USES:
            # Its queries in flight finish on it; the next ones go out on a new socket (a new port).
            channel.retired = True
        return channel

    async def _udp(self, index: int, query: bytes, ident: int, question: bytes, budget: float) -> bytes:
        loop = asyncio.get_running_loop()
        channel = await self._channel(self.upstreams[index])
        transport = channel.transport
        assert transport is not None
        while ident in channel.pending:  # an ID already waiting on this socket: another one
            ident = secrets.randbits(16)
            query = pack(">H", ident) + query[2:]
        future: asyncio.Future[bytes] = loop.create_future()
        channel.pending[ident] = (future, question)
        interval = self._first_retry(index)
        # The budget is counted in the delays the timer was set for; the clock is read twice per query,
        # for its round trip.
        step = min(interval, budget)
        resent = False
        left = budget
        timer: asyncio.TimerHandle | None = None

        def again() -> None:
            # One timer per query: it sends the query again as it was (same ID, same port: a reply to
            # either copy is taken), at doubling intervals, and ends the wait when the budget is spent.
            nonlocal interval, timer, step, left, resent
            if future.done():
                return
            left -= step
            if left <= 0.001 or transport.is_closing():
                future.set_exception(TimeoutError())
                return
            transport.sendto(query)
            self.retransmits += 1
            resent = True
            interval *= 2
            step = min(interval, left)
            timer = loop.call_later(step, again)

        monotonic = self.clock.monotonic
        sent = monotonic()
        transport.sendto(query)
        timer = loop.call_later(step, again)
        try:
            reply = await future
            if not resent:  # Karn: a reply after a retransmission may answer either copy
                self._round_trips[index] = self._round_trips[index].observe(monotonic() - sent)
            return reply
        finally:
            if timer is not None:
                timer.cancel()
            channel.release(ident)

    def close(self) -> None:
        """Close the UDP sockets to the upstreams (queries still waiting on them fail)."""
        for channel in self._channels.values():
            channel.retired = True
            if channel.transport is not None:
                channel.transport.close()
        self._channels.clear()

    async def _tcp(self, upstream: HostPort, query: bytes, ident: int, question: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
        try:
            writer.write(pack(">H", len(query)) + query)
            await writer.drain()
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = await reader.readexactly(size)
                if _matches(reply, ident, question):
                    return reply
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
