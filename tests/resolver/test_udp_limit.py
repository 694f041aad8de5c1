"""No UDP reply over 1232 bytes: a larger one goes out truncated, with its question and OPT."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rrset

from dnsctl.resolver.udp_limit import UDP_REPLY_LIMIT, capped


def big_reply(*, edns: bool) -> bytes:
    query = dns.message.make_query(
        "big.example",
        "TXT",
        use_edns=0 if edns else False,
        payload=4096,
        options=[dns.edns.ECSOption("10.1.2.0", 24)] if edns else None,
    )
    reply = dns.message.make_response(query)
    if edns:
        reply.use_edns(0, payload=1232, options=[dns.edns.ECSOption("10.1.2.0", 24, 24)])
    reply.answer.append(
        dns.rrset.from_text_list(
            "big.example.", 60, "IN", "TXT", [f'"{i:03d}{"x" * 200}"' for i in range(20)]
        )
    )
    return reply.to_wire(max_size=65535)


def test_a_reply_that_fits_is_sent_as_it_is() -> None:
    small = dns.message.make_response(dns.message.make_query("a.example", "A")).to_wire()
    assert capped(small) is small


def test_a_larger_reply_is_truncated_to_its_question_and_opt() -> None:
    for edns in (False, True):
        wire = big_reply(edns=edns)
        assert len(wire) > UDP_REPLY_LIMIT
        out = capped(wire)
        assert len(out) <= UDP_REPLY_LIMIT
        message = dns.message.from_wire(out)
        assert message.flags & dns.flags.TC and not message.answer
        assert message.id == dns.message.from_wire(wire).id
        assert str(message.question[0].name) == "big.example."
        assert (message.edns == 0) == edns
        if edns:
            assert any(isinstance(o, dns.edns.ECSOption) for o in message.options)


def test_an_unreadable_oversized_reply_is_still_never_sent_whole() -> None:
    out = capped(b"\x12\x34\x81\x80" + b"\x00\x01\x00\x05\x00\x00\x00\x00" + b"\xff" * 2000)
    assert len(out) == 12 and out[:2] == b"\x12\x34" and out[2] & 0x02
