"""A reply as records, for composing CNAME chains that run across steered names, lab zones and upstream.

A local CNAME (a steered name, a lab zone record) can point at a name answered elsewhere, and an upstream
that is not recursive can stop at a CNAME. Stubs (glibc, musl, Go, CoreDNS) do not chase CNAMEs, so the
resolver finishes the chain and sends it as one answer. Records are kept with their names uncompressed,
so a chain is composed by concatenation, whatever its records' types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import pack

from dnsctl.resolver.answer import Answer
from dnsctl.resolver.wire import (
    AA,
    CLASS_IN,
    HEADER_LEN,
    NOERROR,
    SERVFAIL,
    TYPE_ANY,
    TYPE_CNAME,
    TYPE_RRSIG,
    TYPE_SOA,
    Record,
    read_records,
)

# Names a chain may visit before it is given up (SERVFAIL), like a recursive resolver's restart limit.
MAX_CHAIN = 12


@dataclass(slots=True)
class Chain:
    rcode: int
    # The question name is local data (a steered name, a lab zone): AA, which RFC 1035 4.1.1 ties to the
    # question name even when the chain goes on elsewhere.
    local: bool
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)

    @classmethod
    def of(cls, answer: Answer, qname: bytes) -> Chain:
        """The answer and authority records of a rendered Answer (`qname`: its uncompressed name)."""
        message = answer.message(qname)
        records, _ = read_records(message, HEADER_LEN + len(qname) + 4, answer.an + answer.ns)
        return cls(answer.rcode, bool(answer.flags & AA), records[: answer.an], records[answer.an :])

    def unfinished(self, qname: bytes, qtype: int) -> bytes | None:
        """The name the chain stops at when its last CNAME's target was not looked up, else None
        (a name it already visited when it loops).

        An upstream that followed the chain ends it with data, NXDOMAIN, or NODATA with an SOA; one that
        did not (an authoritative server, a lab zone's CNAME out of the zone) leaves the target bare.
        """
        if self.rcode != NOERROR or qtype in (TYPE_CNAME, TYPE_ANY, TYPE_RRSIG):
            return None
        name = qname.lower()
        seen = {name}
        followed = False
        while True:
            cname = None
            for record in self.answers:
                if record.owner.lower() != name:
                    continue
                if record.rtype == qtype:
                    return None
                if record.rtype == TYPE_CNAME:
                    cname = record
            if cname is None:
                break
            name = cname.target()
            followed = True
            if name in seen:
                return name  # a loop: the caller has seen this name already and gives up
            seen.add(name)
        if not followed or any(r.rtype == TYPE_SOA for r in self.authority):
            return None
        return name

    def then(self, rest: Chain) -> Chain:
        """This chain followed by what the name it stopped at resolved to."""
        return Chain(rest.rcode, self.local, self.answers + rest.answers, rest.authority)

    def failed(self) -> Chain:
        return Chain(SERVFAIL, False)

    def answer(self, qname: bytes, qtype: int) -> Answer:
        """Render for the lower-cased `qname`."""
        flags = (AA if self.local else 0) | self.rcode
        body = b"".join(r.wire() for r in self.answers) + b"".join(r.wire() for r in self.authority)
        message = (
            pack(">HHHHHH", 0, flags, 1, len(self.answers), len(self.authority), 0)
            + qname
            + pack(">HH", qtype, CLASS_IN)
            + body
        )
        return Answer.from_message(message, len(qname), flags=flags)
