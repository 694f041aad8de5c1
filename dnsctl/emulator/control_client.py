"""A small client of the `/_emulator` control API, for tests that run the emulator as a separate process."""

from __future__ import annotations

import ssl
from typing import Any

import httpx


class EmulatorControl:
    """Drives a running emulator over HTTP(S). `verify` is a CA bundle path or a bool, as in httpx."""

    def __init__(self, base_url: str, *, verify: str | bool = True, timeout: float = 10.0) -> None:
        tls: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/_emulator", verify=tls, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"emulator control {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def add_zone(self, zone: str, *, tags: dict[str, str] | None = None) -> str:
        return str(self._call("POST", "/zones", {"zone": zone, "tags": tags})["zone"])

    def remove_zone(self, zone: str) -> bool:
        return bool(self._call("DELETE", f"/zones/{zone}")["removed"])

    def seed_record_set(self, zone: str, record_type: str, name: str, properties: dict[str, Any]) -> Any:
        return self._call("PUT", f"/recordsets/{zone}/{record_type}/{name}", {"properties": properties})

    def record_set(self, zone: str, record_type: str, name: str) -> Any:
        response = self._client.get(f"/recordsets/{zone}/{record_type}/{name}")
        return response.json() if response.status_code == 200 else None

    def snapshot(self) -> Any:
        return self._call("GET", "/store")

    def inject_throttle(self, times: int = 1, *, retry_after: float = 1, applies_to: str = "any") -> None:
        self._call(
            "POST",
            "/faults",
            {"status": 429, "times": times, "retryAfter": retry_after, "appliesTo": applies_to},
        )

    def inject_error(self, times: int = 1, *, status: int = 500, applies_to: str = "any") -> None:
        self._call("POST", "/faults", {"status": status, "times": times, "appliesTo": applies_to})

    def inject_reset_after_apply(self, times: int = 1, *, applies_to: str = "write") -> None:
        self._call("POST", "/faults", {"resetAfterApply": True, "times": times, "appliesTo": applies_to})

    def set_latency(self, seconds: float) -> None:
        self._call("PUT", "/latency", {"seconds": seconds})

    def inject_concurrent_write(
        self, zone: str, record_type: str, name: str, *, properties: dict[str, Any] | None = None
    ) -> None:
        body = {"zone": zone, "recordType": record_type, "name": name, "properties": properties}
        self._call("POST", "/concurrent-writes", body)

    def request_log(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/requests")["requests"])

    def reset_request_log(self) -> None:
        self._call("DELETE", "/requests")

    def reset(self) -> None:
        self._call("POST", "/reset")
