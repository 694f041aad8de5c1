"""Classification of what went wrong, phase by phase (the cases a loopback server cannot produce)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import h11
import pytest

from dnsctl.core.results import UNANSWERED, FailureReason
from dnsctl.probes.failures import PeerClosed, Phase, TlsSetupError, classify

R = FailureReason


@pytest.mark.parametrize(
    ("exc", "phase", "reason"),
    [
        (TimeoutError(), Phase.RESOLVE, R.DNS),
        (TimeoutError(), Phase.CONNECT, R.CONNECT_TIMEOUT),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), Phase.CONNECT, R.CONNECT_TIMEOUT),
        (TimeoutError(), Phase.TLS, R.TLS_TIMEOUT),
        (TimeoutError(), Phase.RESPONSE, R.TIMEOUT),
        (TimeoutError(), Phase.BODY, R.TIMEOUT),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Phase.RESOLVE, R.DNS),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), Phase.RESOLVE, R.DNS),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), Phase.CONNECT, R.REFUSED),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Phase.CONNECT, R.UNREACHABLE),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Phase.CONNECT, R.UNREACHABLE),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), Phase.TLS, R.TLS),
        (ssl.SSLError(1, "wrong version number"), Phase.TLS, R.TLS),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), Phase.TLS, R.RESET),
        (TlsSetupError("No such file or directory"), Phase.RESOLVE, R.TLS),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), Phase.RESPONSE, R.RESET),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), Phase.REQUEST, R.RESET),
        (PeerClosed("closed"), Phase.RESPONSE, R.RESET),
        (asyncio.IncompleteReadError(b"", 10), Phase.BODY, R.RESET),
        (h11.RemoteProtocolError("illegal status line"), Phase.RESPONSE, R.ERROR),
        (OSError(errno.EMFILE, "Too many open files"), Phase.CONNECT, R.LOCAL),  # ours, not the endpoint's
        (OSError(errno.ENOBUFS, "No buffer space available"), Phase.CONNECT, R.LOCAL),
        (RuntimeError("surprise"), Phase.RESPONSE, R.ERROR),
    ],
)
def test_reason_by_exception_and_phase(exc: BaseException, phase: Phase, reason: FailureReason) -> None:
    got, detail = classify(exc, phase, 2.0)
    assert got is reason
    assert detail and len(detail) <= 160


def test_timeout_details_name_the_phase_and_the_limit() -> None:
    assert classify(TimeoutError(), Phase.CONNECT, 2.5)[1] == "no TCP connection within 2.5s"
    assert "TLS handshake" in classify(TimeoutError(), Phase.TLS, 2.5)[1]


def test_invalid_request_header_detail_does_not_quote_the_value() -> None:
    try:
        h11.Connection(h11.CLIENT).send(
            h11.Request(
                method="GET", target="/", headers=[("Host", "x"), ("Authorization", "Bearer s3cr3t\n")]
            )
        )
    except h11.LocalProtocolError as exc:
        assert "s3cr3t" in str(exc) or "s3cr3t" in repr(exc.args)  # h11 would leak it...
        reason, detail = classify(exc, Phase.REQUEST, 1.0)
        assert reason is R.ERROR and "s3cr3t" not in detail  # ...we do not
    else:
        pytest.fail("h11 accepted a header value with a newline")


@pytest.mark.parametrize("phase", [Phase.REQUEST, Phase.RESPONSE])
def test_a_timeout_after_a_bare_tcp_handshake_is_no_answer_which_says_nothing(phase: Phase) -> None:
    # Plain HTTP, connected, not one byte back: a frozen process's kernel completes handshakes too.
    assert classify(TimeoutError(), phase, 2.0, heard=False) == (
        R.NO_ANSWER,
        "connected, nothing came back within 2s",
    )
    assert R.NO_ANSWER in UNANSWERED
    # Once anything came back (a TLS handshake, a byte of the answer), a timeout is the endpoint's own.
    assert classify(TimeoutError(), phase, 2.0, heard=True)[0] is R.TIMEOUT
