"""What the emulator was asked: enough to count ARM reads and writes, never a header carrying a secret."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # as sent, e.g. `/.../privateDnsZones/z/aLL`
    query: dict[str, str]
    status: int
    kind: str  # "read" or "write"
    if_match: str | None
    if_none_match: str | None
    # "throttle", "error", "budget" when the answer came from the fault plan or the limiter; "reset" when
    # the request was applied and the connection reset instead of sending the answer (`status`)
    fault: str | None
    at: float  # monotonic seconds (dnsctl.process.clock) when the answer was sent
    user_agent: str | None = None  # tells clients apart (azure-core appends $AZURE_HTTP_USER_AGENT)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
