"""A small upstream DNS server for the forwarding tests, run as a real process on loopback.

    python upstream_server.py --mode normal|silent|truncate|servfail [--port N] [--ttl S] [--soa-minimum S]

Prints "READY <port>" once UDP and TCP listen on the same port. In `normal` mode:
- names starting with "nx" are NXDOMAIN and names starting with "nodata" are NODATA, with an SOA;
- "big" names answer TXT with 40 records (too big for 512 bytes);
- other names answer A 192.0.2.N / AAAA 2001:db8::N, where N counts the queries for that (name, type),
  so a test can tell a cached answer (same N) from a fresh one;
- a name starting with "upper" is answered with the owner name in upper case;
- "echo" names answer TXT with what the query asked: "rd=1 cd=0 do=1 size=1232";
- "signed" names answer A 192.0.2.53 with an RRSIG when DO is set (and NXDOMAIN with an NSEC for
  "nxsigned"), so DNSSEC pass-through can be told apart from stripping;
- "alias" names are answered like an authoritative server that does not chase: the CNAME alone to the
  rest of the name ("alias.host.example" -> "host.example"); "loop" names point at each other;
- "bare" names are NODATA without an SOA;
- "typed" names answer every other type with a record of that type (RDATA 00 01 00, a valid HTTPS).
`silent` never answers; `truncate` sets TC over UDP (no records) and answers fully over TCP;
`servfail` answers SERVFAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
from typing import Any

from dnslib import AAAA, CNAME, NSEC, QTYPE, RCODE, RD, RR, RRSIG, SOA, TXT, A, DNSLabel, DNSRecord


class Upstream:
    def __init__(self, mode: str, ttl: int, soa_minimum: int) -> None:
        self.mode = mode
        self.ttl = ttl
        self.soa_minimum = soa_minimum
        self.counts: dict[tuple[str, int], int] = {}

    def answer(self, data: bytes, over_tcp: bool) -> bytes | None:
        if self.mode == "silent":
            return None
        try:
            query = DNSRecord.parse(data)
        except Exception:
            return None
        reply = query.reply(ra=1, aa=0)
        opt = next((rr for rr in query.ar if rr.rtype == QTYPE.OPT), None)
        do = opt is not None and bool(opt.ttl & 0x8000)
        if query.ar:
            reply.add_ar(RR("", QTYPE.OPT, rclass=1232, ttl=0x8000 if do else 0, rdata=[]))
        if self.mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())
        if self.mode == "truncate" and not over_tcp:
            reply.header.tc = 1
            return bytes(reply.pack())
        qname = query.q.qname
        name = str(qname).lower()
        qtype = query.q.qtype
        soa = RR(
            "test.",
            QTYPE.SOA,
            ttl=3600,
            rdata=SOA("ns.test.", "root.test.", (1, 3600, 600, 86400, self.soa_minimum)),
        )
        if name.startswith("echo") and qtype == QTYPE.TXT:
            size = opt.rclass if opt is not None else 0
            text = f"rd={query.header.rd} cd={int(bool(query.header.bitmap & 0x10))} do={int(do)} size={size}"
            reply.add_answer(RR(qname, QTYPE.TXT, ttl=self.ttl, rdata=TXT(text)))
            return bytes(reply.pack())
        if name.startswith("nxsigned"):
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(soa)
            if do:
                reply.add_auth(RR("test.", QTYPE.NSEC, ttl=3600, rdata=NSEC("zz.test.", ["SOA", "NSEC"])))
                reply.add_auth(RR("test.", QTYPE.RRSIG, ttl=3600, rdata=_rrsig(QTYPE.NSEC)))
            return bytes(reply.pack())
        if name.startswith("signed") and qtype == QTYPE.A:
            reply.add_answer(RR(qname, QTYPE.A, ttl=self.ttl, rdata=A("192.0.2.53")))
            if do:
                reply.add_answer(RR(qname, QTYPE.RRSIG, ttl=self.ttl, rdata=_rrsig(QTYPE.A)))
            return bytes(reply.pack())
        if name.startswith("alias."):
            reply.add_answer(RR(qname, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(name[len("alias.") :])))
            return bytes(reply.pack())
        if name.startswith("loop"):
            other = name.replace("loop1", "loopX").replace("loop2", "loop1").replace("loopX", "loop2")
            reply.add_answer(RR(qname, QTYPE.CNAME, ttl=self.ttl, rdata=CNAME(other)))
            return bytes(reply.pack())
        if name.startswith("typed") and qtype not in (QTYPE.A, QTYPE.AAAA):
            rdata = b"\x00\x01\x01\x00\x35\x00" if qtype == 66 else b"\x00\x01\x00"  # DSYNC has a layout
            reply.add_answer(RR(qname, qtype, ttl=self.ttl, rdata=RD(rdata)))
            return bytes(reply.pack())
        if name.startswith("bare"):
            return bytes(reply.pack())  # NODATA without an SOA, as some resolvers send it
        if name.startswith("nx"):
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(soa)
            return bytes(reply.pack())
        if name.startswith("nodata"):
            reply.add_auth(soa)
            return bytes(reply.pack())
        key = (name, qtype)
        n = self.counts[key] = self.counts.get(key, 0) + 1
        owner: Any = DNSLabel(name.upper()) if name.startswith("upper") else qname
        if name.startswith("big") and qtype == QTYPE.TXT:
            for i in range(40):
                reply.add_answer(RR(owner, QTYPE.TXT, ttl=self.ttl, rdata=TXT(f"record {i:02d} " + "x" * 40)))
        elif qtype == QTYPE.A:
            reply.add_answer(RR(owner, QTYPE.A, ttl=self.ttl, rdata=A(f"192.0.2.{n % 250}")))
        elif qtype == QTYPE.AAAA:
            reply.add_answer(RR(owner, QTYPE.AAAA, ttl=self.ttl, rdata=AAAA(f"2001:db8::{n:x}")))
        else:
            reply.add_auth(soa)
        return bytes(reply.pack())


def _rrsig(covered: int) -> RRSIG:
    return RRSIG(covered, 13, 2, 300, 2000000000, 1700000000, 12345, "test.", b"\x01" * 64)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self.upstream.answer(data, over_tcp=False)
        if reply is not None:
            self.transport.sendto(reply, addr)


def bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket, int]:
    """UDP and TCP on one port; with port 0, draw again while the UDP port is taken for TCP."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, port))
        actual = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, actual))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        return udp, tcp, actual
    raise OSError("no free port")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal", choices=["normal", "silent", "truncate", "servfail"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttl", type=int, default=300)
    parser.add_argument("--soa-minimum", type=int, default=60)
    args = parser.parse_args()
    upstream = Upstream(args.mode, args.ttl, args.soa_minimum)

    async def serve_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack(">H", await reader.readexactly(2))[0]
                reply = upstream.answer(await reader.readexactly(size), over_tcp=True)
                if reply is not None:
                    writer.write(struct.pack(">H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    udp, tcp, port = bind_pair(args.host, args.port)
    await loop.create_datagram_endpoint(lambda: UdpProtocol(upstream), sock=udp)
    server = await asyncio.start_server(serve_tcp, sock=tcp)
    print(f"READY {port}", flush=True)
    # Stop when the test closes our stdin (or kills us): never outlive the test run.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
