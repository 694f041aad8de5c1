"""A local emulator of the Azure Private DNS REST API (record sets and zone GET, api-version 2024-06-01).

`AzureEmulator` runs a stdlib threading HTTP(S) server in a background thread, independent of any event
loop, so the real azure-mgmt-privatedns SDK can talk to it. Tests drive it through the methods below or,
when it runs as a separate process, through the same operations under `/_emulator/...` (see `control`).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from dnsctl.emulator.arm_api import API_VERSION, SUPPORTED_API_VERSIONS, ArmApi
from dnsctl.emulator.control import handle_control
from dnsctl.emulator.faults import AppliesTo, ConcurrentWrite, FaultPlan, InjectedAnswer, InjectedReset
from dnsctl.emulator.http_server import JSON_CONTENT, ArmRequest, EmulatorServer, Reply, json_bytes
from dnsctl.emulator.ratelimit import READ_BUDGET, WINDOW_SECONDS, WRITE_BUDGET, ArmRateLimiter
from dnsctl.emulator.recordsets import record_set_json, require_type
from dnsctl.emulator.requestlog import LoggedRequest, RequestLog
from dnsctl.emulator.store import MAX_RECORD_SETS_PER_ZONE, Store, Zone, ZoneId, as_zone_id
from dnsctl.process.clock import Clock, SystemClock

__all__ = ["API_VERSION", "SUPPORTED_API_VERSIONS", "AzureEmulator"]


class AzureEmulator:
    """The emulated service: a store of zones, a fault plan, a rate limiter and a request log."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        read_budget: int = READ_BUDGET,
        write_budget: int = WRITE_BUDGET,
        budget_window: float = WINDOW_SECONDS,
        max_record_sets: int = MAX_RECORD_SETS_PER_ZONE,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock if clock is not None else SystemClock()  # the emulator is its own program
        self._tls = tls
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._store = Store(max_record_sets)
        self._faults = FaultPlan()
        self._limiter = ArmRateLimiter(read_budget, write_budget, budget_window, clock=self._clock)
        self._log = RequestLog()
        self._arm = ArmApi(
            self._store,
            self._faults,
            self._limiter,
            self._log,
            self._lock,
            scheme="https" if tls else "http",
            require_auth=require_auth,
            clock=self._clock,
        )
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def require_auth(self) -> bool:
        """Whether ARM requests without `Authorization: Bearer ...` get a 401."""
        return self._arm.require_auth

    @require_auth.setter
    def require_auth(self, value: bool) -> None:
        self._arm.require_auth = value

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> AzureEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = EmulatorServer((self._host, self._port), self)
        if self._tls is not None:
            # the handshake happens in the connection's own thread, never in the accept loop
            server.socket = self._tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="azure-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> AzureEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """`http(s)://127.0.0.1:PORT`: what the SDK takes as `base_url`."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    # --- zones and record sets (operator side; no ARM rules, no budget, not logged) ----------------------

    def add_zone(self, zone: ZoneId | str, *, tags: Mapping[str, str] | None = None) -> ZoneId:
        """Create a zone (with its apex SOA). `zone` is a ZoneId, `SUB/RG/ZONE`, or a bare zone name."""
        zone_id = as_zone_id(zone)
        with self._lock:
            return self._store.add_zone(zone_id, dict(tags) if tags is not None else None).id

    def remove_zone(self, zone: ZoneId | str) -> bool:
        with self._lock:
            return self._store.remove_zone(as_zone_id(zone))

    def zones(self) -> list[ZoneId]:
        with self._lock:
            return [z.id for z in self._store.zones()]

    def zone(self, zone: ZoneId | str) -> dict[str, Any] | None:
        """The zone body a GET would return, or None."""
        with self._lock:
            found = self._store.find_zone(as_zone_id(zone))
            return found.render() if found else None

    def seed_record_set(
        self, zone: ZoneId | str, record_type: str, name: str, properties: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Put a record set in place directly (ttl defaults to 3600; CNAME exclusivity is not enforced)."""
        with self._lock:
            found = self._zone_or_raise(zone)
            return record_set_json(found.id.arm_id, found.id.name, found.seed(record_type, name, properties))

    def record_set(self, zone: ZoneId | str, record_type: str, name: str) -> dict[str, Any] | None:
        """The record-set body a GET would return, or None (KeyError if the zone does not exist)."""
        with self._lock:
            found = self._zone_or_raise(zone)
            rs = found.find(require_type(record_type), name)
            return record_set_json(found.id.arm_id, found.id.name, rs) if rs else None

    def record_sets(self, zone: ZoneId | str) -> list[dict[str, Any]]:
        with self._lock:
            found = self._zone_or_raise(zone)
            return [record_set_json(found.id.arm_id, found.id.name, rs) for rs in found.sorted_sets()]

    def snapshot(self) -> dict[str, Any]:
        """The whole store: every zone body with its record sets."""
        with self._lock:
            return {
                "zones": [
                    {
                        **z.render(),
                        "recordSets": [record_set_json(z.id.arm_id, z.id.name, rs) for rs in z.sorted_sets()],
                    }
                    for z in self._store.zones()
                ]
            }

    # --- faults ------------------------------------------------------------------------------------------

    def inject_throttle(
        self,
        times: int = 1,
        *,
        retry_after: float = 1,
        applies_to: AppliesTo = "any",
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests 429 with `Retry-After: retry_after`."""
        with self._lock:
            self._faults.add_answer(InjectedAnswer(429, times, applies_to, path_contains, retry_after))

    def inject_error(
        self,
        times: int = 1,
        *,
        status: int = 500,
        applies_to: AppliesTo = "any",
        path_contains: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (500 by default)."""
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status")
        with self._lock:
            self._faults.add_answer(InjectedAnswer(status, times, applies_to, path_contains))

    def inject_reset_after_apply(
        self, times: int = 1, *, applies_to: AppliesTo = "write", path_contains: str | None = None
    ) -> None:
        """Apply the next `times` matching requests, then reset the connection instead of answering:
        a write that lands while its answer is lost."""
        with self._lock:
            self._faults.add_reset(InjectedReset(times, applies_to, path_contains))

    def set_latency(self, seconds: float) -> None:
        """Delay every ARM answer by `seconds`."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        with self._lock:
            self._faults.latency = seconds

    def inject_concurrent_write(
        self, zone: ZoneId | str, record_type: str, name: str, *, properties: Mapping[str, Any] | None = None
    ) -> None:
        """On the next write to this record set, change it (new etag; `properties` merged like a PATCH, or
        the set created with them if missing) just before the write's condition is checked."""
        zone_id = as_zone_id(zone)
        write = ConcurrentWrite(dict(properties) if properties is not None else None)
        with self._lock:
            self._faults.add_writer(zone_id.key, require_type(record_type), name, write)

    def pending_faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults.pending()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- observation -------------------------------------------------------------------------------------

    def request_log(self) -> list[LoggedRequest]:
        """Every ARM request answered so far (control-API calls are not logged)."""
        return self._log.entries()

    def reset_request_log(self) -> None:
        self._log.clear()

    def rate_limit_remaining(self, subscription: str, kind: str = "read") -> int:
        with self._lock:
            return self._limiter.remaining(subscription, kind)

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._limiter.reset()

    def reset(self) -> None:
        """Forget faults, the request log and the budgets; the zones stay."""
        self.clear_faults()
        self.reset_request_log()
        self.reset_rate_limits()

    # --- called by the HTTP server ------------------------------------------------------------------------

    def handle_control(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        """Answer one `/_emulator` request (called from the server's connection threads)."""
        status, payload = handle_control(self, method, path, query, body)
        return Reply(status, json_bytes(payload), {"Content-Type": JSON_CONTENT})

    def handle(self, request: ArmRequest) -> Reply:
        """Answer one ARM request (called from the server's connection threads)."""
        return self._arm.handle(request)

    def _zone_or_raise(self, zone: ZoneId | str) -> Zone:
        zone_id = as_zone_id(zone)
        found = self._store.find_zone(zone_id)
        if found is None:
            raise KeyError(f"no zone {zone_id}")
        return found
