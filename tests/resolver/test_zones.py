"""Lab zones: authoritative records, generated SOA, NXDOMAIN and NODATA with the SOA in authority."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from dnsctl.core.zone_records import ZoneSpec
from dnsctl.resolver.zones import LabZones
from tests.config.documents import edited, problems, write
from tests.resolver.conftest import StartResolver
from tests.resolver.helpers import ask, lab_zone, rrset_texts

LAB = lab_zone(
    "lab.internal",
    (
        ("@", "A", "10.0.0.1"),
        ("www", "CNAME", "lab.internal."),
        ("alias", "CNAME", "www"),
        ("dangling", "CNAME", "missing"),
        ("outside", "CNAME", "example.com."),
        ("v6", "AAAA", "fd00::1", 120),
        ("@", "TXT", "hello lab"),
        ("@", "MX", "10 mail.lab.internal."),
        ("@", "MX", "20 mail2"),
        ("_https._tcp", "SRV", "10 5 443 host.lab.internal."),
        ("host.deep", "A", "10.0.0.7"),
    ),
)


@pytest.fixture
async def port(resolver: StartResolver) -> int:
    return (await resolver(zones=(LAB,))).bound[0][1]


async def test_records_of_each_type(port: int) -> None:
    expectations = {
        ("lab.internal", "A"): ["10.0.0.1"],
        ("v6.lab.internal", "AAAA"): ["fd00::1"],
        ("lab.internal", "TXT"): ['"hello lab"'],
        ("lab.internal", "MX"): ["10 mail.lab.internal.", "20 mail2.lab.internal."],
        ("_https._tcp.lab.internal", "SRV"): ["10 5 443 host.lab.internal."],
        ("www.lab.internal", "CNAME"): ["lab.internal."],
        ("host.deep.lab.internal", "A"): ["10.0.0.7"],
    }
    for (name, rdtype), expected in expectations.items():
        for tcp in (False, True):
            reply = await ask(port, name, rdtype, tcp=tcp)
            assert reply.rcode() == dns.rcode.NOERROR, name
            assert reply.flags & dns.flags.AA
            assert sorted(rrset_texts(reply)) == expected, name


async def test_record_ttl_comes_from_the_zone(port: int) -> None:
    reply = await ask(port, "v6.lab.internal", "AAAA")
    assert reply.answer[0].ttl == 120


async def test_cname_is_followed_inside_the_zone(port: int) -> None:
    reply = await ask(port, "alias.lab.internal", "A")
    assert rrset_texts(reply) == ["www.lab.internal.", "lab.internal.", "10.0.0.1"]


async def test_cname_to_a_missing_name_is_nxdomain_with_the_chain(port: int) -> None:
    reply = await ask(port, "dangling.lab.internal", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert rrset_texts(reply) == ["missing.lab.internal."]


async def test_cname_leaving_the_zone_without_upstream_is_servfail(port: int) -> None:
    reply = await ask(port, "outside.lab.internal", "A")
    assert reply.rcode() == dns.rcode.SERVFAIL


async def test_missing_name_is_nxdomain_with_soa(port: int) -> None:
    for tcp in (False, True):
        reply = await ask(port, "nothing.lab.internal", "A", tcp=tcp)
        assert reply.rcode() == dns.rcode.NXDOMAIN
        assert reply.flags & dns.flags.AA
        assert not reply.answer
        (soa,) = reply.authority
        assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "lab.internal."
        assert soa.ttl <= soa[0].minimum


async def test_missing_type_is_nodata_with_soa(port: int) -> None:
    for name, rdtype in (("lab.internal", "AAAA"), ("v6.lab.internal", "A"), ("lab.internal", "PTR")):
        reply = await ask(port, name, rdtype)
        assert reply.rcode() == dns.rcode.NOERROR, (name, rdtype)
        assert not reply.answer
        assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


async def test_empty_non_terminal_is_nodata_not_nxdomain(port: int) -> None:
    reply = await ask(port, "deep.lab.internal", "A")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer and reply.authority


async def test_soa_at_the_apex_and_letter_case(port: int) -> None:
    reply = await ask(port, "LAB.Internal", "SOA")
    assert str(reply.question[0].name) == "LAB.Internal."
    (soa,) = reply.answer
    # Names compare case-insensitively (names compressed against the question take on its case).
    assert soa[0].mname.to_text().lower() == "ns.lab.internal."
    assert soa[0].rname.to_text().lower() == "hostmaster.lab.internal."


async def test_any_gets_every_record_of_the_node(port: int) -> None:
    reply = await ask(port, "lab.internal", "ANY")
    types = {rrset.rdtype for rrset in reply.answer}
    assert types == {
        dns.rdatatype.A,
        dns.rdatatype.TXT,
        dns.rdatatype.MX,
        dns.rdatatype.NS,
        dns.rdatatype.SOA,
    }
    cname_owner = await ask(port, "www.lab.internal", "ANY")
    assert rrset_texts(cname_owner) == ["lab.internal."]  # its CNAME (RFC 8482 4.2)
    assert cname_owner.answer[0].rdtype == dns.rdatatype.CNAME


def test_bad_records_are_all_reported(tmp_path: Path) -> None:
    # The configuration refuses them, each at its place, before the resolver is built from parsed records.
    zone = {
        "name": "lab.internal",
        "records": [
            {"name": "a", "type": "A", "value": "not-an-ip"},
            {"name": "b", "type": "MX", "value": "mail.lab.internal."},
            {"name": "c", "type": "NAPTR", "value": "x"},
            {"name": "d", "type": "CNAME", "value": "x"},
            {"name": "d", "type": "A", "value": "10.0.0.1"},
        ],
    }
    found = problems(write(tmp_path, edited({"resolver.zones": [zone]})))
    assert sorted(line.split(":")[0] for line in found) == [
        "resolver.zones[0].records",
        "resolver.zones[0].records[0].value",
        "resolver.zones[0].records[1].value",
        "resolver.zones[0].records[2].type",
    ], found


def test_soa_serial_follows_the_records() -> None:
    one = LabZones([LAB]).zones[0].soa.rdata.times[0]
    other = LabZones([ZoneSpec("lab.internal", LAB.records[:-1])]).zones[0].soa.rdata.times[0]
    assert one != other
