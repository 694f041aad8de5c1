"""What one probe observed. Produced at the edge (probes), consumed by the pure health engine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    DNS = "dns"
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect-timeout"
    UNREACHABLE = "unreachable"  # the network said no route (ICMP unreachable)
    TLS = "tls"
    TIMEOUT = "timeout"  # connected (and TLS done for https), then no answer in time
    # Plain HTTP: the TCP handshake completed, then not one byte came back in time (a frozen process,
    # or a middlebox that completes handshakes on a dead path): nothing came back from the endpoint.
    NO_ANSWER = "no-answer"
    TLS_TIMEOUT = "tls-timeout"  # TCP connected, but the TLS handshake never completed
    HTTP_STATUS = "http-status"
    BODY_MISMATCH = "body-mismatch"
    RESET = "reset"
    # The registry probe: /v2/ answered, but a pull would still fail.
    TOKEN_UNAVAILABLE = "token-unavailable"  # the token endpoint is down or broken
    TOKEN_REFUSED = "token-refused"  # it, or the registry, refused the credentials or the token
    TOKEN_REALM = "token-realm"  # the challenge named a realm no token may be asked at: nothing sent
    MANIFEST_MISSING = "manifest-missing"
    # The data-path probe (`registry.blob`): the blob is not on the replica, or its data endpoint (the
    # redirect's target) refused the redirect, did not answer, or answered without the blob's bytes.
    BLOB_MISSING = "blob-missing"
    DATA_ENDPOINT = "data-endpoint"
    # The replica answered 429 (or 503 with Retry-After): up, but refusing its clients' pulls. Counted
    # toward `throttled_fall`, not `fall`; an answer, so never evidence of the controller's isolation.
    THROTTLED = "throttled"
    # A shared publication's "probe": a quorum of fresh vantages says the endpoint is down.
    QUORUM = "quorum"
    # Anything the probe could not classify; still a failed probe, never an exception.
    ERROR = "error"
    # This process, not the endpoint: out of file descriptors or buffers, or its event loop ran so late
    # that the timeout says nothing. Not a verdict on anyone: the probe counts as not made.
    LOCAL = "local"


# The failures in which nothing came back from the endpoint: its side of the path is unknown.
# A TCP handshake alone is not proof (a middlebox or a half-cut path completes it); a TLS handshake is.
UNANSWERED = frozenset(
    {
        FailureReason.CONNECT_TIMEOUT,
        FailureReason.UNREACHABLE,
        FailureReason.DNS,
        FailureReason.TLS_TIMEOUT,
        FailureReason.NO_ANSWER,
    }
)


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
    # The registry probe's `registry.watch`: (repository:tag, the digest this replica serves for it, or
    # "" when it answered that it has none). Empty when nothing is watched or the probe failed.
    digests: tuple[tuple[str, str], ...] = ()

    @property
    def says_nothing(self) -> bool:
        """A failure that tells nothing about the endpoint itself, only that no packet came back.

        Only these count as evidence of the controller's own isolation: any HTTP answer, a TLS
        handshake, a refusal or a reset proves the path to the endpoint works.
        """
        return not self.ok and self.reason in UNANSWERED

    @property
    def local(self) -> bool:
        """A probe this process failed to make (its own resources or lateness): no evidence either way."""
        return self.reason is FailureReason.LOCAL

    def describe(self) -> str:
        if self.ok:
            code = f"HTTP {self.status_code}, " if self.status_code is not None else ""
            return f"{code}{self.latency * 1000:.0f} ms"
        if self.reason is FailureReason.HTTP_STATUS and self.status_code is not None:
            return f"http-status {self.status_code}"
        return f"{self.reason}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """One look at an isolation canary: did anything come back from it?"""

    canary: str  # as configured: host:port or a URL
    connected: bool
    detail: str = ""
