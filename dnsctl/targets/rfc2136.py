"""The RFC 2136 target: dynamic updates (dnspython) to a primary DNS server (BIND, Knot, PowerDNS).

Ownership lives in an owner TXT record beside the name, `_dnsctl.<name>`, holding the profile and a
generation that every write increments. Every update is conditional (RFC 2136 prerequisites): the
owner record still holds the generation read, and the record still holds the value read (value-
dependent "RRset exists"), or does not exist for a create; NXRRSET/YXRRSET is the same "changed since
read" refusal as Azure's 412. A CNAME <-> A switch is one update (delete and add in one transaction).
Every write is read back: PowerDNS answers NOERROR when its update policy rejects a change.
The TSIG secret comes from DNSCTL_TSIG_SECRET only, and is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import (
    MANAGED_BY,
    MANAGED_BY_VALUE,
    PROFILE_KEY,
    Action,
    Capabilities,
    Change,
    Published,
    ReadRecord,
    RecordValue,
)
from dnsctl.core.publication import RecordType, Rfc2136RecordSpec
from dnsctl.errors import TargetError
from dnsctl.targets.base import NOT_HOLDER, ChangeResult, Outcome, WriteGuard, apply_in_order, may_write

log = logging.getLogger("dnsctl.rfc2136")

TSIG_SECRET_ENV = "DNSCTL_TSIG_SECRET"
OWNER_LABEL = "_dnsctl"
GENERATION_KEY = "dnsctl-generation"
CAPABILITIES = Capabilities(metadata=False, atomic_type_replace=True, compare_and_set=True)
READ_TYPES = (RecordType.CNAME, RecordType.A)
READ_CONCURRENCY = 16  # profiles read at once (plain queries, one TCP connection each)

POLICY_HINT = (
    "let this key update the name: BIND `update-policy { grant <key> name <name> CNAME A TXT; }` "
    "(or allow-update), Knot `acl: [{id: ..., key: <key>, action: update}]`, PowerDNS `dnsupdate=yes`, "
    "`allow-dnsupdate-from` and the zone's TSIG-ALLOW-DNSUPDATE metadata"
)
KEY_HINT = (
    f"check the TSIG key name, algorithm and secret ({TSIG_SECRET_ENV}) against the server's, and the "
    "clocks of both hosts (TSIG allows 300 s of skew); Knot also answers so when no `acl` with "
    "`action: update` lets the key update the name"
)
DOWN_HINT = "check the server address and port, that the server runs, and that TCP to it is allowed"


@dataclass(frozen=True, slots=True)
class Owner:
    """The owner TXT record as read: its exact text, and what it says."""

    text: str
    profile: str | None  # None: not a dnsctl owner record
    generation: int


def owner_text(profile: str, generation: int) -> str:
    return f"heritage={MANAGED_BY_VALUE},profile={profile},generation={generation}"


def parse_owner(text: str) -> Owner:
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    if fields.get("heritage") != MANAGED_BY_VALUE:
        return Owner(text, None, 0)
    try:
        generation = int(fields.get("generation", "0"))
    except ValueError:
        generation = 0
    return Owner(text, fields.get("profile", ""), generation)


def tsig_secret(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    secret = env.get(TSIG_SECRET_ENV, "").strip()
    return secret or None


def absolute(zone: str, record: str) -> dns.name.Name:
    origin = dns.name.from_text(zone)
    return origin if record == "@" else dns.name.from_text(record, origin)


def owner_name(zone: str, record: str) -> dns.name.Name:
    return dns.name.Name((OWNER_LABEL.encode(),)).concatenate(absolute(zone, record))


async def _exchange(r: Rfc2136RecordSpec, message: dns.message.Message) -> dns.message.Message:
    """One query or update to the primary over TCP; a server that cannot be reached is a transient error
    (a DNS-level problem with the answer is left to the caller, who knows what was asked)."""
    where = f"{r.server}:{r.port}"
    try:
        return await dns.asyncquery.tcp(message, r.server, timeout=r.timeout, port=r.port)
    except dns.exception.Timeout as e:
        raise TargetError(f"{where}: no answer within {r.timeout:g} s", hint=DOWN_HINT, transient=True) from e
    except OSError as e:
        raise TargetError(f"{where}: {e.strerror or e}", hint=DOWN_HINT, transient=True) from e
    except EOFError as e:  # the server closed the connection without an answer
        raise TargetError(
            f"{where}: the connection closed without an answer", hint=DOWN_HINT, transient=True
        ) from e


def _server_error(rcode: dns.rcode.Rcode, what: str, where: str) -> TargetError:
    name = dns.rcode.to_text(rcode)
    if rcode == dns.rcode.REFUSED:
        return TargetError(f"{where}: {what} REFUSED by the server", hint=POLICY_HINT, transient=False)
    if rcode == dns.rcode.NOTAUTH:
        return TargetError(
            f"{where}: {what} NOTAUTH: the server does not accept the key or is not authoritative",
            hint=KEY_HINT,
            transient=False,
        )
    if rcode == dns.rcode.NOTZONE:
        return TargetError(f"{where}: {what} NOTZONE", hint="check rfc2136.zone", transient=False)
    if rcode == dns.rcode.SERVFAIL:
        return TargetError(
            f"{where}: {what} SERVFAIL",
            hint="the server could not process it: see its log (zone not loaded, journal not writable?)",
            transient=True,
        )
    return TargetError(f"{where}: {what} {name}", transient=False)


class Rfc2136Target:
    capabilities = CAPABILITIES

    def __init__(self, spec: DnsctlSpec, environ: Mapping[str, str] | None = None) -> None:
        self._profiles = {p.name: p for p in spec.profiles}
        self._owners: dict[str, Owner | None] = {}  # per profile, as last read: the update's prerequisite
        secret = tsig_secret(environ)
        self._keyring: dict[dns.name.Name, dns.tsig.Key] | None = None
        self._secret_set = secret is not None
        if secret is not None:
            keys = {}
            for p in spec.profiles:
                r = p.publication
                if isinstance(r, Rfc2136RecordSpec) and r.tsig is not None:
                    name = dns.name.from_text(r.tsig.name)
                    keys[name] = dns.tsig.Key(name, secret, dns.name.from_text(r.tsig.algorithm))
            self._keyring = keys

    def begin_pass(self) -> None:
        return None

    def _spec(self, profile: str) -> Rfc2136RecordSpec:
        r = self._profiles[profile].publication
        assert isinstance(r, Rfc2136RecordSpec)
        return r

    async def _query(self, r: Rfc2136RecordSpec, name: dns.name.Name, rtype: str) -> dns.message.Message:
        where = f"{r.server}:{r.port}"
        try:
            resp = await _exchange(r, dns.message.make_query(name, rtype))
        except dns.exception.DNSException as e:
            raise TargetError(f"{where}: bad answer: {e}", transient=True) from e
        rcode = resp.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise _server_error(rcode, f"query for {name} {rtype}", where)
        return resp

    async def _read_one(self, p: ProfileSpec) -> tuple[dict[RecordType, ReadRecord], Owner | None]:
        r = p.publication
        assert isinstance(r, Rfc2136RecordSpec)
        name = absolute(r.zone, r.record)
        values: dict[RecordType, RecordValue] = {}
        for rtype in READ_TYPES:
            resp = await self._query(r, name, rtype.value)
            for rrset in resp.answer:
                if rrset.name != name or rrset.rdtype != dns.rdatatype.from_text(rtype.value):
                    continue
                if rtype is RecordType.CNAME:
                    vals = tuple(rd.target.to_text(omit_final_dot=True).lower() for rd in rrset)
                else:
                    vals = _in_configured_order(p, [rd.address for rd in rrset])
                values[rtype] = RecordValue(rtype, vals, rrset.ttl)
        owner: Owner | None = None
        resp = await self._query(r, owner_name(r.zone, r.record), "TXT")
        for rrset in resp.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                for rd in rrset:
                    found = parse_owner(b"".join(rd.strings).decode(errors="replace"))
                    if owner is None or found.profile is not None:
                        owner = found
        metadata: dict[str, str] = {}
        if owner is not None and owner.profile is not None:
            metadata = {MANAGED_BY: MANAGED_BY_VALUE, PROFILE_KEY: owner.profile}
        etag = str(owner.generation) if owner is not None else None
        records = {t: ReadRecord(v, etag, dict(metadata)) for t, v in values.items()}
        return records, owner

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        """Each profile's record and owner TXT, READ_CONCURRENCY profiles at a time."""
        mine = [p for p in profiles if isinstance(p.publication, Rfc2136RecordSpec)]
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(p: ProfileSpec) -> tuple[dict[RecordType, ReadRecord], Owner | None]:
            async with gate:
                return await self._read_one(p)

        found = await asyncio.gather(*(one(p) for p in mine))
        out: dict[str, Published] = {}
        for p, (records, owner) in zip(mine, found, strict=True):
            r = self._spec(p.name)
            self._owners[p.name] = owner
            out[p.name] = Published(f"rfc2136:{r.zone}/{r.record}", records, CAPABILITIES)
        return out

    async def apply(self, changes: Sequence[Change], guard: WriteGuard | None = None) -> list[ChangeResult]:
        async def one(c: Change) -> ChangeResult:
            if not may_write(guard):
                return ChangeResult(c, Outcome.FAILED, error=NOT_HOLDER)
            try:
                return await self._apply_one(c)
            except TargetError as e:
                return ChangeResult(c, Outcome.FAILED, error=str(e), hint=e.hint)

        return await apply_in_order(changes, one)

    def _message(self, r: Rfc2136RecordSpec) -> dns.update.UpdateMessage:
        if r.tsig is None:
            return dns.update.UpdateMessage(r.zone)
        if self._keyring is None:
            raise TargetError(
                f"rfc2136.tsig names key {r.tsig.name} but {TSIG_SECRET_ENV} is not set",
                hint=f"set {TSIG_SECRET_ENV} to the key's base64 secret",
                transient=False,
            )
        return dns.update.UpdateMessage(
            r.zone,
            keyring=self._keyring,
            keyname=dns.name.from_text(r.tsig.name),
            keyalgorithm=dns.name.from_text(r.tsig.algorithm),
        )

    async def _apply_one(self, c: Change) -> ChangeResult:
        r = self._spec(c.profile)
        name = absolute(r.zone, r.record)
        oname = owner_name(r.zone, r.record)
        owner = self._owners.get(c.profile)
        upd = self._message(r)
        # Prerequisites: the owner record and the record are what was read.
        if owner is not None:
            upd.present(oname, "TXT", _quoted(owner.text))
        else:
            upd.absent(oname, "TXT")
        if c.action is Action.CREATE:
            for t in READ_TYPES:
                upd.absent(name, t.value)
        elif c.before is not None:
            upd.present(name, c.before.type.value, *_rdata(c.before))
        # The update.
        if c.action is Action.DELETE:
            assert c.before is not None
            upd.delete(name, c.before.type.value)
        else:
            assert c.after is not None
            if c.before is not None and c.before.type is not c.after.type:
                upd.delete(name, c.before.type.value)
            upd.replace(name, c.after.ttl, c.after.type.value, *_rdata(c.after))
        generation = (owner.generation if owner is not None and owner.profile is not None else 0) + 1
        new_owner = owner_text(c.profile, generation)
        upd.replace(oname, c.after.ttl if c.after is not None else 300, "TXT", _quoted(new_owner))
        where = f"{r.server}:{r.port}"
        try:
            resp = await _exchange(r, upd)
        except dns.tsig.PeerError as e:
            raise TargetError(
                f"{where}: the server rejected the TSIG key ({e})", hint=KEY_HINT, transient=False
            ) from e
        except dns.exception.DNSException as e:
            raise TargetError(
                f"{where}: bad answer to the update: {e}", hint=KEY_HINT, transient=False
            ) from e
        rcode = resp.rcode()
        if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
            self._owners.pop(c.profile, None)
            return ChangeResult(
                c,
                Outcome.CONFLICT,
                error="the record changed since it was read (prerequisite failed: "
                f"{dns.rcode.to_text(rcode)})",
            )
        if rcode != dns.rcode.NOERROR:
            raise _server_error(rcode, "update", where)
        # Read back: a server may answer NOERROR and not apply the update (PowerDNS's policy).
        records, read_owner = await self._read_one(self._profiles[c.profile])
        took = read_owner is not None and read_owner.text == new_owner
        if c.action is Action.DELETE:
            assert c.before is not None
            took = took and c.before.type not in records
        else:
            assert c.after is not None
            got = records.get(c.after.type)
            took = took and got is not None and _same(got.value, c.after)
        if not took:
            self._owners[c.profile] = read_owner
            return ChangeResult(
                c,
                Outcome.FAILED,
                error=f"{where}: the server answered NOERROR but the record did not change (read back)",
                hint=f"the server's update policy may reject it silently: {POLICY_HINT}",
            )
        self._owners[c.profile] = read_owner
        log.debug("updated %s (generation %d)", name, generation)
        return ChangeResult(c, Outcome.APPLIED, etag=str(generation))

    async def close(self) -> None:
        return None


def _in_configured_order(p: ProfileSpec, addresses: list[str]) -> tuple[str, ...]:
    """A records as the profile lists them (a server answers in any order): no rewrite for order alone."""
    rank = {a: i for i, a in enumerate(a for ep in p.by_priority for a in ep.addresses)}
    return tuple(sorted(addresses, key=lambda a: (rank.get(a, len(rank)), a)))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rdata(v: RecordValue) -> list[str]:
    if v.type is RecordType.CNAME:
        return [x if x.endswith(".") else x + "." for x in v.values]
    return list(v.values)


def _same(read: RecordValue, wanted: RecordValue) -> bool:
    if wanted.type is RecordType.CNAME:
        return read.values == tuple(x.lower().rstrip(".") for x in wanted.values) and read.ttl == wanted.ttl
    return set(read.values) == set(wanted.values) and read.ttl == wanted.ttl
