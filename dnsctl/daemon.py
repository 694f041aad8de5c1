"""Running `serve` and `run` until a signal: start, wait for SIGTERM/SIGINT, stop within a bound."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger("dnsctl")

STOP_TIMEOUT = 10.0


def install_uvloop() -> bool:
    """Use uvloop when installed (`pip install 'dnsctl-failover[fast]'`): the resolver answers faster."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def run_until_signal(
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    *,
    on_ready: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
        on_ready()
        await stopping.wait()
        log.info("stopping")
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop(), STOP_TIMEOUT)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
