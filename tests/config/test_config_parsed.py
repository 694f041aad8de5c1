"""The configuration hands the rest parsed values: networks, lab zone records, the lease's blob."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path

from dnsctl.core.zone_records import MxData, SrvData, ZoneRecordSpec, ZoneRecordType

from .documents import edited, load_ok, write


def test_the_allow_list_and_the_views_are_networks(tmp_path: Path) -> None:
    doc = edited(
        {
            "resolver.allow": ["127.0.0.0/8", "10.1.2.3/8", "fd00::/8"],
            "resolver.views[0].clients": ["10.2.0.0/16"],
        }
    )
    r = load_ok(write(tmp_path, doc)).resolver
    assert r.allow == (ip_network("127.0.0.0/8"), ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
    assert r.views[0].clients == (ip_network("10.2.0.0/16"),)


def test_lab_zone_records_are_absolute_and_typed(tmp_path: Path) -> None:
    records = [
        {"name": "@", "type": "a", "value": "10.0.0.1"},
        {"name": "v6", "type": "AAAA", "value": "fd00::1", "ttl": 60},
        {"name": "WWW", "type": "CNAME", "value": "v6"},
        {"name": "out", "type": "CNAME", "value": "Elsewhere.Example."},
        {"name": "@", "type": "MX", "value": "10 mail"},
        {"name": "_https._tcp", "type": "SRV", "value": "1 2 443 host.lab.internal."},
        {"name": "t.lab.internal.", "type": "TXT", "value": "hello lab"},
    ]
    zone = load_ok(write(tmp_path, edited({"resolver.zones[0].records": records}))).resolver.zones[0]
    assert zone.name == "lab.internal"
    assert zone.records == (
        ZoneRecordSpec("lab.internal", ZoneRecordType.A, IPv4Address("10.0.0.1")),
        ZoneRecordSpec("v6.lab.internal", ZoneRecordType.AAAA, IPv6Address("fd00::1"), 60),
        ZoneRecordSpec("www.lab.internal", ZoneRecordType.CNAME, "v6.lab.internal"),
        ZoneRecordSpec("out.lab.internal", ZoneRecordType.CNAME, "elsewhere.example"),
        ZoneRecordSpec("lab.internal", ZoneRecordType.MX, MxData(10, "mail.lab.internal")),
        ZoneRecordSpec(
            "_https._tcp.lab.internal", ZoneRecordType.SRV, SrvData(1, 2, 443, "host.lab.internal")
        ),
        ZoneRecordSpec("t.lab.internal", ZoneRecordType.TXT, "hello lab"),
    )


def test_a_lease_blob_is_parsed_only_when_the_lease_is_on(tmp_path: Path) -> None:
    url = "http://127.0.0.1:10000/devstoreaccount1/leases/dnsctl/leader"
    on = load_ok(write(tmp_path, edited({"ha.lease": "azure-blob", "ha.blob_url": url}))).ha
    assert on.blob is not None
    assert (on.blob.account_url, on.blob.container, on.blob.blob) == (
        "http://127.0.0.1:10000/devstoreaccount1",
        "leases",
        "dnsctl/leader",
    )
    assert load_ok(write(tmp_path, edited({"ha.blob_url": url}))).ha.blob is None
