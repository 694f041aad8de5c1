"""DNS wire format for the query path: strict query parsing, small replies and record walking.

Parsing is done by hand rather than with dnslib because it runs for every packet: it must be cheap,
must keep the client's question bytes exactly (0x20 letter case) and must reject garbage precisely.
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import pack, unpack_from

HEADER_LEN = 12

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010
OPCODE_MASK = 0x7800
# RD and CD are copied from the query into every reply.
COPIED_FLAGS = RD | CD

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_HINFO = 13
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_DNAME = 39
TYPE_OPT = 41
TYPE_DS = 43
TYPE_RRSIG = 46
TYPE_NSEC = 47
TYPE_DNSKEY = 48
TYPE_NSEC3 = 50
TYPE_SVCB = 64
TYPE_HTTPS = 65
TYPE_IXFR = 251
TYPE_AXFR = 252
TYPE_ANY = 255
CLASS_IN = 1

OPTION_ECS = 8

# What we accept over UDP (DNS flag day 2020) and the most we ever send in one datagram.
OUR_UDP_SIZE = 1232
MAX_UDP_REPLY = 4096
PLAIN_UDP_SIZE = 512
TCP_MAX = 65535


class Malformed(Exception):
    """The packet cannot be answered normally: reply with `rcode` (header only), or drop it when None."""

    def __init__(self, rcode: int | None) -> None:
        super().__init__(rcode)
        self.rcode = rcode


class ClientSubnet:
    """An EDNS Client Subnet option (RFC 7871) as sent by the client."""

    __slots__ = ("address", "family", "source")

    def __init__(self, family: int, source: int, address: bytes) -> None:
        self.family = family
        self.source = source
        self.address = address

    def option(self, scope: int) -> bytes:
        """The option to echo in the reply, with `scope` as SCOPE PREFIX-LENGTH."""
        return (
            pack(">HHHBB", OPTION_ECS, 4 + len(self.address), self.family, self.source, scope) + self.address
        )


class Query:
    """One parsed query. `qname` is the client's name bytes as sent; `key` is the lower-cased lookup key."""

    __slots__ = (
        "data",
        "do",
        "ecs",
        "edns",
        "flags",
        "key",
        "limit",
        "qend",
        "qname",
        "qtype",
        "scope",
        "version",
        "view",
    )

    data: bytes
    flags: int
    qname: bytes
    qend: int  # offset of QTYPE, just after the name
    key: bytes  # lower-cased name + QTYPE + QCLASS
    qtype: int
    edns: bool
    version: int
    do: bool
    ecs: ClientSubnet | None
    limit: int  # largest UDP reply the client takes
    view: str | None  # set by the server: the view the client is in
    scope: int  # set by the server: ECS scope prefix length for a steered answer

    @property
    def qclass(self) -> int:
        return (self.data[self.qend + 2] << 8) | self.data[self.qend + 3]

    @property
    def question(self) -> bytes:
        """The question section exactly as the client sent it."""
        return self.data[HEADER_LEN : self.qend + 4]


def skip_name(data: bytes | bytearray, pos: int) -> int:
    """Offset just past the (possibly compressed) name at `pos`; raises IndexError/ValueError on garbage."""
    for _ in range(128):
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > len(data):
                raise IndexError(pos)
            return pos + 2
        if length > 63:
            raise ValueError("bad label type")
        pos += length + 1
    raise ValueError("name too long")


def walk_records(data: bytes | bytearray, pos: int, count: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (start, rtype, ttl_offset, rdata_start, end) for `count` records from `pos`."""
    n = len(data)
    for _ in range(count):
        name_end = skip_name(data, pos)
        if name_end + 10 > n:
            raise IndexError(name_end)
        rtype = (data[name_end] << 8) | data[name_end + 1]
        rdlen = (data[name_end + 8] << 8) | data[name_end + 9]
        end = name_end + 10 + rdlen
        if end > n:
            raise IndexError(end)
        yield pos, rtype, name_end + 4, name_end + 10, end
        pos = end


def parse_query(data: bytes) -> Query:
    """Parse a query strictly; raise Malformed for anything that must not be answered normally."""
    n = len(data)
    if n < HEADER_LEN:
        raise Malformed(None)
    flags = (data[2] << 8) | data[3]
    if flags & QR:
        raise Malformed(None)  # a response: answering it could start a loop between servers
    if flags & OPCODE_MASK:
        raise Malformed(NOTIMP)
    qd, an, ns, ar = unpack_from(">HHHH", data, 4)
    if qd != 1:
        raise Malformed(FORMERR)
    pos = HEADER_LEN
    try:
        while True:
            length = data[pos]
            if length == 0:
                break
            if length > 63:
                raise Malformed(FORMERR)  # compression or extended labels have no place in a question
            pos += length + 1
        pos += 1
    except IndexError:
        raise Malformed(FORMERR) from None
    if pos - HEADER_LEN > 255 or pos + 4 > n:
        raise Malformed(FORMERR)
    qtype = (data[pos] << 8) | data[pos + 1]
    if qtype == TYPE_OPT:
        raise Malformed(FORMERR)
    q = Query()
    q.data = data
    q.flags = flags
    q.qend = pos
    q.qname = data[HEADER_LEN:pos]
    q.key = q.qname.lower() + data[pos : pos + 4]
    q.qtype = qtype
    q.edns = False
    q.version = 0
    q.do = False
    q.ecs = None
    q.limit = PLAIN_UDP_SIZE
    q.view = None
    q.scope = 0
    if an == 0 and ns == 0 and ar == 0:
        return q
    try:
        pos += 4
        for *_, end in walk_records(data, pos, an + ns):
            pos = end
        for start, rtype, ttl_off, rdata, end in walk_records(data, pos, ar):
            if rtype != TYPE_OPT:
                continue
            if q.edns or data[start] != 0:
                raise Malformed(FORMERR)  # RFC 6891 6.1.1: one OPT, owned by the root
            q.edns = True
            size = (data[ttl_off - 2] << 8) | data[ttl_off - 1]
            q.limit = min(max(size, PLAIN_UDP_SIZE), MAX_UDP_REPLY)
            q.version = data[ttl_off + 1]
            q.do = bool(data[ttl_off + 2] & 0x80)
            q.ecs = _parse_options(data, rdata, end)
    except (IndexError, ValueError):
        raise Malformed(FORMERR) from None
    return q


def _parse_options(data: bytes, pos: int, end: int) -> ClientSubnet | None:
    ecs: ClientSubnet | None = None
    while pos < end:
        if pos + 4 > end:
            raise Malformed(FORMERR)
        code, length = unpack_from(">HH", data, pos)
        pos += 4
        if pos + length > end:
            raise Malformed(FORMERR)
        if code == OPTION_ECS:
            if ecs is not None or length < 4:
                raise Malformed(FORMERR)
            family, source = unpack_from(">HB", data, pos)
            address = data[pos + 4 : pos + length]
            max_bits = {1: 32, 2: 128}.get(family)
            if max_bits is None or source > max_bits or len(address) != (source + 7) // 8:
                raise Malformed(FORMERR)
            ecs = ClientSubnet(family, source, address)
        pos += length
    return ecs


def opt_record(do: bool, ext_rcode: int = 0, options: bytes = b"", *, size: int = OUR_UDP_SIZE) -> bytes:
    """Our OPT pseudo-record (version 0), copying the client's DO bit as RFC 3225 asks."""
    head = pack(">BHHBBHH", 0, TYPE_OPT, size, ext_rcode, 0, 0x8000 if do else 0, len(options))
    return head + options


def header_reply(data: bytes, rcode: int) -> bytes:
    """A header-only reply (FORMERR, NOTIMP) keeping the ID, opcode and RD of whatever was sent.

    FORMERR answers a QUERY, so RA and CD keep their QUERY meaning (as unbound does). NOTIMP answers an
    opcode we do not implement: RA, CD and AD are defined for QUERY only (RFC 6895 2), so they stay
    clear; RD is copied as RFC 1035 4.1.1 says for every response.
    """
    flags = (data[2] << 8) | data[3]
    if rcode == NOTIMP:
        out = QR | (flags & (OPCODE_MASK | RD)) | rcode
    else:
        out = QR | RA | (flags & (OPCODE_MASK | RD | CD)) | rcode
    return data[:2] + pack(">HHHHH", out, 0, 0, 0, 0)


def question_reply(q: Query, rcode: int, *, opt: bytes = b"", extra_flags: int = 0) -> bytes:
    """A reply with the question echoed and no records (REFUSED, SERVFAIL, TC, BADVERS)."""
    flags = QR | RA | (q.flags & COPIED_FLAGS) | extra_flags | (rcode & 0xF)
    return q.data[:2] + pack(">HHHHH", flags, 1, 0, 0, 1 if opt else 0) + q.question + opt


def encode_name(name: str) -> bytes:
    """Uncompressed wire form of an ASCII domain name (trailing dot optional)."""
    labels = [label for label in name.rstrip(".").split(".") if label] if name not in ("", ".") else []
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii")
        if not 0 < len(raw) <= 63:
            raise ValueError(f"bad label in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name too long: {name!r}")
    return bytes(out)


def lookup_key(name: str, qtype: int, qclass: int = CLASS_IN) -> bytes:
    """The key the query path computes for (name, qtype), from a name written as text."""
    return encode_name(name.lower()) + pack(">HH", qtype, qclass)


# Types whose RDATA may hold compressed names (RFC 3597 4): their names are expanded when a record is
# copied out of its message. Any other type's RDATA is position-independent and copied as it is.
_NAMES_IN_RDATA = {
    TYPE_NS: (0,),
    3: (0,),  # MD
    4: (0,),  # MF
    TYPE_CNAME: (0,),
    TYPE_SOA: (0, 1),
    7: (0,),  # MB
    8: (0,),  # MG
    9: (0,),  # MR
    12: (0,),  # PTR
    14: (0, 1),  # MINFO
    TYPE_MX: (2,),
    TYPE_DNAME: (0,),
}


def read_name(data: bytes | bytearray, pos: int) -> tuple[bytes, int]:
    """The uncompressed wire form of the name at `pos` and the offset just past it in `data`."""
    out = bytearray()
    end = -1
    for _ in range(128):
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = pos + 2
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= pos:
                raise ValueError("forward compression pointer")
            pos = target
            continue
        if length > 63:
            raise ValueError("bad label type")
        out += data[pos : pos + length + 1]
        if length == 0:
            if len(out) > 255:
                raise ValueError("name too long")
            return bytes(out), (end if end >= 0 else pos + 1)
        pos += length + 1
    raise ValueError("name too long")


class Record:
    """One resource record with every name uncompressed, so it can be copied into another message."""

    __slots__ = ("owner", "rclass", "rdata", "rtype", "ttl")

    def __init__(self, owner: bytes, rtype: int, rclass: int, ttl: int, rdata: bytes) -> None:
        self.owner = owner
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.rdata = rdata

    def wire(self) -> bytes:
        return self.owner + pack(">HHIH", self.rtype, self.rclass, self.ttl, len(self.rdata)) + self.rdata

    def target(self) -> bytes:
        """The lower-cased name a CNAME points at."""
        return self.rdata.lower()


def read_records(data: bytes | bytearray, pos: int, count: int) -> tuple[list[Record], int]:
    """`count` records from `pos`, names expanded; and the offset after them. Raises IndexError/ValueError."""
    records: list[Record] = []
    for _ in range(count):
        owner, pos = read_name(data, pos)
        if pos + 10 > len(data):
            raise IndexError(pos)
        rtype, rclass, ttl, rdlen = unpack_from(">HHIH", data, pos)
        start = pos + 10
        end = start + rdlen
        if end > len(data):
            raise IndexError(end)
        names = _NAMES_IN_RDATA.get(rtype)
        rdata = bytes(data[start:end]) if names is None else _expand_rdata(data, start, end, names)
        records.append(Record(owner, rtype, rclass, ttl, rdata))
        pos = end
    return records, pos


def _expand_rdata(data: bytes | bytearray, start: int, end: int, names: tuple[int, ...]) -> bytes:
    if names == (2,):  # MX: a preference, then the exchange
        name, after = read_name(data, start + 2)
        if after != end:
            raise ValueError("bad MX rdata")
        return bytes(data[start : start + 2]) + name
    out = bytearray()
    pos = start
    for _ in names:
        name, pos = read_name(data, pos)
        out += name
    if pos > end:
        raise ValueError("bad rdata")
    return bytes(out) + bytes(data[pos:end])
