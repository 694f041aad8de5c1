"""dnsctl's own error types; library exceptions become these at the edge that calls the library.

One tree: every error dnsctl raises on purpose is a DnsctlError, and says whether trying again
later may succeed (`transient`). Only `dnsctl.cli.main` turns them into messages and exit codes.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass


class DnsctlError(Exception):
    """Base of every error dnsctl raises on purpose.

    `hint` says what to fix, when known (empty otherwise); `transient` whether trying again later may
    succeed. Both default per class and can be given per error.
    """

    transient: bool = False
    hint: str = ""

    def __init__(self, *args: object, hint: str = "", transient: bool | None = None) -> None:
        super().__init__(*args)
        if hint:
            self.hint = hint
        if transient is not None:
            self.transient = transient


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration problem: where it is, what is wrong, and where the value came from.

    `source` is `FILE:LINE` (or just `FILE`) for a value read from the file, or the name of the
    `DNSCTL_*` environment variable that set it; empty for problems with no source (a flag).
    """

    location: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        parts = [x for x in (self.source, self.location, self.message) if x]
        return ": ".join(parts)

    def __contains__(self, text: str) -> bool:
        """`"mirror.capabilities" in problem`: searches the line as printed."""
        return text in str(self)


class ConfigError(DnsctlError):
    """The configuration is invalid; `problems` lists every problem with its location and source."""

    def __init__(self, problems: Iterable[Problem | str]) -> None:
        self.problems: list[Problem] = [p if isinstance(p, Problem) else Problem("", p) for p in problems]
        super().__init__("; ".join(str(p) for p in self.problems))

    @property
    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class OperatorError(DnsctlError):
    """An operator request that names something that does not exist, or is not allowed now."""

    http_status = 404  # what the admin API answers


class NotReadyError(OperatorError):
    """An operator request that cannot be taken yet: the stored state has not been read."""

    transient = True
    http_status = 503


class OperatorConflict(OperatorError):
    """An operator request that does not apply to the profile as configured (a failback on `auto`)."""

    http_status = 409


class StandbyError(OperatorError):
    """An operator request sent to a standby replica: only the lease holder takes operator actions."""

    transient = True
    http_status = 503


class NotSavedError(OperatorError):
    """An operator action taken in this process whose state could not be saved: it is pending, and a
    restart before the next successful save would forget it."""

    transient = True
    http_status = 503


class OperatorActionFailed(OperatorError):
    """An operator request that was taken but did not succeed (a resync whose read or write failed)."""

    http_status = 502


class ListenError(DnsctlError):
    """A listen address could not be bound."""

    @classmethod
    def from_os_error(cls, address: object, exc: OSError) -> ListenError:
        """The same words for every listener (DNS and admin): `cannot listen on ADDR: address in use`."""
        if exc.errno == errno.EADDRINUSE:
            why = "address in use"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "no such local address"
        else:
            why = (exc.strerror or str(exc)).lower()
        return cls(f"cannot listen on {address}: {why}")


class UpstreamError(DnsctlError):
    """No upstream resolver answered."""

    transient = True


class TargetError(DnsctlError):
    """A DNS target could not be read or written. `hint` says what to fix, when known."""

    def __init__(
        self, message: str, *, hint: str = "", status: int | None = None, transient: bool | None = None
    ) -> None:
        self.status = status
        # Throttling, server errors and lost connections pass; a refusal or a bad request does not.
        if transient is None:
            transient = status is None or status == 429 or status >= 500
        super().__init__(message, hint=hint, transient=transient)


class LeaseError(DnsctlError):
    """A lease operation failed; `taken` means another replica holds the lease."""

    transient = True

    def __init__(
        self, message: str, *, taken: bool = False, hint: str = "", transient: bool | None = None
    ) -> None:
        self.taken = taken
        super().__init__(message, hint=hint, transient=transient)


class LeaseLapsedError(DnsctlError):
    """A write (or a wait before one) would not end while this replica surely holds the lease: not made."""

    transient = True


class StateError(DnsctlError):
    """Stored health state (a state file, record metadata) cannot be read or written."""


class LoopUnavailable(DnsctlError):
    """`--loop uvloop` was asked for on an install without uvloop."""


class InputError(DnsctlError):
    """A file given to a command (an import's input) that cannot be read as what it should be."""


class ExchangeError(DnsctlError):
    """The verdict exchange (a directory, Azure Blob Storage) cannot be written or read."""

    transient = True
