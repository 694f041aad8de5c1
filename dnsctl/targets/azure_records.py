"""Record sets in the Azure SDK's models and dnsctl's record values, both ways."""

from __future__ import annotations

from collections.abc import Mapping

from azure.mgmt.privatedns.models import ARecord, CnameRecord, RecordSet, RecordSetProperties

from dnsctl.core.plan import RecordValue
from dnsctl.core.publication import RecordType


def record_value(rs: RecordSet, rtype: RecordType) -> RecordValue | None:
    props = rs.properties
    if props is None:
        return None
    ttl = props.ttl or 0
    if rtype is RecordType.CNAME:
        cname = props.cname_record.cname if props.cname_record is not None else None
        return RecordValue(RecordType.CNAME, (cname.lower().rstrip("."),) if cname else (), ttl)
    addresses = tuple(a.ipv4_address for a in props.a_records or () if a.ipv4_address)
    return RecordValue(RecordType.A, addresses, ttl)


def record_type_of(rs: RecordSet) -> RecordType | None:
    name = (rs.type or "").rsplit("/", 1)[-1].upper()
    return RecordType(name) if name in RecordType.__members__ else None


def record_properties(value: RecordValue, metadata: Mapping[str, str] | None) -> RecordSetProperties:
    if value.type is RecordType.CNAME:
        return RecordSetProperties(
            ttl=value.ttl, metadata=dict(metadata or {}), cname_record=CnameRecord(cname=value.values[0])
        )
    return RecordSetProperties(
        ttl=value.ttl,
        metadata=dict(metadata or {}),
        a_records=[ARecord(ipv4_address=a) for a in value.values],
    )
