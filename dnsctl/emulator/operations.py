"""The record-set operations of the Private DNS API over one zone: preconditions, conflicts, paging."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from dnsctl.emulator import arm_errors as errors
from dnsctl.emulator.recordsets import RecordSet, parse_properties, record_set_json, validate_name
from dnsctl.emulator.store import Zone

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Preconditions:
    """If-Match / If-None-Match as etag sets (`*` stays); quoted (SDK) and bare (CLI) etags both work."""

    if_match: frozenset[str] | None = None
    if_none_match: frozenset[str] | None = None

    @classmethod
    def from_headers(cls, if_match: str | None, if_none_match: str | None) -> Preconditions:
        return cls(_etag_set(if_match), _etag_set(if_none_match))

    def check(self, existing: RecordSet | None, name: str) -> None:
        if self.if_match is not None:
            if existing is None:
                raise errors.does_not_exist(name) if "*" in self.if_match else errors.etag_mismatch(name)
            if "*" not in self.if_match and existing.etag not in self.if_match:
                raise errors.etag_mismatch(name)
        if self.if_none_match is not None and existing is not None:
            if "*" in self.if_none_match:
                raise errors.already_exists(name)
            if existing.etag in self.if_none_match:
                raise errors.etag_matches(name)


def _etag_set(header: str | None) -> frozenset[str] | None:
    if header is None or not header.strip():
        return None
    tags = set()
    for part in header.split(","):
        tag = part.strip()
        tag = tag.removeprefix("W/")
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        tags.add(tag)
    return frozenset(tags)


@dataclass(frozen=True)
class ArmOutcome:
    """A successful answer: status, JSON body (None for an empty body) and the etag header to send."""

    status: int
    body: dict[str, Any] | None = None
    etag: str | None = None


def _answer(status: int, zone: Zone, record_set: RecordSet) -> ArmOutcome:
    return ArmOutcome(status, record_set_json(zone.id.arm_id, zone.id.name, record_set), record_set.etag)


def get(zone: Zone, record_type: str, name: str) -> ArmOutcome:
    existing = zone.find(record_type, name)
    if existing is None:
        raise errors.record_set_not_found(name, zone.id.resource_group, zone.id.subscription)
    return _answer(200, zone, existing)


def put(zone: Zone, record_type: str, name: str, body: Any, pre: Preconditions, max_sets: int) -> ArmOutcome:
    stored_name = validate_name(record_type, name)
    update = parse_properties(record_type, body, creating=True)
    existing = zone.find(record_type, stored_name)
    pre.check(existing, name)
    if existing is None:
        _check_cname_exclusivity(zone, record_type, stored_name)
        if len(zone.record_sets) >= max_sets:
            raise errors.bad_request(
                f"The zone {zone.id.name} already holds the maximum of {max_sets} record sets."
            )
        created = RecordSet(record_type, stored_name, ttl=update.ttl or 0)  # ttl is required on create
        created.apply(update)
        zone.record_sets[(stored_name, record_type)] = created
        return _answer(201, zone, created)
    # PUT replaces the whole set: what the body leaves out is gone (the apex SOA record itself stays)
    existing.apply(replace(update, has_metadata=True, has_records=update.has_records or record_type != "SOA"))
    return _answer(200, zone, existing)


def patch(zone: Zone, record_type: str, name: str, body: Any, pre: Preconditions) -> ArmOutcome:
    existing = zone.find(record_type, name)
    if existing is None:
        raise errors.record_set_not_found(name, zone.id.resource_group, zone.id.subscription)
    update = parse_properties(record_type, body, creating=False)
    pre.check(existing, name)
    existing.apply(update)
    return _answer(200, zone, existing)


def delete(zone: Zone, record_type: str, name: str, pre: Preconditions) -> ArmOutcome:
    existing = zone.find(record_type, name)
    pre.check(existing, name)
    if existing is None:
        return ArmOutcome(204)
    if record_type == "SOA":
        raise errors.bad_request("The SOA record set at the zone apex cannot be deleted.")
    del zone.record_sets[(existing.name, record_type)]
    return ArmOutcome(200)


def _check_cname_exclusivity(zone: Zone, record_type: str, name: str) -> None:
    others = zone.types_at(name) - {record_type}
    if record_type == "CNAME" and others:
        raise errors.cname_beside_other_type()
    if record_type != "CNAME" and "CNAME" in others:
        raise errors.other_type_beside_cname(record_type)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    skip_token: str | None  # where the next page starts, or None on the last page


def list_sets(
    zone: Zone, record_type: str | None, *, top: str | None, skip_token: str | None, suffix: str | None
) -> Page:
    size = _page_size(top)
    chosen = zone.sorted_sets(record_type)
    if suffix:
        ending = "." + suffix.lower().strip(".")
        chosen = [rs for rs in chosen if rs.name.endswith(ending)]
    if skip_token:
        start = _decode_token(skip_token)
        chosen = [rs for rs in chosen if (rs.name, rs.record_type) >= start]
    page, rest = chosen[:size], chosen[size:]
    token = _encode_token((rest[0].name, rest[0].record_type)) if rest else None
    return Page([record_set_json(zone.id.arm_id, zone.id.name, rs) for rs in page], token)


def _page_size(top: str | None) -> int:
    if top is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(top)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise errors.bad_request(
            f"The value of $top must be an integer from 1 to {MAX_PAGE_SIZE}; got '{top}'."
        )
    return size


def _encode_token(position: tuple[str, str]) -> str:
    # base64url without padding survives the SDK's unquote/quote round trip of nextLink parameters
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        name, rtype = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise errors.bad_request("The $skipToken is invalid.") from exc
    if not isinstance(name, str) or not isinstance(rtype, str):
        raise errors.bad_request("The $skipToken is invalid.")
    return name, rtype
