"""Turning what went wrong during a probe into a FailureReason and a short, secret-free detail."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

import h11

from dnsctl.core.results import FailureReason

_MAX_DETAIL = 160

# A router said there is no way to the address (ICMP unreachable): the network, not the endpoint.
_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})


# This process ran out of something (file descriptors, kernel buffers, memory): says nothing of the endpoint.
_LOCAL = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Phase(StrEnum):
    """How far a probe got; a timeout or reset means something different in each phase."""

    RESOLVE = "name resolution"
    CONNECT = "connect"
    TLS = "TLS handshake"
    REQUEST = "request"
    RESPONSE = "response"
    BODY = "response body"


@dataclass(slots=True)
class Progress:
    phase: Phase = Phase.RESOLVE
    # Something came back from the endpoint itself: a completed TLS handshake or a byte of the answer.
    # A TCP handshake alone does not count (a middlebox may complete it; a frozen process's kernel does).
    heard: bool = False


class PeerClosed(ConnectionError):
    """The peer closed the connection before the response was complete."""


class InvalidRequest(Exception):
    """The monitor's path, host or headers do not make a valid HTTP request."""


class TlsSetupError(Exception):
    """The client TLS context could not be built (the CA file is missing or unreadable)."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _ssl_reason(exc: ssl.SSLError, attribute: str) -> str:
    # OpenSSL fills these in; an SSLError raised elsewhere may not have them.
    return str(getattr(exc, attribute, None) or getattr(exc, "reason", None) or exc)


def _timed_out(phase: Phase, timeout: float, heard: bool) -> tuple[FailureReason, str]:
    within = f"within {timeout:g}s"
    if phase in (Phase.REQUEST, Phase.RESPONSE) and not heard:
        return FailureReason.NO_ANSWER, f"connected, nothing came back {within}"
    if phase is Phase.RESOLVE:
        return FailureReason.DNS, f"name resolution not answered {within}"
    if phase is Phase.CONNECT:
        return FailureReason.CONNECT_TIMEOUT, f"no TCP connection {within}"
    if phase is Phase.TLS:
        return FailureReason.TLS_TIMEOUT, f"connected, TLS handshake not completed {within}"
    if phase is Phase.BODY:
        return FailureReason.TIMEOUT, f"response body not received {within}"
    return FailureReason.TIMEOUT, f"connected, no response {within}"


def classify(
    exc: BaseException, phase: Phase, timeout: float, *, heard: bool = True
) -> tuple[FailureReason, str]:
    """Reason and detail for an exception raised while the probe was in `phase`.

    `heard`: whether anything came back from the endpoint before (see `Progress.heard`); a timeout
    after a bare TCP handshake is then `no-answer`, one of the failures that say nothing.
    """
    if isinstance(exc, OSError) and exc.errno in _LOCAL:
        return FailureReason.LOCAL, _short(f"{phase}: this process is out of resources ({exc.strerror})")
    if isinstance(exc, TimeoutError) or (isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT):
        return _timed_out(phase, timeout, heard)
    if isinstance(exc, TlsSetupError):
        return FailureReason.TLS, _short(f"cannot load the CA file: {exc}")
    if isinstance(exc, socket.gaierror):
        return FailureReason.DNS, _short(f"name does not resolve ({exc.strerror or exc})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FailureReason.TLS, _short(f"certificate rejected: {_ssl_reason(exc, 'verify_message')}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return FailureReason.RESET, f"connection closed by peer during {phase}"
    if isinstance(exc, ssl.SSLError):
        return FailureReason.TLS, _short(f"TLS error: {_ssl_reason(exc, 'reason')}")
    if isinstance(exc, ConnectionRefusedError):
        return FailureReason.REFUSED, "connection refused"
    if isinstance(exc, PeerClosed | asyncio.IncompleteReadError):
        return FailureReason.RESET, f"connection closed by peer during {phase}"
    if isinstance(exc, ConnectionError):  # reset, aborted, broken pipe
        return FailureReason.RESET, f"connection reset by peer during {phase}"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return FailureReason.UNREACHABLE, _short(f"unreachable: {exc.strerror}")
    if isinstance(exc, h11.RemoteProtocolError):
        return FailureReason.ERROR, _short(f"invalid HTTP response: {exc}")
    if isinstance(exc, InvalidRequest | h11.LocalProtocolError):
        # The underlying message quotes the offending value, which may be a credential.
        return FailureReason.ERROR, "invalid request: check the monitor's path, host and headers"
    if isinstance(exc, OSError):
        return FailureReason.ERROR, _short(f"{phase}: {exc.strerror or type(exc).__name__}")
    return FailureReason.ERROR, _short(f"{phase}: {type(exc).__name__}")
