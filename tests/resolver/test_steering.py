"""Steered names: authoritative CNAME + addresses, letter case, weights, views by source and by ECS."""

from __future__ import annotations

import ipaddress
from collections import Counter
from ipaddress import ip_network

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnsctl.core.decision import DecisionTarget
from dnsctl.core.model import ViewSpec
from dnsctl.resolver import SteeredAnswer, SteeringTable
from dnsctl.resolver.steering import target_answer
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import ask, ecs_option, rrset_texts

FQDN = "myregistry.azurecr.io"
EAST = DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5", "fd00::5"))
WEST = DecisionTarget(None, "myregistry.westeurope.geo.azurecr.io", ("10.2.0.5",))


def table(*targets: DecisionTarget, ttl: int = 30) -> SteeringTable:
    steering = SteeringTable()
    steering.publish(SteeredAnswer(FQDN, ttl, targets or (EAST,)))
    return steering


async def test_a_query_gets_cname_then_addresses_authoritatively(resolver: StartResolver) -> None:
    port = (await resolver(steering=table(ttl=42))).bound[0][1]
    reply = await ask(port, FQDN, "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA and reply.flags & dns.flags.RA
    cname, a = reply.answer
    assert cname.rdtype == dns.rdatatype.CNAME and cname.name.to_text() == FQDN + "."
    assert [r.to_text() for r in cname] == ["myregistry.eastus.geo.azurecr.io."]
    assert a.rdtype == dns.rdatatype.A and [r.to_text() for r in a] == ["10.1.0.5"]
    assert cname.ttl == a.ttl == 42


async def test_aaaa_gets_the_ipv6_addresses_and_cname_query_the_cname_alone(resolver: StartResolver) -> None:
    port = (await resolver(steering=table())).bound[0][1]
    aaaa = await ask(port, FQDN, "AAAA")
    assert rrset_texts(aaaa) == ["myregistry.eastus.geo.azurecr.io.", "fd00::5"]
    cname = await ask(port, FQDN, "CNAME")
    assert [rrset.rdtype for rrset in cname.answer] == [dns.rdatatype.CNAME]
    assert cname.flags & dns.flags.AA


async def test_target_without_ipv6_gets_cname_and_soa_for_aaaa(resolver: StartResolver) -> None:
    port = (await resolver(steering=table(WEST))).bound[0][1]
    reply = await ask(port, FQDN, "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert rrset_texts(reply) == ["myregistry.westeurope.geo.azurecr.io."]
    assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("tcp", [False, True])
async def test_question_is_echoed_in_the_clients_letter_case(resolver: StartResolver, tcp: bool) -> None:
    port = (await resolver(steering=table())).bound[0][1]
    mixed = "MyReGiStRy.AzUrEcR.iO"
    reply = await ask(port, mixed, "A", tcp=tcp)
    assert (
        reply.question[0].name.to_text(omit_final_dot=True) == mixed
    )  # dnspython compares case-insensitively
    assert str(reply.question[0].name) == mixed + "."
    assert "10.1.0.5" in rrset_texts(reply)


async def test_publish_changes_the_answer_of_the_next_query(resolver: StartResolver) -> None:
    steering = table()
    port = (await resolver(steering=steering)).bound[0][1]
    assert "10.1.0.5" in rrset_texts(await ask(port, FQDN, "A"))
    steering.publish(SteeredAnswer(FQDN, 30, (WEST,)))
    assert "10.2.0.5" in rrset_texts(await ask(port, FQDN, "A"))


async def test_weighted_targets_are_picked_by_weight(resolver: StartResolver) -> None:
    steering = SteeringTable()
    heavy = DecisionTarget(None, "heavy.example.", ("10.9.0.1",), weight=3)
    light = DecisionTarget(None, "light.example.", ("10.9.0.2",), weight=1)
    never = DecisionTarget(None, "never.example.", ("10.9.0.3",), weight=0)
    steering.publish(SteeredAnswer(FQDN, 30, (heavy, light, never)))
    port = (await resolver(steering=steering)).bound[0][1]
    seen: Counter[str] = Counter()
    for _ in range(200):
        seen[rrset_texts(await ask(port, FQDN, "A"))[-1]] += 1
    assert seen["10.9.0.3"] == 0
    assert seen["10.9.0.1"] > seen["10.9.0.2"] > 0


async def test_any_query_gets_the_cname_alone(resolver: StartResolver) -> None:
    port = (await resolver(steering=table())).bound[0][1]
    reply = await ask(port, FQDN, "ANY")
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME]


VIEWS = (
    ViewSpec(
        "west",
        (ip_network("127.0.0.2/32"), ip_network("10.2.0.0/16")),
        (("myregistry", ("westeurope", "eastus")),),
    ),
)


def view_table() -> SteeringTable:
    steering = table(EAST)
    steering.publish(SteeredAnswer(FQDN, 30, (WEST,)), view="west")
    return steering


async def test_view_by_source_address(resolver: StartResolver) -> None:
    port = (await resolver(steering=view_table(), views=VIEWS)).bound[0][1]
    assert "10.1.0.5" in rrset_texts(await ask(port, FQDN, "A", source="127.0.0.1"))
    assert "10.2.0.5" in rrset_texts(await ask(port, FQDN, "A", source="127.0.0.2"))


async def test_view_without_its_own_answer_falls_back_to_default(resolver: StartResolver) -> None:
    port = (await resolver(steering=table(EAST), views=VIEWS)).bound[0][1]
    assert "10.1.0.5" in rrset_texts(await ask(port, FQDN, "A", source="127.0.0.2"))


async def test_view_by_edns_client_subnet_sets_the_scope(resolver: StartResolver) -> None:
    port = (await resolver(steering=view_table(), views=VIEWS)).bound[0][1]
    reply = await ask(port, FQDN, "A", use_edns=0, options=[ecs_option("10.2.3.0", 24)])
    assert "10.2.0.5" in rrset_texts(reply)
    (ecs,) = [o for o in reply.options if o.otype == 8]
    assert (ecs.address, ecs.srclen, ecs.scopelen) == ("10.2.3.0", 24, 16)
    outside = await ask(port, FQDN, "A", use_edns=0, options=[ecs_option("192.168.1.0", 24)])
    assert "10.1.0.5" in rrset_texts(outside)
    (ecs,) = [o for o in outside.options if o.otype == 8]
    assert ecs.scopelen == 24


async def test_ecs_on_a_forwarded_name_gets_scope_zero(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    port = (await resolver(views=VIEWS, upstreams=(up.address,))).bound[0][1]
    reply = await ask(port, "host.example", "A", use_edns=0, options=[ecs_option("10.2.3.0", 24)])
    (ecs,) = [o for o in reply.options if o.otype == 8]
    assert ecs.scopelen == 0


async def test_target_without_addresses_is_resolved_upstream_and_cached(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    steering = table(DecisionTarget(None, "replica.example", ()))
    server = await resolver(steering=steering, upstreams=(up.address,))
    port = server.bound[0][1]
    first = await ask(port, FQDN, "A")
    assert first.flags & dns.flags.AA
    assert rrset_texts(first) == ["replica.example.", "192.0.2.1"]
    second = await ask(port, FQDN, "A")
    assert rrset_texts(second) == ["replica.example.", "192.0.2.1"]  # the upstream counter did not move
    assert server.metrics.cache_hits >= 1


def test_publish_rejects_bad_answers() -> None:
    steering = SteeringTable()
    with pytest.raises(ValueError):
        steering.publish(SteeredAnswer(FQDN, 30, ()))
    with pytest.raises(ValueError):
        steering.publish(SteeredAnswer(FQDN, 30, (DecisionTarget(None, "t.example", ("not-an-ip",)),)))
    with pytest.raises(ValueError):
        steering.publish(SteeredAnswer("a" * 64 + ".example", 30, (EAST,)))
    assert steering.names() == ()


def test_table_lookups_by_view() -> None:
    steering = view_table()
    assert steering.names() == (FQDN,)
    assert steering.get(FQDN.upper() + ".") == SteeredAnswer(FQDN, 30, (EAST,))
    assert steering.get(FQDN, "west") == SteeredAnswer(FQDN, 30, (WEST,))
    assert steering.get(FQDN, "elsewhere") == SteeredAnswer(FQDN, 30, (EAST,))


def addresses_of(reply: dns.message.Message, name: str) -> list[str]:
    """The A/AAAA data of `name` in the answer section."""
    owner = dns.name.from_text(name)
    return [
        rr.to_text()
        for rrset in reply.answer
        if rrset.name == owner and rrset.rdtype in (1, 28)
        for rr in rrset
    ]


@pytest.mark.parametrize("tcp", [False, True])
async def test_a_steered_target_asked_directly_gets_the_addresses_of_the_chain(
    resolver: StartResolver, upstream: StartUpstream, tcp: bool
) -> None:
    # What a caching resolver in front does: it asks for the CNAME's target apart. The upstream would
    # answer 192.0.2.N / 2001:db8::N for it; the chain's data must win.
    up = upstream("normal")
    steering = table(EAST, WEST)
    port = (await resolver(steering=steering, upstreams=(up.address,))).bound[0][1]
    for target in (EAST, WEST):
        for rdtype in ("A", "AAAA"):
            direct = await ask(port, target.target, rdtype, tcp=tcp)
            assert direct.rcode() == dns.rcode.NOERROR and direct.flags & dns.flags.AA, (target, rdtype)
            assert [rrset.rdtype for rrset in direct.answer if rrset.rdtype == dns.rdatatype.CNAME] == []
            version = 4 if rdtype == "A" else 6
            expected = [a for a in target.addresses if ipaddress.ip_address(a).version == version]
            assert addresses_of(direct, target.target) == expected, (target, rdtype)
            if expected:
                assert direct.answer[0].ttl == 30
            else:  # an IPv4-only target: "no data" with an SOA above it, not the upstream's AAAA
                assert [r.rdtype for r in direct.authority] == [dns.rdatatype.SOA]
    # The chain, whichever target the weighted draw picks, gives the same addresses for that target.
    for _ in range(12):
        chain = await ask(port, FQDN, "A", tcp=tcp)
        (cname,) = [rrset for rrset in chain.answer if rrset.rdtype == dns.rdatatype.CNAME]
        picked = next(t for t in (EAST, WEST) if t.target + "." == cname[0].to_text())
        direct = await ask(port, picked.target, "A", tcp=tcp)
        assert addresses_of(chain, picked.target) == addresses_of(direct, picked.target)
    # ANY on a target: its addresses; CNAME: "no data".
    any_reply = await ask(port, EAST.target, "ANY", tcp=tcp)
    assert sorted(addresses_of(any_reply, EAST.target)) == sorted(EAST.addresses)
    cname_reply = await ask(port, EAST.target, "CNAME", tcp=tcp)
    assert not cname_reply.answer and [r.rdtype for r in cname_reply.authority] == [dns.rdatatype.SOA]


async def test_an_address_that_goes_down_leaves_the_chain_and_the_direct_answer(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    both = DecisionTarget(None, "myregistry.eastus.geo.azurecr.io", ("10.1.0.5", "10.1.0.6"))
    steering = table(both)
    port = (await resolver(steering=steering, upstreams=(up.address,))).bound[0][1]
    assert addresses_of(await ask(port, FQDN, "A"), both.target) == ["10.1.0.5", "10.1.0.6"]
    assert addresses_of(await ask(port, both.target, "A"), both.target) == ["10.1.0.5", "10.1.0.6"]
    # 10.1.0.5 Degraded: the controller publishes the Online addresses only.
    steering.publish(SteeredAnswer(FQDN, 30, (DecisionTarget(None, both.target, ("10.1.0.6",)),)))
    for tcp in (False, True):
        assert addresses_of(await ask(port, FQDN, "A", tcp=tcp), both.target) == ["10.1.0.6"]
        assert addresses_of(await ask(port, both.target, "A", tcp=tcp), both.target) == ["10.1.0.6"]
    # A failover to a target without addresses: the old target is no longer steered, it is forwarded.
    steering.publish(SteeredAnswer(FQDN, 30, (DecisionTarget(None, "replica.example", ()),)))
    forwarded = await ask(port, both.target, "A")
    assert not forwarded.flags & dns.flags.AA
    assert addresses_of(forwarded, both.target) == ["192.0.2.1"]


async def test_a_target_without_addresses_asked_directly_is_forwarded(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    steering = table(DecisionTarget(None, "replica.example", ()))
    port = (await resolver(steering=steering, upstreams=(up.address,))).bound[0][1]
    direct = await ask(port, "replica.example", "A")
    assert not direct.flags & dns.flags.AA and rrset_texts(direct) == ["192.0.2.1"]


async def test_a_target_steered_in_a_view_only_is_answered_for_every_client(resolver: StartResolver) -> None:
    port = (await resolver(steering=view_table(), views=VIEWS)).bound[0][1]
    for source in ("127.0.0.1", "127.0.0.2"):
        for target in (EAST, WEST):
            reply = await ask(port, target.target, "A", source=source)
            assert addresses_of(reply, target.target) == [a for a in target.addresses if "." in a], source


def test_target_answers_skip_steered_names_and_targets_without_addresses() -> None:
    steering = table(
        EAST,
        DecisionTarget(None, "replica.example", ()),
        DecisionTarget(None, "other.azurecr.io", ("10.9.0.1",)),
    )
    steering.publish(SteeredAnswer("other.azurecr.io", 30, (WEST,)))
    assert sorted(steering.target_answers()) == [EAST.target, WEST.target]
    assert steering.target_answers()[EAST.target].alias_of == FQDN


async def test_an_endpoint_not_chosen_is_answered_from_its_own_addresses(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    # A cache in front may still hold the CNAME to the endpoint chosen before: its target is answered
    # from its addresses, not forwarded.
    up = upstream("normal")
    steering = table(WEST)
    steering.set_targets(
        [
            target_answer(FQDN, 30, EAST.target, ("10.1.0.5",)),
            target_answer(FQDN, 30, WEST.target, ("10.9.9.9",)),
        ]
    )
    port = (await resolver(steering=steering, upstreams=(up.address,))).bound[0][1]
    east = await ask(port, EAST.target, "A")
    assert east.flags & dns.flags.AA and addresses_of(east, EAST.target) == ["10.1.0.5"]
    # The chosen one is answered from the published answer, the chain's own data.
    assert addresses_of(await ask(port, WEST.target, "A"), WEST.target) == ["10.2.0.5"]
    rendered = steering.rendered
    steering.set_targets(
        [
            target_answer(FQDN, 30, EAST.target, ("10.1.0.5",)),
            target_answer(FQDN, 30, WEST.target, ("10.9.9.9",)),
        ]
    )
    assert steering.rendered is rendered  # no change, no rebuild
    steering.set_targets([])
    assert addresses_of(await ask(port, EAST.target, "A"), EAST.target) == ["192.0.2.1"]  # forwarded again
