"""Logging set-up: text or JSON lines, with secrets masked before anything is written.

Two layers mask: every configured secret (`dnsctl.process.secrets`), wherever and however it appears in a
record (message, arguments, exception text, traceback, stack, extra fields); and patterns that
carry an unknown secret (a bearer token, `key=...` in a URL, a JSON `"authorization"` field).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from dnsctl.process import secrets

_PATTERNS = [
    # A JSON Web Token (Azure access tokens, workload identity's federated token), wherever it appears.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "***"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1***"),
    (re.compile(r"(?i)((?:token|secret|password|sig|key|accountkey|sharedaccesskey)=)[^&;\s\"']+"), r"\1***"),
    (
        re.compile(
            r"(?i)(\"?(?:authorization|access_token|client_secret|password)\"?\s*[:=]\s*)"
            r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,}]+)"
        ),
        r'\1"***"',
    ),
]


def redact(text: str) -> str:
    """`text` without any known secret nor anything that reads like a credential assignment."""
    text = secrets.mask(text)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks secrets in the whole record, in place, before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record (nor show its arguments)
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters print exc_text when it is set, so the live exception is never formatted again.
            record.exc_text = redact(_format_exception(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD:
                setattr(record, name, _redact_value(value))
        return True


def _format_exception(exc_info: Any) -> str:
    text = "".join(traceback.format_exception(*exc_info))
    return text.removesuffix("\n")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            doc["audit"] = audit
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else "")
        if exception:
            doc["exception"] = redact(exception)
        if record.stack_info:
            doc["stack"] = redact(record.stack_info)
        return json.dumps(doc, default=str)


def setup(level: str = "info", fmt: str = "text") -> None:
    secrets.KNOWN.add(*secrets.from_environment())
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Azure SDK logs request headers at INFO; keep it quiet unless debugging.
    logging.getLogger("azure").setLevel(logging.WARNING if level.lower() != "debug" else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    _mask_uncaught()


def _mask_uncaught() -> None:
    """A traceback that escapes everything is printed without secrets too."""

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
