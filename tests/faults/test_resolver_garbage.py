"""Malformed packets mixed with real queries, against `dnsctl serve` as a process (steered, lab zone and
forwarded names): every real query is answered, the process stays up, and its error counters add up."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.rcode
import yaml

from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.faults.kit import Replicas, profile, sample, target
from tests.resolver.conftest import UpstreamProcess

StartUpstream = Callable[..., UpstreamProcess]
FQDN = "myregistry.azurecr.io"
FORMERR, NOTIMP = 1, 4
ROUNDS = 8
GARBAGE_IDS = 0xF000  # garbage carries IDs from here; real queries use small ones


def header(ident: int, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


NAME = b"\x07garbage\x07example\x00"
QUESTION = NAME + struct.pack(">HH", 1, 1)
OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)


def garbage() -> list[tuple[str, bytes, int | None]]:
    """(what, packet, the rcode expected back or None when it must be dropped without a reply)."""
    ecs_bad_family = struct.pack(">HHHBB", 8, 5, 9, 8, 0) + b"\x0a"
    cases: list[tuple[str, Callable[[int], bytes], int | None]] = [
        ("empty", lambda i: b"", None),
        ("one byte", lambda i: b"\x01", None),
        ("short header", lambda i: header(i)[:11], None),
        ("a response", lambda i: header(i, flags=0x8180) + QUESTION, None),
        ("no question", lambda i: header(i, qd=0), FORMERR),
        ("two questions", lambda i: header(i, qd=2) + QUESTION + QUESTION, FORMERR),
        ("compressed question", lambda i: header(i) + b"\xc0\x0c" + QUESTION[-4:], FORMERR),
        ("label past the end", lambda i: header(i) + b"\x3fabc", FORMERR),
        ("name too long", lambda i: header(i) + (b"\x3f" + b"a" * 63) * 5 + b"\x00" + QUESTION[-4:], FORMERR),
        ("question cut short", lambda i: header(i) + NAME + b"\x00", FORMERR),
        ("OPT as the question", lambda i: header(i) + NAME + struct.pack(">HH", 41, 1), FORMERR),
        ("OPT not at the root", lambda i: header(i, ar=1) + QUESTION + b"\x01a" + OPT, FORMERR),
        ("two OPTs", lambda i: header(i, ar=2) + QUESTION + OPT + OPT, FORMERR),
        (
            "ECS of no family",
            lambda i: (
                header(i, ar=1)
                + QUESTION
                + OPT[:-2]
                + struct.pack(">H", len(ecs_bad_family))
                + ecs_bad_family
            ),
            FORMERR,
        ),
        ("additional cut short", lambda i: header(i, ar=1) + QUESTION + OPT[:5], FORMERR),
        ("opcode UPDATE", lambda i: header(i, flags=5 << 11) + QUESTION, NOTIMP),
        ("opcode STATUS", lambda i: header(i, flags=2 << 11) + QUESTION, NOTIMP),
    ]
    return [(what, make(GARBAGE_IDS + n), rcode) for n, (what, make, rcode) in enumerate(cases)]


def real_queries() -> list[dns.message.Message]:
    """Per round: the steered name (A and AAAA), a lab-zone name and a forwarded name; each its own ID."""
    out: list[dns.message.Message] = []
    for r in range(ROUNDS):
        for name, rdtype in (
            (FQDN, "A"),
            ("www.lab.internal", "A"),
            (f"fwd{r}.example", "A"),
            (FQDN, "AAAA"),
        ):
            q = dns.message.make_query(name, rdtype)
            q.id = len(out) + 1
            out.append(q)
    return out


def check_real(query: dns.message.Message, reply: dns.message.Message) -> None:
    name = str(query.question[0].name).rstrip(".")
    assert reply.rcode() == dns.rcode.NOERROR, (name, reply)
    texts = [rr.to_text() for rrset in reply.answer for rr in rrset]
    if name == FQDN and query.question[0].rdtype == 1:
        assert texts[0] == target(FQDN.split(".")[0], "eastus") + "." and texts[-1] == "127.0.0.2"
    elif name == "www.lab.internal":
        assert texts == ["lab.internal.", "10.0.0.1"]
    elif name.startswith("fwd"):
        assert texts and texts[0].startswith("192.0.2.")


async def exchange_udp(port: int, packets: list[bytes], want: set[int]) -> dict[int, bytes]:
    """Send everything from one socket, keep every reply by ID, until `want` are all in and it goes quiet."""
    loop = asyncio.get_running_loop()
    replies: dict[int, bytes] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        for packet in packets:
            await loop.sock_sendto(sock, packet, ("127.0.0.1", port))
            await asyncio.sleep(0.001)  # a paced client: this test is about content, not volume
        deadline = loop.time() + 10
        while loop.time() < deadline:
            quiet = 0.3 if want <= replies.keys() else deadline - loop.time()
            try:
                data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), quiet)
            except TimeoutError:
                break
            replies[struct.unpack(">H", data[:2])[0]] = data
    return replies


def closes_tcp(packet: bytes) -> bool:
    """Frames after which the server closes a TCP connection: no DNS header, or a response."""
    return len(packet) < 12 or bool(packet[2] & 0x80)


async def exchange_tcp(port: int, packets: list[bytes], want: set[int]) -> dict[int, bytes]:
    """Pipeline the packets over TCP; a frame that closes the connection ends its session (nothing after
    it on that connection is read) and the rest go on a new one."""
    replies: dict[int, bytes] = {}
    session: list[bytes] = []
    for packet in packets:
        session.append(packet)
        if closes_tcp(packet):
            await _tcp_session(port, session, replies)
            session = []
    if session:
        await _tcp_session(port, session, replies)
    return replies


async def _tcp_session(port: int, packets: list[bytes], replies: dict[int, bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for packet in packets:
            writer.write(struct.pack(">H", len(packet)) + packet)
        await writer.drain()
        # Read until the server closes (after a closing frame) or every answerable frame is answered.
        owed = sum(1 for p in packets if not closes_tcp(p))
        got = 0
        while got < owed or closes_tcp(packets[-1]):
            try:
                head = await asyncio.wait_for(reader.readexactly(2), 10)
            except asyncio.IncompleteReadError as exc:
                assert closes_tcp(packets[-1]) and not exc.partial, "closed early"
                break
            data = await asyncio.wait_for(reader.readexactly(struct.unpack(">H", head)[0]), 10)
            replies[struct.unpack(">H", data[:2])[0]] = data
            got += 1
        assert got == owed, (got, owed)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def test_malformed_packets_mixed_with_real_queries(
    tmp_path: Path, replicas: Replicas, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    dns_port, admin_port = free_port(), free_port()
    steered = profile(FQDN.split(".")[0], replicas, fall=2)
    del steered["azure"]
    doc = {
        "profiles": [steered],
        "resolver": {
            "listen": [f"127.0.0.1:{dns_port}"],
            "upstreams": [f"127.0.0.1:{up.port}"],
            "upstream_timeout": "1s",
            "zones": [
                {
                    "name": "lab.internal",
                    "records": [
                        {"name": "@", "type": "A", "value": "10.0.0.1"},
                        {"name": "www", "type": "CNAME", "value": "lab.internal."},
                    ],
                }
            ],
        },
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
    }
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    bad = garbage()
    queries = real_queries()
    packets: list[bytes] = []
    for i, q in enumerate(queries):  # garbage before and between every real query
        packets += [bad[i % len(bad)][1], bad[(i + 7) % len(bad)][1], q.to_wire()]
    sent_bad = [bad[i % len(bad)] for i in range(len(queries))] + [
        bad[(i + 7) % len(bad)] for i in range(len(queries))
    ]
    want = {q.id for q in queries}

    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        for transport in (exchange_udp, exchange_tcp):
            replies = asyncio.run(transport(dns_port, packets, want))
            for q in queries:
                assert q.id in replies, f"{transport.__name__}: no answer to {q.question[0]}"
                check_real(q, dns.message.from_wire(replies[q.id]))
            for what, packet, rcode in bad:
                ident = struct.unpack(">H", packet[:2])[0] if len(packet) >= 2 else None
                got = replies.get(ident) if ident is not None and ident >= GARBAGE_IDS else None
                if rcode is None:
                    assert got is None, f"{transport.__name__}: {what} was answered"
                else:
                    assert got is not None and got[3] & 0xF == rcode, f"{transport.__name__}: {what}"
            assert d.proc is not None and d.proc.poll() is None

        metrics = d.get("/metrics").text
        expected_malformed = 2 * sum(1 for _, _, rcode in sent_bad if rcode is not None)
        expected_dropped = 2 * sum(1 for _, _, rcode in sent_bad if rcode is None)
        assert sample(metrics, "dnsctl_resolver_malformed_total") == expected_malformed
        assert sample(metrics, "dnsctl_resolver_dropped_total") == expected_dropped
        assert sample(metrics, "dnsctl_resolver_internal_errors_total") == 0
        assert d.get("/healthz").status_code == 200
        assert d.terminate() == 0
