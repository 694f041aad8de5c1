"""What to answer: from memory on the hot path (`quick`), or after asking upstream (`answer`).

`quick` never awaits, encodes or locks: steered names, lab zone names and fresh cached answers are looked
up as pre-rendered bytes and patched for the client (and a reply to the very same query bytes is replayed
with the new ID while its answer stands). Other local answers (lab zone negatives, other types of steered
names) are settled there too, so nothing local waits behind forwarding. Everything else becomes a Query
for `answer`, which finishes it from local data or through the forwarded half (resolver/forwarded.py).
"""

from __future__ import annotations

import asyncio
import math

from dnsctl.core.model import ResolverSpec
from dnsctl.errors import UpstreamError
from dnsctl.process.clock import Clock
from dnsctl.resolver.acl import ALLOWED, ClientPolicy
from dnsctl.resolver.answer import Answer, reply_to
from dnsctl.resolver.cache import AnswerCache, CacheEntry
from dnsctl.resolver.chain import Chain
from dnsctl.resolver.forwarded import Forwarding, LookupContext, variant_key
from dnsctl.resolver.forwarder import Forwarder
from dnsctl.resolver.metrics import KNOWN_QTYPES, OTHER_QTYPE, ResolverMetrics
from dnsctl.resolver.normalize import Normalized
from dnsctl.resolver.ratelimit import bucket_of
from dnsctl.resolver.render import labels_of
from dnsctl.resolver.steering import SteeringTable
from dnsctl.resolver.udp_limit import UDP_REPLY_LIMIT
from dnsctl.resolver.wire import (
    BADVERS,
    CD,
    CLASS_IN,
    MAX_UDP_REPLY,
    NOERROR,
    REFUSED,
    SERVFAIL,
    TCP_MAX,
    TYPE_AXFR,
    TYPE_IXFR,
    Malformed,
    Query,
    header_reply,
    opt_record,
    parse_query,
    question_reply,
)
from dnsctl.resolver.zones import LabZones

_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00\x00"
_OPT_HEAD = b"\x00\x00\x29"
_NO_RDATA = b"\x00\x00"
_QTYPE_OPT = b"\x00\x29"
OPT_PLAIN = opt_record(False)
OPT_DO = opt_record(True)
# Replies remembered by the exact query bytes after the ID; emptied when full (random letter case).
MAX_REPLAYS = 4096


class Replay:
    """A reply `quick_udp` made for these exact query bytes (all but the ID), to be sent again as it is:
    valid while `of` is the steering table in force and until `until` (never for a cached answer: the
    second its TTLs were rendered for, or its expiry if sooner). Never changed once made: UDP reader
    threads read it while the event loop makes others."""

    __slots__ = ("bucket", "cached", "counted", "of", "tail", "until")

    def __init__(
        self, reply: bytes, counted: tuple[int, int], entry: CacheEntry | None, of: object, limited: bool
    ) -> None:
        self.tail = reply[2:]
        # The rate limiter's group for this reply (resolver/ratelimit.py), worked out once when UDP
        # replies are limited: the reader threads and the event loop use it as it is.
        self.bucket = bucket_of(reply) if limited else b""
        # Counted under "other" when the qtype has no name: a reader's counts are never folded later.
        self.counted = counted if counted[0] in KNOWN_QTYPES else (OTHER_QTYPE, counted[1])
        self.cached = entry is not None
        self.until = math.inf if entry is None else min(entry.expires, entry.stored + entry.served_age + 1)
        self.of = of


def _opt(q: Query, scope: int) -> bytes:
    if not q.edns:
        return b""
    if q.ecs is not None:
        return opt_record(q.do, 0, q.ecs.option(scope))
    return OPT_DO if q.do else OPT_PLAIN


class Resolver(Forwarding):
    """Answers queries for the server; owns the cache, the forwarder, the zones and the client policy."""

    def __init__(
        self,
        spec: ResolverSpec,
        steering: SteeringTable,
        metrics: ResolverMetrics,
        *,
        clock: Clock,
    ) -> None:
        self.spec = spec
        self.steering = steering
        self.metrics = metrics
        self.clock = clock
        self.policy = ClientPolicy(spec.allow, spec.views)
        self.zones = LabZones(
            spec.zones,
            nameserver_addresses=[listen.host for listen in spec.listen],
            negative_ttl=spec.negative_ttl,
        )
        steering.set_negative_ttl(spec.negative_ttl)
        self.cache = AnswerCache(spec.cache)
        self.forwarder = Forwarder(
            spec.upstreams, spec.upstream_timeout, failures=metrics.upstream_failures, clock=clock
        )
        self._inflight: dict[bytes, asyncio.Future[Normalized]] = {}
        metrics.cache_size = self.cache.__len__
        metrics.upstreams = self.forwarder.states
        # Bound once: the hot path spends no time on attribute chains (these objects are never replaced).
        self._memo_get = self.policy.memo.get
        self._zone_get = self.zones.rendered.get
        self._cache_get = self.cache.entries.get
        self._cache_touch = self.cache.entries.move_to_end
        self._tally = metrics.loop
        self._counts = metrics.loop.queries
        # Read by the UDP reader threads (`replay`), replaced whole here: never mutated where they look.
        self.replays: dict[bytes, Replay] = {}
        self._replays_of = steering.rendered
        # Set by the server when UDP replies are rate limited: replays then carry their group.
        self.limited = False

    def replay(self, data: bytes, host: str, now: float) -> Replay | None:
        """The reply made before for these query bytes, if it still holds for this client at `now`.
        Only reads, so any thread may ask (resolver/udp_reader.py inlines this very test)."""
        replay = self.replays.get(data[2:])
        if (
            replay is not None
            and now < replay.until
            and replay.of is self.steering.rendered
            and self._memo_get(host) is ALLOWED
        ):
            return replay
        return None

    def _send(self, q: Query, answer: Answer, opt: bytes, udp: bool) -> bytes:
        self.metrics.count(q.qtype, answer.flags & 0xF)
        return reply_to(q, answer, opt, q.limit if udp else TCP_MAX)

    def quick_udp(self, data: bytes, host: str, now: float) -> bytes | Query | None:
        """`quick` for UDP, with the common case inlined: one question, at most a bare OPT, a known
        client in no view and an answer in memory (kept as a `Replay` of these bytes). Anything else
        takes `quick`. `now` is this engine's clock, read when the datagram was received."""
        n = len(data)
        # QR clear, opcode QUERY, QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
        if n < 17 or data[2] & 0xF8 or data[4:11] != _ONE_QUESTION or data[11] > 1:
            return self.quick(data, host, True)
        pos = 12
        length = data[12]
        while length:
            pos += length + 1
            if length > 63 or pos >= n:
                return self.quick(data, host, True)
            length = data[pos]
        pos += 1
        end = pos + 4
        if data[11]:
            # A bare OPT: root owner, type 41, version 0, no options.
            if (
                n != end + 11
                or data[end : end + 3] != _OPT_HEAD
                or data[end + 6]
                or data[end + 9 : end + 11] != _NO_RDATA
            ):
                return self.quick(data, host, True)
            do = data[end + 7] & 0x80
            opt = OPT_DO if do else OPT_PLAIN
            size = (data[end + 3] << 8) | data[end + 4]
            limit = 512 if size <= 512 else (size if size < MAX_UDP_REPLY else MAX_UDP_REPLY)
        elif n == end:
            do = 0
            opt = b""
            limit = 512
        else:
            return self.quick(data, host, True)
        if self._memo_get(host) is not ALLOWED or data[pos : pos + 2] == _QTYPE_OPT:
            return self.quick(data, host, True)
        key = data[12:pos].lower() + data[pos:end]
        rendered = self.steering.rendered
        steered = rendered[None].get(key)
        entry: CacheEntry | None = None
        if steered is not None:
            answer = steered.single
            if answer is None:
                return self.quick(data, host, True)
        else:
            answer = self._zone_get(key)
            if answer is None:
                if do or data[3] & 0x10:
                    key = variant_key(key, bool(do), bool(data[3] & 0x10))
                entry = self._cache_get(key)
                if entry is None:
                    return self.quick(data, host, True)
                if now >= entry.expires:
                    return self.quick(data, host, True)
                self._cache_touch(key)
                answer = entry.at(now)
                self._tally.cache_hits += 1
        heads = answer.heads
        if heads is None:
            heads = answer.prepare()
        out = (
            data[:2]
            + heads[(data[2] & 1) | ((data[3] >> 3) & 2) | (4 if opt else 0)]
            + data[12:pos]
            + answer.body
            + opt
        )
        if len(out) > limit:
            return self.quick(data, host, True)
        counts = self._counts
        counts[answer.counted] = counts.get(answer.counted, 0) + 1
        if len(out) <= UDP_REPLY_LIMIT:
            replays = self.replays
            if rendered is not self._replays_of or len(replays) >= MAX_REPLAYS:
                self.replays = replays = {}
                self._replays_of = rendered
            replays[data[2:]] = Replay(out, answer.counted, entry, rendered, self.limited)
        return out

    def quick(self, data: bytes, host: str, udp: bool) -> bytes | Query | None:
        """The reply if memory has it; None to drop the packet; the Query when `answer` must finish it."""
        try:
            q = parse_query(data)
        except Malformed as exc:
            if exc.rcode is None or not self.policy.classify(host)[0]:
                self.metrics.loop.dropped += 1
                return None
            self.metrics.malformed += 1
            return header_reply(data, exc.rcode)
        allowed, view = self.policy.classify(host)
        if not allowed:
            self.metrics.refused += 1
            self.metrics.count(q.qtype, REFUSED)
            return question_reply(q, REFUSED, opt=_opt(q, 0))
        if q.version != 0:
            # BADVERS is 16: its upper bits travel in the OPT, the header rcode stays 0.
            self.metrics.count(q.qtype, BADVERS)
            return question_reply(q, NOERROR, opt=opt_record(q.do, BADVERS >> 4))
        if q.ecs is not None:
            view, q.scope = self.policy.subnet_view(q.ecs)
        q.view = view
        key = q.key
        steered = self.steering.lookup(key, view)
        if steered is not None:
            answer = steered.answers[steered.pick()]
            if answer is None:
                return q
            return self._send(q, answer, _opt(q, q.scope), udp)
        zone_answer = self.zones.rendered.get(key)
        if zone_answer is not None:
            return self._send(q, zone_answer, _opt(q, 0), udp)
        cached = self.cache.fresh(variant_key(key, q.do, bool(q.flags & CD)), self.clock.monotonic())
        if cached is not None:
            self._tally.cache_hits += 1
            return self._send(q, cached, _opt(q, 0), udp)
        try:
            local = self._local(q, udp)
        except Exception:
            return q  # `answer` meets the same problem and turns it into SERVFAIL
        return q if local is None else local

    def _local(self, q: Query, udp: bool) -> bytes | None:
        """The reply when local data settles the query without upstream help (a refused class or
        transfer, another type of a steered name, a name missing from a lab zone): it is sent at once
        rather than queued behind forwarded queries. None when `answer` must finish it."""
        if q.qclass != CLASS_IN or q.qtype in (TYPE_AXFR, TYPE_IXFR):
            self.metrics.count(q.qtype, REFUSED)
            return question_reply(q, REFUSED, opt=_opt(q, 0))
        name = q.key[:-4]
        steered = self.steering.answer_for_name(name, q.view)
        if steered is not None:
            chain = self._steered(steered, q.qtype)
            if chain.unfinished(name, q.qtype) is not None:
                return None
            return self._send(q, chain.answer(name, q.qtype), _opt(q, q.scope), udp)
        zone_answer = self.zones.resolve(tuple(labels_of(name)), q.qtype)
        if zone_answer is None or Chain.of(zone_answer, name).unfinished(name, q.qtype) is not None:
            return None
        return self._send(q, zone_answer, _opt(q, 0), udp)

    async def answer(self, q: Query, udp: bool) -> bytes:
        """Finish a query `quick` could not: chase, lab zone negatives, forwarding, serve-stale."""
        try:
            return await self._answer(q, udp)
        except Exception:
            self.metrics.internal_errors += 1
            self.metrics.count(q.qtype, SERVFAIL)
            return question_reply(q, SERVFAIL, opt=_opt(q, 0))

    async def _answer(self, q: Query, udp: bool) -> bytes:
        if q.qclass != CLASS_IN or q.qtype in (TYPE_AXFR, TYPE_IXFR):
            self.metrics.count(q.qtype, REFUSED)
            return question_reply(q, REFUSED, opt=_opt(q, 0))
        name = q.key[:-4]
        lookup = LookupContext(q)
        steered = self.steering.answer_for_name(name, q.view)
        if steered is not None:
            chain = self._steered(steered, q.qtype)
            chain = await self._finish(chain, name, q.qtype, lookup, partial=True)
            return self._send(q, chain.answer(name, q.qtype), _opt(q, q.scope), udp)
        zone_answer = self.zones.resolve(tuple(labels_of(name)), q.qtype)
        if zone_answer is not None:
            chain = Chain.of(zone_answer, name)
            if chain.unfinished(name, q.qtype) is not None:
                zone_answer = (await self._finish(chain, name, q.qtype, lookup)).answer(name, q.qtype)
            return self._send(q, zone_answer, _opt(q, 0), udp)
        try:
            forwarded = await self.resolve(q.key, lookup)
        except UpstreamError:
            self.metrics.count(q.qtype, SERVFAIL)
            return question_reply(q, SERVFAIL, opt=_opt(q, 0))
        return self._send(q, forwarded, _opt(q, 0), udp)
