"""ISC genreport's EDNS compliance checks (DNS-Compliance-Testing) against the steered name of a real
`dnsctl serve`, written as tests: the -f (full), -c (common) and -t (type) sets, over UDP and TCP.

Each check is a query built byte by byte as genreport builds it (header flags, opcode, EDNS version,
buffer size, EDNS flags and options); its reply passes when:
- it answers the query: same ID, QR set, the opcode and the question echoed; the header's Z bit clear;
- EDNS: no OPT when the query had none; otherwise exactly one, version 0, no EDNS flag set but DO, DO
  echoed when asked (RFC 3225), no unknown option echoed (option 100), a COOKIE echoed only with the
  client's 8 bytes first and 16 to 40 bytes long, an ECS echoed only for the family and source asked;
- the rcode is the check's: BADVERS with no answer for EDNS version 1, NOTIMP for opcode 15, otherwise
  NOERROR (never SERVFAIL/REFUSED/FORMERR);
- RD is echoed when set, with RA (a recursive server); AD is not set (dnsctl does not validate);
- a UDP reply is not truncated unless genreport ignores TC (edns@512), and then fits 512 bytes; a TCP
  reply is never truncated;
- an answer for the steered name is its CNAME (the chain's first record) and, when the chain ends without
  data of the type asked, a SOA in authority owned by a zone above the chain's last name, never by the
  steered name itself (genreport's "nosoa": the CNAME owner is no zone apex).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from tests.e2e.conftest import Replicas
from tests.e2e.test_serve_behind_unbound import FQDN, serving

NSID = b"\x00\x03\x00\x00"
ECS = b"\x00\x08\x00\x04\x00\x01\x00\x00"  # IPv4, source /0
EXPIRE = b"\x00\x09\x00\x00"
COOKIE = b"\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08"
OPT100 = b"\x00\x64\x00\x00"

RD, TC, AA, RA, Z, AD, CD = 0x0100, 0x0200, 0x0400, 0x0080, 0x0040, 0x0020, 0x0010
DO = 0x8000


@dataclass(frozen=True)
class Check:
    name: str
    qtype: int = dns.rdatatype.SOA
    flags: int = 0  # header flags set in the query
    opcode: int = 0
    size: int | None = None  # EDNS buffer size; None: no EDNS
    version: int = 0
    eflags: int = 0
    options: bytes = b""
    tcp: bool = False
    ignore_tc: bool = False


ALL_FLAGS = TC | RD | RA | CD | AD | AA | Z
EDNS_CHECKS = [
    Check("edns", size=4096),
    Check("edns1", size=4096, version=1),
    Check("edns@512", dns.rdatatype.DNSKEY, size=512, eflags=DO, ignore_tc=True),
    Check("ednsopt", size=4096, options=OPT100),
    Check("edns1opt", size=4096, version=1, options=OPT100),
    Check("do", size=4096, eflags=DO),
    Check("ednsflags", size=4096, eflags=0x0080),
    Check("optlist", size=4096, options=NSID + ECS + EXPIRE + COOKIE),
    Check("ednstcp", dns.rdatatype.DNSKEY, size=512, eflags=DO, tcp=True),
]
COMMON = [
    Check("dns"),
    *EDNS_CHECKS,
    Check("bind11", size=4096, eflags=DO, options=COOKIE),
    Check("dig11", flags=RD | AD, size=4096, options=COOKIE),
]
FULL = [
    Check("dns"),
    Check("aa", flags=AA),
    Check("ad", flags=AD),
    Check("cd", flags=CD),
    Check("ra", flags=RA),
    Check("rd", flags=RD),
    Check("tc", flags=TC),
    Check("zflag", flags=Z),
    Check("opcode", qtype=0, opcode=15),
    Check("opcodeflg", qtype=0, opcode=15, flags=ALL_FLAGS),
    Check("type666", 666),
    Check("tcp", tcp=True),
    *EDNS_CHECKS,
    Check("docd", flags=CD, size=4096, eflags=DO),
    Check("edns1do", size=4096, version=1, eflags=DO),
    Check("ednsnsid", size=4096, options=NSID),
    Check("ednscookie", size=4096, options=COOKIE),
    Check("ednsexpire", size=4096, options=EXPIRE),
    Check("ednssubnet", size=4096, options=ECS),
    Check("edns1nsid", size=4096, version=1, options=NSID),
    Check("edns1cookie", size=4096, version=1, options=COOKIE),
    Check("edns1expire", size=4096, version=1, options=EXPIRE),
    Check("edns1subnet", size=4096, version=1, options=ECS),
]
# genreport -t: every type it lists, asked without EDNS.
TYPES = [
    *[
        "A",
        "NS",
        "MD",
        "MF",
        "CNAME",
        "SOA",
        "MB",
        "MG",
        "MR",
        "NULL",
        "WKS",
        "PTR",
        "HINFO",
        "MINFO",
        "MX",
        "TXT",
        "RP",
        "AFSDB",
        "X25",
        "ISDN",
        "RT",
        "NSAP",
    ],
    *[
        "NSAP-PTR",
        "SIG",
        "KEY",
        "PX",
        "GPOS",
        "AAAA",
        "LOC",
        "NXT",
        "SRV",
        "NAPTR",
        "KX",
        "CERT",
        "A6",
        "DNAME",
        "APL",
        "DS",
        "SSHFP",
        "IPSECKEY",
        "RRSIG",
    ],
    *[
        "NSEC",
        "DNSKEY",
        "DHCID",
        "NSEC3",
        "NSEC3PARAM",
        "TLSA",
        "SMIMEA",
        "HIP",
        "CDS",
        "CDNSKEY",
        "OPENPGPKEY",
        "SPF",
        "NID",
        "L32",
        "L64",
        "LP",
    ],
    *["EUI48", "EUI64", "URI", "CAA", "AVC", "DOA", "DLV"],
]
TYPE_CODES = {"SMIMEA": 53, "NID": 104, "L32": 105, "L64": 106, "LP": 107, "AVC": 258, "DOA": 259}
TYPE_CHECKS = [Check(name, TYPE_CODES.get(name) or int(dns.rdatatype.from_text(name))) for name in TYPES] + [
    Check("TYPE1000", 1000)
]


def wire(check: Check, ident: int) -> bytes:
    flags = check.flags | (check.opcode << 11)
    has_question = check.opcode == 0
    arcount = 1 if check.size is not None else 0
    header = struct.pack(">HHHHHH", ident, flags, int(has_question), 0, 0, arcount)
    question = (
        cast(bytes, dns.name.from_text(FQDN).to_wire()) + struct.pack(">HH", check.qtype, 1)
        if has_question
        else b""
    )
    opt = b""
    if check.size is not None:
        opt = b"\x00" + struct.pack(
            ">HHBBHH", 41, check.size, 0, check.version, check.eflags, len(check.options)
        )
        opt += check.options
    return header + question + opt


def exchange(port: int, query: bytes, tcp: bool) -> bytes:
    if tcp:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(struct.pack(">H", len(query)) + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = conn.recv(65535)
                assert chunk, "connection closed before the reply"
                data += chunk
            return data[2:]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for _ in range(5):  # a loaded machine: the query sent again, as genreport does
            sock.sendto(query, ("127.0.0.1", port))
            try:
                while True:
                    reply, _ = sock.recvfrom(65535)
                    if reply[:2] == query[:2]:
                        return reply
            except TimeoutError:
                continue
    raise AssertionError("no reply")


def problems(check: Check, query: bytes, reply: bytes) -> list[str]:
    found: list[str] = []
    ident, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", reply[:12])
    if ident != struct.unpack(">H", query[:2])[0]:
        found.append("id")
    if not flags & 0x8000:
        found.append("qr")
    if (flags >> 11) & 0xF != check.opcode:
        found.append("opcode")
    if flags & Z:
        found.append("z")
    if check.opcode != 0:
        if flags & 0xF != dns.rcode.NOTIMP:
            found.append(f"rcode {flags & 0xF} (expected NOTIMP)")
        if flags & (AA | TC | AD):
            found.append("flags set on NOTIMP")
        return found
    qlen = len(query) - 12 - (11 + len(check.options) if check.size is not None else 0)
    if qd != 1 or reply[12 : 12 + qlen].lower() != query[12 : 12 + qlen].lower():
        found.append("question")
    if flags & TC and not (check.ignore_tc and not check.tcp):
        found.append("tc")
    if check.ignore_tc and not check.tcp and len(reply) > 512:
        found.append(f"{len(reply)} bytes over a 512-byte buffer")
    if check.flags & RD and not (flags & RD and flags & RA):
        found.append("rd/ra")
    if flags & AD:
        found.append("ad")
    message = dns.message.from_wire(reply, ignore_trailing=True, one_rr_per_rrset=False)
    rcode = message.rcode()
    if check.size is None:
        if message.opt is not None:
            found.append("opt in a reply to a query without one")
        expected = dns.rcode.NOERROR
    else:
        if message.opt is None:
            return [*found, "no opt"]
        if message.edns != 0:
            found.append(f"edns version {message.edns}")
        if message.ednsflags & 0xFFFF & ~DO:
            found.append(f"edns flags {message.ednsflags & 0xFFFF:#06x}")
        if bool(message.ednsflags & DO) != bool(check.eflags & DO):
            found.append("do not echoed" if check.eflags & DO else "do set")
        for option in message.options:
            payload = option.to_wire()
            if option.otype == 10:
                if not (COOKIE in check.options and payload[:8] == COOKIE[4:] and 16 <= len(payload) <= 40):
                    found.append("cookie")
            elif option.otype == 8:
                if not (ECS in check.options and payload[:3] == ECS[4:7]):
                    found.append("ecs")
            elif option.otype not in (3, 9) or struct.pack(">HH", option.otype, 0) not in check.options:
                found.append(f"option {option.otype} echoed")
        expected = dns.rcode.BADVERS if check.version else dns.rcode.NOERROR
    if rcode != expected:
        return [*found, f"rcode {dns.rcode.to_text(rcode)} (expected {dns.rcode.to_text(expected)})"]
    if expected == dns.rcode.BADVERS:
        if an:
            found.append("answer with BADVERS")
        return found
    owner = dns.name.from_text(FQDN)
    if (
        not message.answer
        or message.answer[0].name != owner
        or message.answer[0].rdtype != dns.rdatatype.CNAME
    ):
        return [*found, "no CNAME of the steered name first"]
    last = message.answer[-1]
    ends_with_data = last.rdtype == check.qtype or check.qtype == dns.rdatatype.CNAME
    if not ends_with_data:
        end = last[0].target if last.rdtype == dns.rdatatype.CNAME else last.name
        soas = [rrset for rrset in message.authority if rrset.rdtype == dns.rdatatype.SOA]
        if len(soas) != 1:
            found.append("nosoa")
        elif soas[0].name == owner or not end.is_subdomain(soas[0].name):
            found.append(f"soa owned by {soas[0].name}")
    return found


def run(port: int, checks: list[Check], tcp: bool = False) -> dict[str, list[str]]:
    report = {}
    for ident, check in enumerate(checks, start=1000):
        query = wire(check, ident)
        report[check.name] = problems(check, query, exchange(port, query, tcp or check.tcp))
    return report


@pytest.mark.parametrize("mode", ["-f", "-c", "-t", "-t over TCP"])
def test_genreport_is_ok_for_the_steered_name(tmp_path: Path, replicas: Replicas, mode: str) -> None:
    checks = {"-f": FULL, "-c": COMMON, "-t": TYPE_CHECKS, "-t over TCP": TYPE_CHECKS}[mode]
    with serving(tmp_path, replicas) as (_, dns_port):
        report = run(dns_port, checks, tcp=mode.endswith("TCP"))
    failed = {name: found for name, found in report.items() if found}
    print(f"genreport {mode}: {len(report) - len(failed)}/{len(report)} ok")
    assert not failed
