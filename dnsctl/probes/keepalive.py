"""Idle HTTP/1.1 connections kept between probes (the optional keep-alive mode)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field

import h11

from dnsctl.process.clock import Clock


@dataclass(slots=True, eq=False)
class HttpConnection:
    """One HTTP/1.1 client connection: the stream and h11's view of it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def abort(self) -> None:
        self.writer.transport.abort()


class KeepAlivePool:
    """At most `per_key` idle connections per (address, port, TLS settings), dropped after `max_idle`."""

    def __init__(self, *, clock: Clock, max_idle: float = 30.0, per_key: int = 2) -> None:
        self._clock = clock
        self._idle: dict[Hashable, list[HttpConnection]] = {}
        self._max_idle = max_idle
        self._per_key = per_key

    def take(self, key: Hashable) -> HttpConnection | None:
        idle = self._idle.get(key)
        now = self._clock.monotonic()
        while idle:
            conn = idle.pop()
            # A server that closed an idle connection has left EOF in the reader: not reusable.
            usable = (
                now - conn.idle_since < self._max_idle
                and not conn.writer.transport.is_closing()
                and not conn.reader.at_eof()
            )
            if usable:
                return conn
            conn.abort()
        return None

    def give(self, key: Hashable, conn: HttpConnection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._per_key:
            conn.abort()
            return
        conn.h11.start_next_cycle()
        conn.idle_since = self._clock.monotonic()
        idle.append(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()
