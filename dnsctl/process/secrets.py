"""The secrets dnsctl is given, and how to keep them out of every message and log line.

Secrets reach dnsctl only through the environment (never the file). Every value of a variable
below, and the key inside a storage connection string, is masked wherever it appears, in any
form a message may quote it in (as is, escaped by repr or JSON, or percent-encoded).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus

MASK = "***"

# The variables that hold a secret: dnsctl's own, and those the Azure SDK credentials read.
SECRET_ENV = (
    "DNSCTL_ADMIN_TOKEN",
    "DNSCTL_AZURE_TOKEN",
    "DNSCTL_HA_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
)

# Parts of a connection string that are secrets on their own.
_SECRET_PARTS = re.compile(r"(?i)(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=([^;&]+)")


def from_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name in SECRET_ENV:
        value = env.get(name)
        if value:
            found.extend(_with_parts(value))
    return found


def _with_parts(value: str) -> list[str]:
    parts = [value, value.strip()]
    parts.extend(m.group(1) for m in _SECRET_PARTS.finditer(value))
    return [p for p in parts if p]


def _forms(secret: str) -> set[str]:
    """The ways a message may quote `secret`: as is, escaped (repr of str and bytes, JSON), encoded."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
    raw = secret.encode("utf-8", "surrogateescape")
    forms.add(repr(raw)[2:-1])
    forms.add(raw.decode("latin-1"))  # bytes shown as if they were Latin-1 text
    return {f for f in forms if f}


# A secret this short is masked only where it stands alone: inside longer words it would garble every
# line, and it protects nothing there anyway.
SHORT = 8


def _alternative(form: str) -> str:
    if len(form) >= SHORT:
        return re.escape(form)
    return rf"(?<!\w){re.escape(form)}(?!\w)"


class SecretSet:
    """The known secrets, shared by everything that masks (the log filter, configuration messages)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {p for s in secrets if s for p in _with_parts(s)} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            forms = {f for s in self._secrets for f in _forms(s)}
            # Longest first, so a secret that contains another is masked whole.
            self._forms = tuple(sorted(forms, key=len, reverse=True))
            self._pattern = re.compile("|".join(_alternative(f) for f in self._forms))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)


# The secrets of this process; `dnsctl.process.logs.setup` fills it from the environment.
KNOWN = SecretSet()


def mask(text: str) -> str:
    """`text` with every known secret (and those of the environment now) masked."""
    KNOWN.add(*from_environment())
    return KNOWN.mask(text)


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
_ASSIGNED = re.compile(
    r"(?i)(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig|password|pwd|client_secret|secret|token)\s*="
)
_KEYLIKE = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_SECRET_NAME = re.compile(
    r"(?i)token|secret|password|passwd|credential|connection_string|api_?key|account_?key|sas"
)


def looks_like_credential(value: object) -> bool:
    """True for text that reads like a token, key or connection string (so a message must not quote it)."""
    if not isinstance(value, str | bytes):
        return False
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if text.lower().lstrip().startswith("bearer ") or _JWT.search(text) or _ASSIGNED.search(text):
        return True
    for run in _KEYLIKE.findall(text):
        # A generated key mixes cases and digits; a GUID or a host name does not.
        if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
            return True
    return False


def is_secret_name(name: object) -> bool:
    """A field or key whose name says it holds a secret."""
    return isinstance(name, str) and bool(_SECRET_NAME.search(name))
