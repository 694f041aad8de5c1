"""Where a profile's record is published: the record type, and one spec per kind of target.

Frozen values like the rest of `dnsctl.core.model`; the core sees a publication only through
`PublicationSpec`, each target kind adds its own fields (Azure: subscription, group; RFC 2136: server).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class RecordType(StrEnum):
    CNAME = "CNAME"
    A = "A"


class PublicationSpec(Protocol):
    """Where a profile's record is published: the record, and the kind of target that holds it.

    The core sees only these fields; each target kind adds its own (Azure: subscription, group)."""

    @property
    def kind(self) -> str: ...
    @property
    def zone(self) -> str: ...
    @property
    def record(self) -> str: ...
    @property
    def record_type(self) -> RecordType: ...
    @property
    def adopt(self) -> bool: ...
    @property
    def allow_type_change(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AzureRecordSpec:
    subscription_id: str
    resource_group: str
    zone: str
    record: str
    record_type: RecordType = RecordType.CNAME
    adopt: bool = False
    allow_type_change: bool = False

    @property
    def kind(self) -> str:
        return "azure"


@dataclass(frozen=True, slots=True)
class TsigSpec:
    name: str
    algorithm: str = "hmac-sha256"  # the secret is never here: it comes from the environment


@dataclass(frozen=True, slots=True)
class Rfc2136RecordSpec:
    """A record on a primary DNS server that takes RFC 2136 dynamic updates."""

    server: str  # the primary's address
    zone: str
    record: str
    port: int = 53
    record_type: RecordType = RecordType.CNAME
    adopt: bool = False
    allow_type_change: bool = False
    tsig: TsigSpec | None = None
    timeout: float = 5.0  # one query or update waits at most this long

    @property
    def kind(self) -> str:
        return "rfc2136"
