"""What one probe observed. Produced at the edge (probes), consumed by the pure health engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect-timeout"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http-status"
    BODY_MISMATCH = "body-mismatch"
    RESET = "reset"
    # The registry probe: /v2/ answered, but a pull would still fail.
    TOKEN_UNAVAILABLE = "token-unavailable"  # the token endpoint is down or broken
    TOKEN_REFUSED = "token-refused"  # it, or the registry, refused the credentials or the token
    MANIFEST_MISSING = "manifest-missing"
    # Anything the probe could not classify; still a failed probe, never an exception.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    profile: str
    endpoint: str
    at: float  # wall-clock seconds when the probe started
    ok: bool
    latency: float  # seconds until the verdict
    address: str  # what was connected to: an IP from `addresses`, or the target name
    status_code: int | None = None
    reason: FailureReason | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.ok:
            code = f"HTTP {self.status_code}, " if self.status_code is not None else ""
            return f"{code}{self.latency * 1000:.0f} ms"
        if self.reason is FailureReason.HTTP_STATUS and self.status_code is not None:
            return f"http-status {self.status_code}"
        return f"{self.reason}" + (f": {self.detail}" if self.detail else "")
