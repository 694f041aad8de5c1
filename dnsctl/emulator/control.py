"""The emulator's own HTTP control API under `/_emulator/...`: the operator methods of AzureEmulator as JSON.

GET    /_emulator/health
GET    /_emulator/zones                     POST {"zone": "SUB/RG/ZONE" | "ZONE", "tags": {...}}
DELETE /_emulator/zones/SUB/RG/ZONE
GET|PUT /_emulator/recordsets/SUB/RG/ZONE/TYPE/NAME   PUT body: {"properties": {...}}
GET    /_emulator/store
GET|POST|DELETE /_emulator/faults          POST {"status": 429|500|..., "times": N, "appliesTo": "read"|
                                            "write"|"any", "pathContains": "...", "retryAfter": seconds}
                                            or {"resetAfterApply": true, "times": N, ...}: applied,
                                            then the connection is reset instead of answered
PUT    /_emulator/latency                   {"seconds": 0.2}
POST   /_emulator/concurrent-writes         {"zone": "SUB/RG/ZONE", "recordType": "CNAME", "name": "x",
                                             "properties": {...}}
GET|DELETE /_emulator/requests
POST   /_emulator/reset                     faults, request log and budgets; zones stay
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from dnsctl.emulator.faults import AppliesTo

if TYPE_CHECKING:
    from dnsctl.emulator.azure_privatedns import AzureEmulator

Answer = tuple[int, Any]


class _BadInput(Exception):
    pass


def handle_control(
    emulator: AzureEmulator, method: str, path: str, query: dict[str, str], body: bytes
) -> Answer:
    """Answer one control request with (status, JSON payload)."""
    parts = [p for p in path.split("/") if p][1:]  # drop "_emulator"
    try:
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise _BadInput("the body must be a JSON object")
        return _route(emulator, method, parts, payload)
    except (_BadInput, ValueError, TypeError, KeyError) as exc:
        status = 404 if isinstance(exc, KeyError) else 400
        return status, {"error": str(exc.args[0]) if exc.args else type(exc).__name__}


def _route(emulator: AzureEmulator, method: str, parts: list[str], body: dict[str, Any]) -> Answer:
    head, rest = (parts[0], parts[1:]) if parts else ("", [])
    if head == "health" and method == "GET":
        return 200, {"ok": True}
    if head == "zones":
        return _zones(emulator, method, rest, body)
    if head == "recordsets" and len(rest) == 5:
        return _record_set(emulator, method, rest, body)
    if head == "store" and method == "GET":
        return 200, emulator.snapshot()
    if head == "faults":
        return _faults(emulator, method, body)
    if head == "latency" and method == "PUT":
        emulator.set_latency(float(body["seconds"]))
        return 200, {"latency": float(body["seconds"])}
    if head == "concurrent-writes" and method == "POST":
        emulator.inject_concurrent_write(
            _text(body, "zone"),
            _text(body, "recordType"),
            _text(body, "name"),
            properties=body.get("properties"),
        )
        return 201, emulator.pending_faults()
    if head == "requests" and method in ("GET", "DELETE"):
        if method == "DELETE":
            emulator.reset_request_log()
        return 200, {"requests": [r.to_json() for r in emulator.request_log()]}
    if head == "reset" and method == "POST":
        emulator.reset()
        return 200, {"ok": True}
    return 404, {"error": f"no control operation {method} /_emulator/{'/'.join(parts)}"}


def _zones(emulator: AzureEmulator, method: str, rest: list[str], body: dict[str, Any]) -> Answer:
    if method == "GET" and not rest:
        return 200, {"zones": [str(z) for z in emulator.zones()]}
    if method == "POST" and not rest:
        zone_id = emulator.add_zone(_text(body, "zone"), tags=body.get("tags"))
        return 201, {"zone": str(zone_id), "id": zone_id.arm_id}
    if method == "DELETE" and len(rest) == 3:
        return 200, {"removed": emulator.remove_zone("/".join(rest))}
    return 404, {"error": f"no control operation {method} on zones"}


def _record_set(emulator: AzureEmulator, method: str, rest: list[str], body: dict[str, Any]) -> Answer:
    zone, record_type, name = "/".join(rest[:3]), rest[3], rest[4]
    if method == "PUT":
        properties = body.get("properties", body)
        if not isinstance(properties, dict):
            raise _BadInput("properties must be a JSON object")
        return 200, emulator.seed_record_set(zone, record_type, name, properties)
    if method == "GET":
        found = emulator.record_set(zone, record_type, name)
        return (200, found) if found is not None else (404, {"error": "no such record set"})
    return 404, {"error": f"no control operation {method} on record sets"}


def _faults(emulator: AzureEmulator, method: str, body: dict[str, Any]) -> Answer:
    if method == "GET":
        return 200, emulator.pending_faults()
    if method == "DELETE":
        emulator.clear_faults()
        return 200, emulator.pending_faults()
    if method != "POST":
        return 404, {"error": f"no control operation {method} on faults"}
    status = int(body.get("status", 500))
    times = int(body.get("times", 1))
    applies_to = body.get("appliesTo", "any")
    if applies_to not in ("read", "write", "any"):
        raise _BadInput("appliesTo must be read, write or any")
    path_contains = body.get("pathContains")
    if body.get("resetAfterApply") is True:
        emulator.inject_reset_after_apply(
            times, applies_to=cast(AppliesTo, body.get("appliesTo", "write")), path_contains=path_contains
        )
    elif status == 429:
        emulator.inject_throttle(
            times,
            retry_after=float(body.get("retryAfter", 1)),
            applies_to=cast(AppliesTo, applies_to),
            path_contains=path_contains,
        )
    else:
        emulator.inject_error(
            times, status=status, applies_to=cast(AppliesTo, applies_to), path_contains=path_contains
        )
    return 201, emulator.pending_faults()


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _BadInput(f"'{key}' must be a non-empty string")
    return value
