"""A small client for the admin API, used by `dnsctl status`, `drain`, `undrain` and `failback`."""

from __future__ import annotations

import os

import httpx

from dnsctl.documents.jsonable import DocumentError, JsonObject, from_json
from dnsctl.documents.status import StatusDoc
from dnsctl.errors import DnsctlError

TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"


def _headers() -> dict[str, str]:
    token = os.environ.get(TOKEN_ENV)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _call(method: str, url: str) -> JsonObject:
    try:
        response = httpx.request(method, url, headers=_headers(), timeout=10.0)
    except httpx.HTTPError as e:
        raise DnsctlError(f"cannot reach the admin API at {url}: {e}") from None
    doc: object
    try:
        doc = response.json()
    except ValueError:
        doc = {"error": response.text.strip()}
    if response.status_code >= 400:
        said = doc.get("error", doc) if isinstance(doc, dict) else doc
        message = f"{url}: HTTP {response.status_code}: {said}"
        if response.status_code == 401:
            message += (
                f"; the token in {TOKEN_ENV} was not accepted"
                if os.environ.get(TOKEN_ENV)
                else f"; {TOKEN_ENV} is not set: set it to the admin token of the running dnsctl"
            )
        raise DnsctlError(message)
    if not isinstance(doc, dict):
        raise DnsctlError(f"{url}: unexpected answer")
    return doc


def get_status(base: str) -> StatusDoc:
    url = f"{base}/status"
    try:
        return from_json(StatusDoc, _call("GET", url))
    except DocumentError as e:
        raise DnsctlError(f"{url}: not a dnsctl status document: {e}") from None


def post_action(base: str, path: str) -> str:
    return str(_call("POST", f"{base}{path}").get("message", "done"))
