"""A leader cut off from blob storage while a write of its is throttled never writes after the other
instance has taken over: two `dnsctl run` processes on one Azurite lease and one Azure emulator; A reaches
Azurite through a loopback proxy that the test cuts. Writes are told apart by the user agent each
instance sends (azure-core appends $AZURE_HTTP_USER_AGENT), in the emulator's request log."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from dnsctl.emulator.requestlog import LoggedRequest
from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.faults.conftest import emulator, replicas  # noqa: F401  (the same fixtures, shared)
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, target
from tests.ha.azurite import Azurite
from tests.ha.tcp_proxy import TcpProxy

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")
DURATION = 15  # the shortest lease Azure grants: renewed every 5 s, trusted for 10 s after each renewal
RETRY_AFTER = 30.0  # longer than a takeover takes (at most DURATION + a renew period after the cut)


class ProxyThread:
    """A `TcpProxy` on an event loop of its own, for a test that blocks while it waits."""

    def __init__(self, upstream_port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="proxy", daemon=True)
        self._proxy = TcpProxy("127.0.0.1", upstream_port)

    @property
    def port(self) -> int:
        return self._proxy.port

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._proxy.__aenter__(), self._loop).result(10)
        return self

    def cut(self) -> None:
        async def cut() -> None:
            self._proxy.cut()

        asyncio.run_coroutine_threadsafe(cut(), self._loop).result(10)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._proxy.__aexit__(None, None, None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def azurite_proxy(azurite: Azurite) -> Iterator[ProxyThread]:
    with ProxyThread(azurite.port) as proxy:
        yield proxy


def writes_by(emu: WatchedEmulator, instance: str) -> list[LoggedRequest]:
    return [
        r
        for r in emu.request_log()
        if r.kind == "write" and r.fault is None and instance in (r.user_agent or "")
    ]


def leadership(d: Daemon) -> dict[str, Any]:
    doc: dict[str, Any] = d.status()["leadership"]
    return doc


def test_a_leader_cut_off_during_a_throttled_write_never_writes_after_the_takeover(
    tmp_path: Path,
    emulator: WatchedEmulator,  # noqa: F811
    replicas: Replicas,  # noqa: F811
    azurite: Azurite,
    azurite_proxy: ProxyThread,
) -> None:
    container = f"lapsed-{time.monotonic_ns() % 10**9}"

    def start(instance: str, azurite_port: int) -> Daemon:
        admin_port = free_port()
        cfg = config(
            tmp_path / f"{instance}.yaml",
            emulator,
            [profile(NAME, replicas, fall=1)],
            admin={"listen": f"127.0.0.1:{admin_port}"},
            resync_interval="1s",
            ha={
                "lease": "azure-blob",
                "blob_url": f"http://127.0.0.1:{azurite_port}/devstoreaccount1/{container}/leader",
                "lease_duration": f"{DURATION}s",
            },
        )
        connection = azurite.connection_string.replace(f":{azurite.port}/", f":{azurite_port}/")
        env = {"DNSCTL_HA_CONNECTION_STRING": connection, "AZURE_HTTP_USER_AGENT": f"instance-{instance}"}
        return Daemon(
            "run", "-c", str(cfg), admin_port=admin_port, env=env, log=tmp_path / f"{instance}.log"
        ).start()

    a = start("a", azurite_proxy.port)
    try:
        a.wait_until(lambda: leadership(a)["held"], 30, "A to hold the lease")
        a.wait_until(lambda: cname(emulator, NAME) == EAST, 30, "A's first write")
        b = start("b", azurite.port)
        try:
            b.wait_until(lambda: b.get("/readyz").status_code == 200, 30, "B ready, as the standby")
            assert not leadership(b)["held"]

            # A's failover write is throttled with a long Retry-After; A is cut off from the lease at once.
            emulator.inject_throttle(1, retry_after=RETRY_AFTER, applies_to="write")
            replicas.set("eastus", "stopped")
            throttled = a.wait_until(
                lambda: [r for r in emulator.request_log() if r.fault == "throttle"],
                30,
                "the throttled write",
            )[0]
            azurite_proxy.cut()
            assert "instance-a" in (throttled.user_agent or "")

            b.wait_until(lambda: leadership(b)["held"], 4 * DURATION, "B to take the lease over")
            # B restored A's history with the record: eastus coming back is what B has to write.
            replicas.set("eastus", "healthy")
            b.wait_until(lambda: writes_by(emulator, "instance-b"), 30, "B's first write")
            assert not leadership(a)["writing"]
            # The throttled write would have been tried again RETRY_AFTER after its 429: wait past that.
            b.wait_until(
                lambda: time.monotonic() > throttled.at + RETRY_AFTER + 3,
                RETRY_AFTER + 10,
                "the time A's throttled write would have been retried",
            )
            assert cname(emulator, NAME) == EAST
        finally:
            b.kill()
    finally:
        a.kill()

    first_b = min(r.at for r in writes_by(emulator, "instance-b"))
    late = [(r.method, r.status, round(r.at - first_b, 1)) for r in writes_by(emulator, "instance-a")]
    assert all(at < 0 for _, _, at in late), f"A wrote after B's first write: {late}\n{a.log()[-3000:]}"
    assert "not written: this replica can no longer be sure it holds the lease" in a.log()
