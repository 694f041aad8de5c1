"""Client TLS contexts, built once per (verify, ca_file) because building one costs milliseconds."""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=16)
def client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A shared, read-only client context.

    Default trust is httpx's (certifi, or SSL_CERT_FILE / SSL_CERT_DIR); `ca_file` replaces it.
    Raises OSError or ssl.SSLError when `ca_file` cannot be loaded (not cached, so a fixed file is
    picked up by the next probe).
    """
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_file is not None:
        ctx = ssl.create_default_context(cafile=ca_file)
    else:
        ctx = httpx.create_ssl_context(verify=True)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
