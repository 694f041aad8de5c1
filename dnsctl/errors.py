"""dnsctl's own error types; library exceptions become these at the edge that calls the library."""

from __future__ import annotations


class DnsctlError(Exception):
    """Base of every error dnsctl raises on purpose."""


class ConfigError(DnsctlError):
    """The configuration is invalid; `problems` lists every problem with its location."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class TargetError(DnsctlError):
    """A DNS target could not be read or written. `hint` says what to fix, when known."""

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        self.hint = hint
        self.status = status
        super().__init__(message)
