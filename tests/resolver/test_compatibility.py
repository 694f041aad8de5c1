"""What real stubs and validating clients expect of the resolver, against the running server.

HTTPS and every type above 64 forwarded in one upstream round trip; DNSSEC records passed through with
DO and cached apart from plain answers; ANY forwarded; "no data" for steered names with an SOA; CNAMEs
that leave a lab zone (or that an upstream left unfinished) followed; RFC 6761 names answered locally.
"""

from __future__ import annotations

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.resolver import SteeredAnswer, SteeringTable
from dnsctl.resolver.steering import negative_apex
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import ask, lab_zone, make_query, rrset_texts

FQDN = "myregistry.azurecr.io"
IPV4_ONLY = DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5",))
LAB = lab_zone(
    "lab.internal",
    (
        ("@", "A", "10.0.0.1"),
        ("out", "CNAME", "elsewhere.example."),
        ("hop", "CNAME", "next.other.internal."),
        ("steered", "CNAME", FQDN + "."),
        ("unchased", "CNAME", "alias.far.example."),
        ("looping", "CNAME", "loop1.example."),
        ("ping", "CNAME", "pong.other.internal."),
    ),
)
OTHER = lab_zone(
    "other.internal",
    (
        ("next", "CNAME", "www.example."),
        ("pong", "CNAME", "ping.lab.internal."),
    ),
)


def steering(*targets: DecisionTarget) -> SteeringTable:
    table = SteeringTable()
    table.publish(SteeredAnswer(FQDN, 30, targets or (IPV4_ONLY,)))
    return table


@pytest.mark.parametrize("tcp", [False, True])
async def test_types_65_to_90_are_forwarded_in_one_round_trip(
    resolver: StartResolver, upstream: StartUpstream, tcp: bool
) -> None:
    up = upstream("normal")
    # A reply the matcher rejected would cost the whole timeout, and the test's 3 s client timeout.
    server = await resolver(upstreams=(up.address,), upstream_timeout=10.0)
    port = server.bound[0][1]
    for qtype in range(65, 91):
        reply = await ask(port, "typed.example", dns.rdatatype.to_text(qtype), tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR, qtype
        assert [rrset.rdtype for rrset in reply.answer] == [qtype]
    assert server.metrics.upstream_failures == {}
    assert server.metrics.cache_misses == 26  # one upstream query per type, none retried
    https = await ask(port, "TYPED.example", "HTTPS", tcp=tcp)
    assert rrset_texts(https) == ["1 ."] and server.metrics.cache_hits == 1


async def test_https_for_a_steered_name(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal")
    table = steering()
    table.publish(SteeredAnswer("chased.azurecr.io", 30, (DecisionTarget(None, "typed.example", ()),)))
    port = (await resolver(steering=table, upstreams=(up.address,), upstream_timeout=10.0)).bound[0][1]
    local = await ask(port, FQDN, "HTTPS")
    assert local.rcode() == dns.rcode.NOERROR and rrset_texts(local) == [IPV4_ONLY.target + "."]
    chased = await ask(port, "chased.azurecr.io", "HTTPS")
    assert rrset_texts(chased) == ["typed.example.", "1 ."]


async def test_do_cd_and_the_buffer_size_are_carried_upstream(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    plain = await ask(port, "echo.example", "TXT")
    assert rrset_texts(plain) == ['"rd=1 cd=0 do=0 size=1232"']
    query = make_query("echo.example", "TXT", want_dnssec=True, payload=4096)
    query.flags |= dns.flags.CD
    dnssec = await ask(port, query)
    assert rrset_texts(dnssec) == ['"rd=1 cd=1 do=1 size=4096"']
    assert dnssec.ednsflags & dns.flags.DO and dnssec.flags & dns.flags.CD
    huge = await ask(port, "echo2.example", "TXT", use_edns=0, payload=65000)
    assert rrset_texts(huge) == ['"rd=1 cd=0 do=0 size=4096"']


@pytest.mark.parametrize("tcp", [False, True])
async def test_dnssec_records_pass_through_and_are_cached_apart(
    resolver: StartResolver, upstream: StartUpstream, tcp: bool
) -> None:
    up = upstream("normal")
    server = await resolver(upstreams=(up.address,))
    port = server.bound[0][1]
    plain = await ask(port, "signed.example", "A", use_edns=0, tcp=tcp)
    assert [rrset.rdtype for rrset in plain.answer] == [dns.rdatatype.A]
    assert not plain.ednsflags & dns.flags.DO
    for _ in range(2):  # the second one from the cache
        signed = await ask(port, "signed.example", "A", want_dnssec=True, tcp=tcp)
        assert [rrset.rdtype for rrset in signed.answer] == [dns.rdatatype.A, dns.rdatatype.RRSIG]
        assert signed.ednsflags & dns.flags.DO and not signed.flags & dns.flags.AD
    assert server.metrics.cache_misses == 2 and server.metrics.cache_hits == 1
    again = await ask(port, "signed.example", "A", use_edns=0, tcp=tcp)
    assert [rrset.rdtype for rrset in again.answer] == [dns.rdatatype.A]
    denial = await ask(port, "nxsigned.example", "A", want_dnssec=True, tcp=tcp)
    assert denial.rcode() == dns.rcode.NXDOMAIN
    types = [rrset.rdtype for rrset in denial.authority]
    assert types == [dns.rdatatype.SOA, dns.rdatatype.NSEC, dns.rdatatype.RRSIG]


async def test_an_answer_fetched_with_cd_never_answers_a_query_without_it(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,))).bound[0][1]
    unchecked = make_query("echo.example", "TXT")
    unchecked.flags |= dns.flags.CD
    assert rrset_texts(await ask(port, unchecked)) == ['"rd=1 cd=1 do=0 size=1232"']
    assert rrset_texts(await ask(port, "echo.example", "TXT")) == ['"rd=1 cd=0 do=0 size=1232"']
    assert rrset_texts(await ask(port, unchecked)) == ['"rd=1 cd=1 do=0 size=1232"']


async def test_any_is_forwarded(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,), steering=steering())).bound[0][1]
    missing = await ask(port, "nx.example", "ANY")
    assert missing.rcode() == dns.rcode.NXDOMAIN and not missing.answer
    alias = await ask(port, "alias.host.example", "ANY")
    assert [rrset.rdtype for rrset in alias.answer] == [dns.rdatatype.CNAME]
    steered = await ask(port, FQDN, "ANY")
    assert [rrset.rdtype for rrset in steered.answer] == [dns.rdatatype.CNAME]


@pytest.mark.parametrize(("rdtype", "tcp"), [("MX", False), ("AAAA", False), ("TXT", True)])
async def test_steered_no_data_carries_the_soa_of_a_zone_above_the_target(
    resolver: StartResolver, rdtype: str, tcp: bool
) -> None:
    port = (await resolver(steering=steering(), negative_ttl=42)).bound[0][1]
    target = dns.name.from_text(IPV4_ONLY.target)
    for qname in (FQDN, IPV4_ONLY.target):  # the steered name, and its target asked for directly
        reply = await ask(port, qname, rdtype, tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        assert rrset_texts(reply) == ([IPV4_ONLY.target + "."] if qname == FQDN else [])
        (soa,) = reply.authority
        # RFC 2308: the "no data" is the target's (the end of the chain), so the SOA is of a zone above
        # it; never owned by the steered name, which holds a CNAME and cannot be a zone apex.
        assert soa.rdtype == dns.rdatatype.SOA and soa.name != dns.name.from_text(FQDN)
        assert target.is_subdomain(soa.name) and soa.name != target, soa.name
        assert soa.name.to_text() == "eastus.geo.azurecr.io."
        assert soa.ttl == 42 and soa[0].minimum == 42
        assert soa[0].mname == target  # the primary server's name resolves


def test_the_negative_soa_is_never_owned_by_the_steered_name() -> None:
    # The target's parent is the steered name itself: the apex goes one more up; a single label: the root.
    assert negative_apex("east.app.example", "app.example") == "example"
    assert negative_apex("east.app.example", "other.example") == "app.example"
    assert negative_apex("host", "app.example") == ""


@pytest.mark.parametrize("tcp", [False, True])
async def test_lab_cnames_are_followed_out_of_the_zone(
    resolver: StartResolver, upstream: StartUpstream, tcp: bool
) -> None:
    up = upstream("normal")
    server = await resolver(upstreams=(up.address,), zones=(LAB, OTHER), steering=steering())
    port = server.bound[0][1]
    out = await ask(port, "out.lab.internal", "A", tcp=tcp)
    assert out.rcode() == dns.rcode.NOERROR and out.flags & dns.flags.AA
    assert rrset_texts(out) == ["elsewhere.example.", "192.0.2.1"]
    hop = await ask(port, "hop.lab.internal", "A", tcp=tcp)  # lab zone -> lab zone -> upstream
    assert rrset_texts(hop) == ["next.other.internal.", "www.example.", "192.0.2.1"]
    to_steered = await ask(port, "steered.lab.internal", "A", tcp=tcp)
    assert rrset_texts(to_steered) == [FQDN + ".", IPV4_ONLY.target + ".", "10.1.0.5"]
    # The upstream stops at a CNAME too (it does not recurse): followed on, once more upstream.
    unchased = await ask(port, "unchased.lab.internal", "A", tcp=tcp)
    assert rrset_texts(unchased) == ["alias.far.example.", "far.example.", "192.0.2.1"]
    missing = await ask(port, "out.lab.internal", "TXT", tcp=tcp)
    assert missing.rcode() == dns.rcode.NOERROR and missing.authority[0].name.to_text() == "test."


async def test_cname_loops_end_in_servfail(resolver: StartResolver, upstream: StartUpstream) -> None:
    up = upstream("normal")
    port = (await resolver(upstreams=(up.address,), zones=(LAB, OTHER), upstream_timeout=10.0)).bound[0][1]
    for name in ("looping.lab.internal", "ping.lab.internal", "loop1.example"):
        reply = await ask(port, name, "A")
        assert reply.rcode() == dns.rcode.SERVFAIL, name


async def test_an_unfinished_upstream_chain_is_finished_and_cached(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    server = await resolver(upstreams=(up.address,))
    port = server.bound[0][1]
    first = await ask(port, "alias.host.example", "A")
    assert rrset_texts(first) == ["host.example.", "192.0.2.1"] and not first.flags & dns.flags.AA
    again = await ask(port, "alias.host.example", "A")
    assert rrset_texts(again) == ["host.example.", "192.0.2.1"]
    assert server.metrics.cache_hits == 1
    # The target's own "no data" ends the chain, with or without an SOA.
    bare = await ask(port, "alias.bare.example", "A")
    assert bare.rcode() == dns.rcode.NOERROR and rrset_texts(bare) == ["bare.example."]


async def test_lab_zone_apex_ns_and_a_primary_that_exists(resolver: StartResolver) -> None:
    port = (await resolver(zones=(LAB,))).bound[0][1]
    ns = await ask(port, "lab.internal", "NS")
    assert rrset_texts(ns) == ["ns.lab.internal."] and ns.flags & dns.flags.AA
    assert [rr.to_text() for rrset in ns.additional for rr in rrset] == ["127.0.0.1"]
    soa = await ask(port, "lab.internal", "SOA")
    assert soa.answer[0][0].mname.to_text().lower() == "ns.lab.internal."
    assert rrset_texts(await ask(port, "ns.lab.internal", "A")) == ["127.0.0.1"]


async def test_special_use_names_are_answered_locally(resolver: StartResolver) -> None:
    port = (await resolver()).bound[0][1]  # no upstream: nothing is forwarded
    for name in ("localhost", "db.localhost"):
        assert rrset_texts(await ask(port, name, "A")) == ["127.0.0.1"]
        assert rrset_texts(await ask(port, name, "AAAA", tcp=True)) == ["::1"]
    for name in ("invalid", "anything.invalid", "a.b.invalid"):
        reply = await ask(port, name, "A")
        assert reply.rcode() == (dns.rcode.NOERROR if name == "invalid" else dns.rcode.NXDOMAIN)
        assert reply.authority[0].rdtype == dns.rdatatype.SOA
