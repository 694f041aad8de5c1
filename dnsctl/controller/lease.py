"""Leadership: only the holder of the lease writes DNS. `NoLease` is the single-replica default."""

from __future__ import annotations

import math
import os
import socket
from typing import Protocol


class Lease(Protocol):
    kind: str
    identity: str
    renew_every: float  # seconds between renew attempts
    errors: int  # failed attempts so far (another replica holding the lease is not an error)
    last_error: str  # the current problem, empty while the lease works

    def trouble(self) -> str | None:
        """Set once this replica has been unable to hold the lease for long: it is then not ready."""
        ...

    @property
    def held(self) -> bool: ...

    def held_now(self) -> bool:
        """Held, and safely inside the lease: a holder that could not renew stops writing before expiry."""
        ...

    def write_window(self) -> float:
        """Seconds from now within which a write must end: until then no other replica can hold the
        lease (0 when it may already have; a `WriteGuard` for the target's writes)."""
        ...

    async def start(self) -> None: ...
    async def renew(self) -> bool: ...
    async def release(self) -> None: ...

    async def leader(self) -> str | None:
        """Who holds the lease (identity and admin address), as far as can be told; None if unknown."""
        ...


def identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class NoLease:
    kind = "none"
    renew_every = 30.0
    errors = 0
    last_error = ""

    def trouble(self) -> str | None:
        return None

    def __init__(self) -> None:
        self.identity = identity()

    @property
    def held(self) -> bool:
        return True

    def held_now(self) -> bool:
        return True

    def write_window(self) -> float:
        return math.inf

    async def start(self) -> None:
        return None

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None

    async def leader(self) -> str | None:
        return self.identity
