"""One thread per UDP socket that reads every datagram: answers it has made before go out from here,
everything else goes to the event loop.

Why a thread: on the event loop a datagram costs a readiness round (epoll, a callback, and a failed
non-blocking read to end each batch); a thread blocked in recvfrom pays two system calls per answer, as a
C server does, and keeps answering while the loop is busy with forwarding work. The thread only reads
what the event loop replaces whole (the engine's replays and steering table, the client memo) and writes
its own counters (`AnswerCounts`); the rate limiter, which both threads use, is taken under `lock`.

The loop itself is native code (resolver/_replay.c) when that extension was built, which the default
install does: it answers replays without making a Python object per datagram, and hands every other
datagram to `UdpReader.datagram`, the code the Python loop runs for each one. Without the extension, or
with DNSCTL_PURE_PYTHON_READER=1 in the environment, the reader runs the Python loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from dnsctl.resolver.acl import ALLOWED
from dnsctl.resolver.engine import Resolver
from dnsctl.resolver.metrics import MEMORY_ANSWER_SAMPLE, AnswerCounts
from dnsctl.resolver.ratelimit import RateLimiter
from dnsctl.resolver.udp_limit import truncated_reply

try:
    from dnsctl.resolver import _replay
except ImportError:  # not built (no compiler at install time): the Python loop
    _replay = None  # type: ignore[assignment]

log = logging.getLogger("dnsctl.resolver")

# Set to 1 to run the Python loop even where the native one was built.
PURE_PYTHON_ENV = "DNSCTL_PURE_PYTHON_READER"

MAX_DATAGRAM = 65535
# Datagrams handed to the event loop and not yet taken, at most (in number, and in bytes: what the
# socket buffer itself would hold); past this the next one is dropped (the client retries) rather than
# queued without bound while the loop is busy.
MAX_HANDED = 4096
MAX_HANDED_BYTES = 4 * 1024 * 1024
_SAMPLE_MASK = MEMORY_ANSWER_SAMPLE - 1
# A reader woken by a datagram while the event loop runs Python code waits for the GIL until the loop
# lets it go, at the latest after the interpreter's switch interval (5 ms by default): under a flood of
# forwarded names that wait is what answers from memory lose. A shorter interval bounds it; the extra
# switches it costs when both threads are busy are a small share of a millisecond of work. The interval
# is the whole process's: `dnsctl serve` (whose process is the resolver's) sets it, never a reader.
SWITCH_INTERVAL = 0.0002


def shorten_switch_interval() -> None:
    """Lower the process's switch interval to SWITCH_INTERVAL (never raise it). For the process that is
    the resolver's (`dnsctl serve`, the bench's runner): it changes every thread of the process."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


# A replay that never expires (an answer from local data) has exactly this `until`: no clock read for it.
_NEVER = math.inf


def reader_kind() -> str:
    """The loop a reader made now runs: "native" or "python"."""
    if _replay is None or os.environ.get(PURE_PYTHON_ENV) == "1":
        return "python"
    return "native"


def reader_note(kind: str) -> str:
    """`kind` and why, for the log line at start."""
    if kind == "native":
        return "native (answers from memory in C)"
    if _replay is None:
        return "python (the native loop was not built)"
    return f"python ({PURE_PYTHON_ENV}=1)"


# What the event loop does with a datagram: (data, addr, when received by `clock`, `clock` at
# receipt when this one is timed, else 0.0).
Handler = Callable[[bytes, Any, float, float], None]


class UdpReader:
    """Reads `sock` (blocking) in a thread of its own until `stop`."""

    def __init__(
        self,
        sock: socket.socket,
        engine: Resolver,
        counts: AnswerCounts,
        loop: asyncio.AbstractEventLoop,
        handler: Handler,
        limiter: RateLimiter | None,
        lock: threading.Lock,
        on_rate_limited: Callable[[], None],
    ) -> None:
        self.sock = sock
        self.engine = engine
        self.counts = counts
        self.loop = loop
        self.handler = handler
        self.limiter = limiter
        self.lock = lock
        self.on_rate_limited = on_rate_limited
        # Each counter is written by one thread only: the reader hands, the event loop takes.
        self.handed = 0
        self.handed_bytes = 0
        self.taken = 0
        self.taken_bytes = 0
        self.stopping = False
        self.kind = reader_kind()
        # Bound once for `datagram`: none of these objects is replaced (what is, is read through them).
        self._steering = engine.steering
        self._verdict = engine.policy.memo.get
        self._clock = engine.clock.monotonic
        self.thread = threading.Thread(target=self._run, name="dnsctl-udp", daemon=True)

    def start(self) -> None:
        self.sock.setblocking(True)
        self.thread.start()

    def stop(self) -> None:
        """Make the thread return and wait for it (briefly: it is a daemon thread)."""
        self.stopping = True
        # shutdown() wakes a recvfrom blocked on this socket (Linux answers ENOTCONN, and wakes it all the
        # same); a datagram to itself does elsewhere.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(1)
        if self.thread.is_alive():
            self._poke()
            self.thread.join(1)

    def _poke(self) -> None:
        host, port = self.sock.getsockname()[:2]
        wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
        with (
            contextlib.suppress(OSError),
            socket.socket(self.sock.family, socket.SOCK_DGRAM) as poke,
        ):
            poke.sendto(b"", (wildcard.get(host, host), port))

    def take(self, data: bytes) -> None:
        """The event loop took this handed datagram."""
        self.taken += 1
        self.taken_bytes += len(data)

    def _run(self) -> None:
        read = self._read_native if self.kind == "native" else self._read
        while True:
            try:
                read()
                return
            except Exception:
                # A bug must not end UDP service while TCP goes on: say so, and read on.
                log.exception("UDP reader: unexpected error; reading on")

    def _read_native(self) -> None:
        """The loop in C (resolver/_replay.c): replays answered there, every other datagram `datagram`'s."""
        assert _replay is not None
        engine = self.engine
        _replay.serve(
            self.sock.fileno(),
            self,
            engine,
            self._steering,
            engine.policy.memo,
            ALLOWED,
            self._clock,
            self.counts.queries,
            self.counts,
            _SAMPLE_MASK,
            self.limiter is not None,
        )

    def _read(self) -> None:
        """The loop in Python: every datagram `datagram`'s."""
        recvfrom = self.sock.recvfrom
        datagram = self.datagram
        received = 0
        while True:
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except OSError:
                if self.stopping:
                    return
                continue  # an ICMP error for an earlier reply: nothing to do, as for any UDP reply
            if self.stopping:  # the first wake after `stop` ends the loop, even in a flood
                return
            if data:
                received += 1
            if datagram(data, addr, not received & _SAMPLE_MASK):
                return

    def datagram(self, data: bytes, addr: Any, timed: bool) -> bool:
        """What the reader does with one datagram (`timed`: one in MEMORY_ANSWER_SAMPLE non-empty ones is):
        answer it from a replay, or hand it to the event loop. True when the reader is to end."""
        if not data:  # what `stop` wakes this thread with (and never a query)
            if self.stopping:
                return True
            self.counts.dropped += 1
            return False
        clock = self._clock
        counts = self.counts
        started = clock() if timed else 0.0
        # Resolver.replay, inlined: a call per datagram costs a few percent of the answer. The clock
        # is read only when something needs it (a cached answer's expiry, the rate limit, a sample).
        replay = self.engine.replays.get(data[2:])
        if (
            replay is not None
            and replay.of is self._steering.rendered
            and self._verdict(addr[0]) is ALLOWED
            and (replay.until is _NEVER or clock() < replay.until)
        ):
            limiter = self.limiter
            if limiter is None:
                # Not contextlib.suppress: a context manager per answer costs more than the answer.
                try:  # noqa: SIM105
                    self.sock.sendto(data[:2] + replay.tail, addr)
                except OSError:
                    pass  # the client's address is unreachable: nothing to do, as for any UDP reply
            else:
                reply = self._limited(limiter, data[:2] + replay.tail, replay.bucket, addr[0], clock())
                if not reply:
                    return False
                try:  # noqa: SIM105
                    self.sock.sendto(reply, addr)
                except OSError:
                    pass
            counted = replay.counted
            queries = counts.queries
            queries[counted] = queries.get(counted, 0) + 1
            if replay.cached:
                counts.cache_hits += 1
            if started:
                counts.observe(clock() - started)
            return False
        if (
            self.handed - self.taken >= MAX_HANDED
            or self.handed_bytes - self.taken_bytes + len(data) > MAX_HANDED_BYTES
        ):
            counts.dropped += 1
            return False
        self.handed += 1
        self.handed_bytes += len(data)
        try:
            self.loop.call_soon_threadsafe(self.handler, data, addr, started or clock(), started)
        except RuntimeError:  # the event loop is closed: nobody is left to answer
            return True
        return False

    def _limited(self, limiter: RateLimiter, reply: bytes, bucket: bytes, host: str, now: float) -> bytes:
        """The reply as the rate limit lets it go: itself, truncated, or b"" (dropped). `bucket` is the
        replay's group, the one the event loop's `bucket_of` gives the same reply."""
        with self.lock:
            if limiter.allow(host, bucket, now):
                return reply
            self.on_rate_limited()
            slip = limiter.slip(host, bucket)
        return truncated_reply(reply) if slip else b""
