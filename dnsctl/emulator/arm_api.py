"""The ARM side of the emulator: what happens to one Private DNS request, and its entry in the request log."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import quote

from dnsctl.emulator import arm_errors as errors
from dnsctl.emulator import operations
from dnsctl.emulator.arm_errors import ArmError
from dnsctl.emulator.faults import ConcurrentWrite, FaultPlan
from dnsctl.emulator.http_server import JSON_CONTENT, ArmRequest, Reply, json_bytes
from dnsctl.emulator.operations import ArmOutcome, Preconditions
from dnsctl.emulator.ratelimit import ArmRateLimiter
from dnsctl.emulator.recordsets import new_etag, parse_properties
from dnsctl.emulator.requestlog import LoggedRequest, RequestLog
from dnsctl.emulator.routes import ALL, ArmRoute, parse_arm_path
from dnsctl.emulator.store import Store, Zone
from dnsctl.process.clock import Clock

API_VERSION = "2024-06-01"
SUPPORTED_API_VERSIONS = ("2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01")
RATE_LIMIT_HEADER = "x-ms-ratelimit-remaining-subscription-resource-requests"
# ARM's own per-kind headers: a read's answer says how many reads are left, a write's how many writes.
REMAINING_HEADERS = {
    "read": "x-ms-ratelimit-remaining-subscription-reads",
    "write": "x-ms-ratelimit-remaining-subscription-writes",
}


class ArmApi:
    """Shares the emulator's state and lock; `handle` is called from the server's connection threads."""

    def __init__(
        self,
        store: Store,
        faults: FaultPlan,
        limiter: ArmRateLimiter,
        log: RequestLog,
        lock: threading.Lock,
        *,
        scheme: str,
        require_auth: bool = True,
        clock: Clock,
    ) -> None:
        self._store = store
        self._clock = clock
        self._faults = faults
        self._limiter = limiter
        self._log = log
        self._lock = lock
        self._scheme = scheme
        self.require_auth = require_auth

    def handle(self, request: ArmRequest) -> Reply:
        """Answer one ARM request: authentication, injected faults, the budget, then the operation."""
        kind = "read" if request.method in ("GET", "HEAD") else "write"
        latency = self._faults.latency
        if latency > 0:
            self._clock.pause(latency)
        route = parse_arm_path(request.path)
        subscription = route.subscription if route else "-"
        fault: str | None = None
        with self._lock:
            remaining = self._limiter.remaining(subscription, kind)
            try:
                if self.require_auth and not _has_bearer(request.headers.get("Authorization")):
                    raise errors.missing_token()
                injected = self._faults.take_answer(kind, request.path)
                if injected is not None:
                    fault = "throttle" if injected.status == 429 else "error"
                    if injected.status == 429:
                        raise errors.throttled(kind, subscription, _seconds_text(injected.retry_after or 0))
                    raise errors.injected_failure(injected.status)
                verdict = self._limiter.consume(subscription, kind)
                remaining = verdict.remaining
                if not verdict.allowed:
                    fault = "budget"
                    raise errors.throttled(kind, subscription, str(verdict.retry_after))
                reply = self._outcome_reply(self._operate(route, request))
                if self._faults.take_reset(kind, request.path) is not None:
                    fault = "reset"  # applied, but the client never hears of it
                    reply.reset = True
            except ArmError as error:
                reply = Reply(
                    error.status, json_bytes(error.body), {"Content-Type": JSON_CONTENT, **error.headers}
                )
        reply.headers[RATE_LIMIT_HEADER] = str(remaining)
        reply.headers[REMAINING_HEADERS[kind]] = str(remaining)
        reply.headers["x-ms-request-id"] = str(uuid.uuid4())
        reply.headers["Cache-Control"] = "no-cache"
        self._log.append(
            LoggedRequest(
                request.method,
                request.path,
                dict(request.query),
                reply.status,
                kind,
                request.headers.get("If-Match"),
                request.headers.get("If-None-Match"),
                fault,
                self._clock.monotonic(),
                request.headers.get("User-Agent"),
            )
        )
        return reply

    @staticmethod
    def _outcome_reply(outcome: ArmOutcome) -> Reply:
        headers = {"Content-Type": JSON_CONTENT} if outcome.body is not None else {}
        if outcome.etag is not None:
            headers["etag"] = outcome.etag  # unquoted, as Azure sends it
        body = json_bytes(outcome.body) if outcome.body is not None else b""
        return Reply(outcome.status, body, headers)

    def _operate(self, route: ArmRoute | None, request: ArmRequest) -> ArmOutcome:
        if route is None:
            raise errors.no_route(request.path)
        query = {k.lower(): v for k, v in request.query.items()}
        api_version = query.get("api-version")
        if api_version is None:
            raise errors.missing_api_version()
        if api_version not in SUPPORTED_API_VERSIONS:
            raise errors.unsupported_api_version(api_version, SUPPORTED_API_VERSIONS)
        method = request.method
        if route.is_zone:
            if method != "GET":
                raise errors.method_not_allowed(method, "zones; create zones with the /_emulator API")
            zone = self._store.find_zone(route.zone_id)
            if zone is None:
                raise errors.zone_not_found(route.resource_group, route.zone_name)
            return ArmOutcome(200, zone.render(), zone.etag)
        record_type = route.record_type
        if record_type is None or (record_type == ALL and not route.is_list):
            raise errors.invalid_resource_type(route.type_segment or "", api_version)
        if route.is_list and method != "GET":
            raise errors.method_not_allowed(method, "record-set lists")
        zone = self._store.find_zone(route.zone_id)
        if zone is None:
            action = {"GET": "read", "DELETE": "delete"}.get(method, "write")
            raise errors.parent_zone_not_found(action, record_type, route.zone_arm_id)
        if route.is_list:
            return self._list(zone, route, record_type, query, request.host)
        name = route.name or ""
        if method == "GET":
            return operations.get(zone, record_type, name)
        if method not in ("PUT", "PATCH", "DELETE"):
            raise errors.method_not_allowed(method, "record sets")
        body = _parse_json(request.body) if method != "DELETE" else None
        pre = Preconditions.from_headers(
            request.headers.get("If-Match"), request.headers.get("If-None-Match")
        )
        writer = self._faults.take_writer(zone.id.key, record_type, name)
        if writer is not None:
            self._concurrent_write(zone, record_type, name, writer)
        if method == "PUT":
            return operations.put(zone, record_type, name, body, pre, self._store.max_record_sets)
        if method == "PATCH":
            return operations.patch(zone, record_type, name, body, pre)
        return operations.delete(zone, record_type, name, pre)

    def _list(
        self, zone: Zone, route: ArmRoute, record_type: str, query: dict[str, str], host: str
    ) -> ArmOutcome:
        top, suffix = query.get("$top"), query.get("$recordsetnamesuffix")
        page = operations.list_sets(
            zone,
            None if record_type == ALL else record_type,
            top=top,
            skip_token=query.get("$skiptoken"),
            suffix=suffix,
        )
        body: dict[str, Any] = {"value": page.items}
        if page.skip_token is not None:
            params = [("api-version", query["api-version"])]
            if top is not None:
                params.append(("$top", top))
            if suffix is not None:
                params.append(("$recordsetnamesuffix", suffix))
            params.append(("$skipToken", page.skip_token))
            encoded = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
            body["nextLink"] = f"{self._scheme}://{host}{route.zone_arm_id}/{record_type}?{encoded}"
        return ArmOutcome(200, body)

    def _concurrent_write(self, zone: Zone, record_type: str, name: str, writer: ConcurrentWrite) -> None:
        existing = zone.find(record_type, name)
        if existing is None:
            zone.seed(record_type, name, writer.properties)
        elif writer.properties is not None:
            existing.apply(parse_properties(record_type, {"properties": writer.properties}, creating=False))
        else:
            existing.etag = new_etag()


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _has_bearer(authorization: str | None) -> bool:
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.invalid_content(str(exc)) from exc
