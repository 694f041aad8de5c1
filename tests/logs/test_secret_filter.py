"""No configured secret reaches a log line: message, arguments, exception text, traceback, stack, extra
fields; text and JSON; whatever characters the secret holds; in process and in a real `dnsctl`."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dnsctl.process import logs, secrets
from dnsctl.process.logs import JsonFormatter, RedactingFilter
from tests.support.waits import OutputLog, run_process, wait_exit

# Quotes, a backslash, non-ASCII, shell and URL specials: each once broke a pattern-based mask.
TOKEN = 's3cr3t"to\\k$é!&=;~'
ACCOUNT_KEY = "bm90LWEtcmVhbC1rZXkvYnV0LWxvbmctZW5vdWdoKys="
CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};EndpointSuffix=core"
)
AZURE_TOKEN = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJtZ210In0.c2lnbmF0dXJl"


def leaks(text: str) -> list[str]:
    """Every form of a secret found in `text`: whole, escaped, encoded, or the part after its first odd
    character (a mask that stops there leaves it)."""
    found = []
    for secret in (TOKEN, ACCOUNT_KEY, CONNECTION_STRING, AZURE_TOKEN):
        forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")}
        forms.add(repr(secret.encode())[2:-1])
        forms.update({secret[3:], secret[-8:]})
        found += [f for f in forms if f in text]
    return found


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNSCTL_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("DNSCTL_HA_CONNECTION_STRING", CONNECTION_STRING)
    monkeypatch.setenv("DNSCTL_AZURE_TOKEN", AZURE_TOKEN)


@pytest.fixture(params=["text", "json"])
def logger(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    if request.param == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger(f"tests.secrets.{request.param}")
    log.propagate = False
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    yield log, stream
    log.handlers[:] = []


def _fail_with(value: object) -> None:
    raise ValueError(value)


def test_message_and_arguments(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    log.info("token is " + TOKEN)
    log.info("token %s, key %r, doc %s", TOKEN, ACCOUNT_KEY, json.dumps({"authorization": f"Bearer {TOKEN}"}))
    log.warning("bytes %r and url %s", TOKEN.encode(), f"https://x/?t={quote(TOKEN, safe='')}")
    log.error("connection string %s", CONNECTION_STRING)
    log.error("just the key: %s; a JWT: %s", ACCOUNT_KEY, AZURE_TOKEN)
    text = out.getvalue()
    assert leaks(text) == [] and text.count("***") >= 8
    assert len(text.splitlines()) == 5


def test_exceptions_and_tracebacks(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    for value in (TOKEN, {"headers": {"Authorization": f"Bearer {TOKEN}"}}, CONNECTION_STRING.encode()):
        try:
            _fail_with(value)
        except ValueError:
            log.exception("request failed")
    try:
        try:
            _fail_with(TOKEN)
        except ValueError as inner:
            raise RuntimeError(f"while handling {ACCOUNT_KEY}") from inner
    except RuntimeError:
        log.error("chained", exc_info=True)
    text = out.getvalue()
    assert "Traceback" in text and "_fail_with" in text  # the traceback is there, only masked
    assert leaks(text) == []


def test_stack_info_and_extra_fields(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    token = TOKEN  # noqa: F841 -- a local the stack does not show, but the message does
    log.info("with stack %s", TOKEN, stack_info=True)
    log.info("audited", extra={"audit": {"subject": TOKEN, "result": [ACCOUNT_KEY]}})
    assert leaks(out.getvalue()) == []


def test_a_format_error_loses_neither_the_record_nor_the_mask(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    log.info("two %s %s but one argument " + TOKEN, TOKEN)
    text = out.getvalue()
    assert "two" in text and leaks(text) == []


def test_a_secret_added_later_is_masked_too(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    late = "another-secret-é-value"
    secrets.KNOWN.add(late)
    log.info("late: %s", late)
    assert late not in out.getvalue() and "late: ***" in out.getvalue()


def test_setup_installs_the_filter_on_the_real_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for fmt in ("text", "json"):
            logs.setup("info", fmt)
            logging.getLogger("dnsctl.test").warning("token %s", TOKEN)
            try:
                _fail_with(TOKEN)
            except ValueError:
                logging.getLogger("aiohttp.server").exception("Error handling request")
        err = capsys.readouterr().err
        assert err.count("Error handling request") == 2 and leaks(err) == []
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        sys.excepthook = sys.__excepthook__
        threading.excepthook = threading.__excepthook__


# A real `dnsctl serve`: malformed admin requests that carry the token make the HTTP library log the
# offending bytes, in a traceback, at ERROR.
CONFIG = """\
profiles:
  - name: app
    fqdn: app.lab.internal
    monitor: {protocol: tcp, port: 9, interval: 10s, timeout: 1s}
    endpoints:
      - {name: a, target: a.lab.internal, priority: 1, addresses: [127.0.0.1]}
resolver:
  listen: ["127.0.0.1:0"]
admin:
  listen: 127.0.0.1:0
"""


def _requests(token: bytes) -> list[bytes]:
    return [
        b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\r\nNot A Header\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\x01\r\n\r\n",
        b"GET /st\x00atus?" + token + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/profiles/app/failback HTTP/1.1\r\nAuthorization: Bearer "
        + token
        + b"\r\nContent-Length: x\r\n\r\n",
    ]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_real_dnsctl_logs_no_token(tmp_path: Path, fmt: str) -> None:
    config = tmp_path / "dnsctl.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    log_path = tmp_path / "dnsctl.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    env.update(DNSCTL_ADMIN_TOKEN=TOKEN, DNSCTL_HA_CONNECTION_STRING=CONNECTION_STRING)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dnsctl", "--log-format", fmt, "serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    assert proc.stdout is not None
    output = OutputLog(proc.stdout, log_path)
    try:
        port = int(output.wait_for(r"admin on http://127\.0\.0\.1:(\d+)", 20, proc).group(1))
        for request in _requests(TOKEN.encode()):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request)
                assert s.recv(4096).split(b" ")[1] == b"400"
    finally:
        proc.send_signal(signal.SIGTERM)
        wait_exit(proc, 15)
        output.close()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, text
    assert leaks(text) == [], text


def test_an_uncaught_exception_is_printed_without_the_secret(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "import os",
            "from dnsctl.process import logs",
            "logs.setup()",
            "raise RuntimeError('failed with ' + os.environ['DNSCTL_ADMIN_TOKEN'])",
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")} | {"DNSCTL_ADMIN_TOKEN": TOKEN}
    done = run_process(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "RuntimeError: failed with ***" in done.stderr
    assert leaks(done.stderr) == []


def test_a_short_secret_is_masked_where_it_stands_alone_without_garbling_words() -> None:
    masker = secrets.SecretSet(["abc"])
    assert (
        masker.mask("Bearer abc, token=abc; abcdef and xabc stay")
        == "Bearer ***, token=***; abcdef and xabc stay"
    )
    long = secrets.SecretSet(["abcdefgh"])
    assert long.mask("xxabcdefghxx") == "xx***xx"  # a real secret is masked wherever it appears


def test_any_json_web_token_is_masked_even_if_not_configured(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    federated = "eyJraWQiOiJhYmMifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.U2lnbmF0dXJlT2ZUaGVUb2tlbg"
    log.warning("token exchange failed for assertion %s", federated)
    assert federated.split(".")[1] not in out.getvalue() and "assertion ***" in out.getvalue()
