"""The admin server against hostile clients: malformed and undecodable requests get 400 and one
rate-limited WARNING line that carries nothing they sent (the token above all), half-sent headers time
out, and the bearer scheme is case-insensitive (connection caps: test_admin_per_client.py)."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest

from tests.admin.conftest import TOKEN, Admin, exchange, status_of

T = TOKEN.encode()


def request(*headers: bytes, line: bytes = b"GET /status HTTP/1.1") -> bytes:
    return line + b"\r\nHost: admin\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def levels(log: str) -> list[str]:
    """The level of every line, from text (`date time LEVEL name: ...`) or JSON lines."""
    out = []
    for line in log.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line)["level"].upper())
        elif line.strip():
            out.append(line.split()[2])
    return out


# Requests that carry the token and are malformed in one way or another.
MALFORMED = {
    "control character after the token": request(b"Authorization: Bearer " + T + b"\x01"),
    "NUL in the token header": request(b"Authorization: Bearer " + T + b"\x00x"),
    "non-UTF-8 after the token": request(b"Authorization: Bearer " + T + b"\xff\xfe"),
    "non-UTF-8 in another header": request(b"Authorization: Bearer " + T, b"X-Note: caf\xe9"),
    "token in a header name": request(T + b": 1", b"Authorization: Bearer " + T),
    "header without a colon": request(b"Authorization Bearer " + T),
    "header line too long": request(b"Authorization: Bearer " + T + b"a" * 9000),
    "obsolete line folding": request(b"Authorization: Bearer", b" " + T),
    "token in a bad request line": b"GET /" + T + b" HTTP/9.9\r\nAuthorization: Bearer " + T + b"\r\n\r\n",
    "space in the path": request(line=b"GET /status " + T + b" HTTP/1.1"),
    "non-UTF-8 path": request(b"Authorization: Bearer " + T, line=b"GET /\xff" + T + b" HTTP/1.1"),
    "TLS on the HTTP port": b"\x16\x03\x01\x00\xa5" + T,
    "both framings": request(
        b"Authorization: Bearer " + T, b"Content-Length: 3", b"Transfer-Encoding: chunked"
    ),
    "bad chunk size": request(
        b"Authorization: Bearer " + T,
        b"Transfer-Encoding: chunked",
        line=b"POST /v1/profiles/p/failback HTTP/1.1",
    )
    + b"zz\r\n"
    + T,
    "duplicate Host": request(b"Host: other", b"Authorization: Bearer " + T),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_is_400_and_never_logs_the_token(
    admin: Admin, captured: io.StringIO, raw: bytes
) -> None:
    response = await exchange(admin.port, raw)
    assert status_of(response) == 400, response[:200]
    log = captured.getvalue()
    assert TOKEN not in log and TOKEN.encode().decode("latin-1") not in log
    assert "Traceback" not in log and levels(log) == ["WARNING"], log
    lines = [line for line in log.splitlines() if "malformed admin request" in line]
    assert len(lines) == 1, log
    assert "127.0.0.1" in lines[0] and ("WARNING" in lines[0] or '"level": "warning"' in lines[0])
    # The server is still there for a well-formed request.
    assert status_of(await exchange(admin.port, request(b"Connection: close"))) == 200


async def test_malformed_requests_are_reported_once_per_interval(admin: Admin, captured: io.StringIO) -> None:
    for raw in list(MALFORMED.values())[:6]:
        await exchange(admin.port, raw)
    assert captured.getvalue().count("malformed admin request") == 1
    admin.clock.advance(61)
    await exchange(admin.port, MALFORMED["header without a colon"])
    lines = [line for line in captured.getvalue().splitlines() if "malformed admin request" in line]
    assert len(lines) == 2 and "5 more since the last report" in lines[1], lines
    assert admin.server.malformed.total == 7


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_bearer_scheme_is_case_insensitive(admin: Admin, scheme: str) -> None:
    raw = request(
        b"Authorization: " + scheme.encode() + b" " + T,
        b"Connection: close",
        line=b"POST /v1/profiles/myregistry/endpoints/eastus/drain HTTP/1.1",
    )
    assert status_of(await exchange(admin.port, raw)) == 200
    assert admin.controller.drained == ["eastus"]


@pytest.mark.parametrize(
    "value", [b"Bearer wrong", b"Basic " + T, b"Bearer", b"Bearer " + T + b"x", b"Token " + T]
)
async def test_a_wrong_token_or_scheme_is_401(admin: Admin, value: bytes) -> None:
    raw = request(
        b"Authorization: " + value,
        b"Connection: close",
        line=b"POST /v1/profiles/myregistry/failback HTTP/1.1",
    )
    assert status_of(await exchange(admin.port, raw)) == 401


async def test_half_sent_headers_are_not_held_open(admin: Admin, captured: io.StringIO) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", admin.port)
    started = time.monotonic()
    writer.write(b"GET /status HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + T)
    closed = False
    try:
        # Trickle a byte now and then: it does not renew the deadline (0.5 s in this fixture).
        for _ in range(50):
            writer.write(b"x")
            if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                closed = True
                break
    except TimeoutError:
        pass
    except ConnectionError:
        closed = True
    for _ in range(30):
        if closed:
            break
        try:
            closed = await asyncio.wait_for(reader.read(1), 0.1) == b""
        except TimeoutError:
            continue
        except ConnectionError:
            closed = True
    writer.transport.abort()
    assert closed and time.monotonic() - started < 4
    assert TOKEN not in captured.getvalue()
