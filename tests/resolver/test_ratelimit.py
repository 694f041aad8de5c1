"""Response rate limiting applies to every UDP response on its way out, keyed by the question."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode

from dnsctl.core.model import RateLimitSpec
from dnsctl.resolver.ratelimit import question_of
from tests.resolver.conftest import StartResolver
from tests.resolver.helpers import ManualClock, make_query, raw_udp_burst


def test_the_bucket_key_ignores_letter_case_and_covers_type_and_class() -> None:
    def reply(name: str, rdtype: str = "A") -> bytes:
        return dns.message.make_response(dns.message.make_query(name, rdtype)).to_wire()

    assert question_of(reply("MyReGiStRy.AzureCR.io")) == question_of(reply("myregistry.azurecr.io"))
    assert question_of(reply("myregistry.azurecr.io", "AAAA")) != question_of(reply("myregistry.azurecr.io"))
    assert question_of(bytes.fromhex("abcd81010000000000000000")) == b""  # FORMERR without a question
    assert question_of(bytes.fromhex("abcd8180000100000000000040")) == b""  # a label over 63


async def test_refused_responses_are_limited_too(resolver: StartResolver) -> None:
    """A flood spoofed from outside `allow` reflects no more REFUSED replies than the limit."""
    # The burst is sent from 127.0.0.1, outside this allow-list.
    server = await resolver(
        allow=("127.0.0.2/32",), rate_limit=RateLimitSpec(qps=1, burst=3, slip=0), clock=ManualClock()
    )
    wires = [make_query("a.example", "A").to_wire() for _ in range(10)]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(server.bound[0][1], wires)]
    assert [r.rcode() for r in replies] == [dns.rcode.REFUSED] * 3  # slip 0: the rest dropped
    assert server.metrics.rate_limited == 7 and server.metrics.refused == 10


async def test_answers_from_memory_are_limited_on_the_fast_path(resolver: StartResolver) -> None:
    from tests.resolver.test_transport import steering

    server = await resolver(
        steering=steering(), rate_limit=RateLimitSpec(qps=1, burst=4, slip=1), clock=ManualClock()
    )
    wires = [make_query("myregistry.azurecr.io", "A").to_wire() for _ in range(10)]
    replies = [dns.message.from_wire(r) for r in await raw_udp_burst(server.bound[0][1], wires)]
    answered = [r for r in replies if r.answer]
    truncated = [r for r in replies if r.flags & dns.flags.TC and not r.answer]
    assert (len(answered), len(truncated)) == (4, 6)  # slip 1: every reply over the limit truncated
    assert all(r.rcode() == dns.rcode.NOERROR for r in replies)
