"""The largest reply sent over UDP, whatever buffer size the client announces.

1232 bytes (DNS flag day 2020) fits any path without fragmentation, and bounds what one small query
spoofed with a victim's address can reflect onto it (a 42-byte query asking for a 4 KB answer would
otherwise be amplified about 97 times). A larger reply goes out truncated (TC, the question and the OPT
only) and a real client asks again over TCP.
"""

from __future__ import annotations

from struct import pack, unpack_from

from dnsctl.resolver.wire import HEADER_LEN, TC, TYPE_OPT, skip_name, walk_records

UDP_REPLY_LIMIT = 1232


def capped(reply: bytes) -> bytes:
    """`reply` itself when it fits in UDP_REPLY_LIMIT, else its truncated form."""
    return reply if len(reply) <= UDP_REPLY_LIMIT else truncated_reply(reply)


def truncated_reply(reply: bytes) -> bytes:
    """The reply with TC set and only its question and OPT: never larger than the query it answers."""
    ident, flags, qd, an, ns, ar = unpack_from(">HHHHHH", reply)
    try:
        end = HEADER_LEN
        for _ in range(qd):
            end = skip_name(reply, end) + 4
        opt = b""
        for start, rtype, _, _, record_end in walk_records(reply, end, an + ns + ar):
            if rtype == TYPE_OPT:
                opt = reply[start:record_end]
    except (IndexError, ValueError):
        return pack(">HHHHHH", ident, flags | TC, 0, 0, 0, 0)  # never sent whole, even if unreadable
    return pack(">HHHHHH", ident, flags | TC, qd, 0, 0, 1 if opt else 0) + reply[HEADER_LEN:end] + opt
