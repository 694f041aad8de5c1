"""One client cannot starve the admin API: connections are capped per client address, and a few are kept
beyond the global cap for a client with none open, so /healthz and /readyz (the kubelet's probes) are
answered whatever one client does. Real sockets on loopback addresses."""

from __future__ import annotations

import asyncio

from dnsctl.controller.admin import AdminServer
from dnsctl.core.model import HostPort
from dnsctl.process.clock import SystemClock
from tests.admin.conftest import TOKEN, Admin, Controller, exchange, status_of

ATTACKER = "127.0.0.2"
SLOW_CONNECTIONS = 80  # more than the global cap of 64


def probe(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n".encode()


async def _trickle(port: int, source: str, stop: asyncio.Event, opened: list[int]) -> None:
    """One slowloris connection: a request line, then a header line now and then, never the end of the
    headers; when the server closes it (a timeout, a 503), it connects again."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened[0] += 1
        try:
            writer.write(b"GET /status HTTP/1.1\r\nHost: admin\r\n")
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(1024), 0.3)
                except TimeoutError:
                    writer.write(b"X-Slow: 1\r\n")
                    continue
                if not data:
                    break  # closed by the server: connect again
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()


async def _wait_for(check: object, what: str, limit: int = 600) -> None:
    assert callable(check)
    for _ in range(limit):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_slowloris_client_never_fails_the_probes_of_another() -> None:
    # The production limits; only the header timeout is shorter, so that the attacker also reconnects.
    server = AdminServer(
        Controller(), HostPort("127.0.0.1", 0), clock=SystemClock(), token=TOKEN, header_timeout=2.0
    )
    await server.start()
    assert server.port is not None
    stop = asyncio.Event()
    opened = [0]
    attack = [
        asyncio.create_task(_trickle(server.port, ATTACKER, stop, opened)) for _ in range(SLOW_CONNECTIONS)
    ]
    try:
        # Every trickling connection has been tried and the server has turned some away: it is saturated
        # as far as this one client can take it.
        await _wait_for(lambda: opened[0] >= SLOW_CONNECTIONS and server.busy_refusals > 0, "the attack")
        answers = []
        for i in range(40):
            answer = await exchange(server.port, probe("/healthz" if i % 2 else "/readyz"), wait=10)
            answers.append(status_of(answer))
            await asyncio.sleep(0.05)
        assert answers == [200] * 40
        assert not any(t.done() for t in attack)  # the attacker kept at it the whole time
    finally:
        stop.set()
        await asyncio.gather(*attack, return_exceptions=True)
        await server.stop()


async def _hold(port: int, source: str, count: int) -> list[asyncio.StreamWriter]:
    held = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        held.append(writer)
    return held


async def test_one_client_is_capped_and_another_still_gets_through(admin: Admin) -> None:
    server = admin.server
    held = await _hold(admin.port, ATTACKER, server.max_per_client)
    try:
        await _wait_for(lambda: server.per_client.get(ATTACKER) == server.max_per_client, "the held ones")
        assert server.connections < server.max_connections
        assert status_of(await _raw(admin.port, ATTACKER, probe("/healthz"))) == 503
        assert status_of(await exchange(admin.port, probe("/healthz"))) == 200
    finally:
        for w in held:
            w.transport.abort()


async def test_connections_past_the_caps_get_503_and_a_new_client_uses_the_reserve(admin: Admin) -> None:
    server = admin.server
    per, total = server.max_per_client, server.max_connections
    held: list[asyncio.StreamWriter] = []
    try:
        # Several clients, none past its own cap, fill the global cap.
        sources = [f"127.0.0.{10 + i}" for i in range(total // per)]
        for source in sources:
            held += await _hold(admin.port, source, per)
        await _wait_for(lambda: server.connections == total, "the global cap to fill")
        # One more from a client at its cap: refused.
        refused = await _raw(admin.port, sources[0], probe("/healthz"))
        assert status_of(refused) == 503
        # A client with none open gets through on a reserved slot (the kubelet's probe).
        assert status_of(await exchange(admin.port, probe("/healthz"))) == 200
        # The reserve is for clients with none open, and is bounded too.
        for i in range(server.reserved):
            held += await _hold(admin.port, f"127.0.0.{100 + i}", 1)
        await _wait_for(lambda: server.connections == total + server.reserved, "the reserve to fill")
        assert status_of(await exchange(admin.port, probe("/healthz"))) == 503
    finally:
        for w in held:
            w.transport.abort()
    await _wait_for(lambda: server.connections == 0 and not server.per_client, "every connection to close")
    assert status_of(await exchange(admin.port, probe("/healthz"))) == 200
    assert server.busy_refusals == 2


async def _raw(port: int, source: str, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    got = b""
    try:
        writer.write(raw)
        while chunk := await asyncio.wait_for(reader.read(65536), 5):
            got += chunk
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.transport.abort()
    return got
