"""What to answer: from memory on the hot path (`quick`), or after asking upstream (`answer`).

`quick` never awaits, encodes or locks: steered names, lab zone names and fresh cached answers are looked
up as pre-rendered bytes and patched for the client. Everything else becomes a Query for `answer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from dnslib import CNAME, RR, DNSLabel

from dnsctl.core.model import ResolverSpec
from dnsctl.resolver.acl import ALLOWED, ClientPolicy
from dnsctl.resolver.answer import Answer, render, truncated
from dnsctl.resolver.cache import AnswerCache
from dnsctl.resolver.forwarder import Forwarder, UpstreamError
from dnsctl.resolver.metrics import ResolverMetrics
from dnsctl.resolver.normalize import Normalized, normalize_reply
from dnsctl.resolver.ratelimit import RateLimiter
from dnsctl.resolver.render import build, hinfo_rr, labels_of, parse_records
from dnsctl.resolver.steering import SteeredAnswer, SteeringTable, normalize_name, render_steered
from dnsctl.resolver.wire import (
    BADVERS,
    CLASS_IN,
    COPIED_FLAGS,
    MAX_UDP_REPLY,
    NOERROR,
    QR,
    RA,
    REFUSED,
    SERVFAIL,
    TCP_MAX,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_AXFR,
    TYPE_CNAME,
    TYPE_IXFR,
    Malformed,
    Query,
    header_reply,
    lookup_key,
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
SYNTHESIZED_TTL = 300


def _opt(q: Query, scope: int) -> bytes:
    if not q.edns:
        return b""
    if q.ecs is not None:
        return opt_record(q.do, 0, q.ecs.option(scope))
    return OPT_DO if q.do else OPT_PLAIN


class Engine:
    """Answers queries for the server; owns the cache, the forwarder, the zones and the client policy."""

    def __init__(
        self,
        spec: ResolverSpec,
        steering: SteeringTable,
        metrics: ResolverMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.steering = steering
        self.metrics = metrics
        self.clock = clock
        self.policy = ClientPolicy(spec.allow, spec.views)
        self.zones = LabZones(spec.zones)
        self.cache = AnswerCache(spec.cache, clock)
        self.forwarder = Forwarder(spec.upstreams, spec.upstream_timeout, failures=metrics.upstream_failures)
        self.limiter = RateLimiter(spec.rate_limit) if spec.rate_limit.qps > 0 else None
        self._inflight: dict[bytes, asyncio.Future[Normalized]] = {}
        metrics.cache_size = self.cache.__len__
        # Bound once: the hot path spends no time on attribute chains (these objects are never replaced).
        self._memo_get = self.policy.memo.get
        self._zone_get = self.zones.rendered.get
        self._cache_get = self.cache.entries.get
        self._cache_touch = self.cache.entries.move_to_end
        self._counts = metrics.queries

    def _send(self, q: Query, answer: Answer, opt: bytes, udp: bool) -> bytes:
        self.metrics.count(q.qtype, answer.flags & 0xF)
        return render(q, answer, opt, q.limit if udp else TCP_MAX)

    def quick_udp(self, data: bytes, host: str) -> bytes | Query | None:
        """`quick` for UDP, with the common case inlined: one question, at most a bare OPT, a known
        client in no view, no rate limit, and an answer in memory. Anything else takes `quick`."""
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
            opt = OPT_DO if data[end + 7] & 0x80 else OPT_PLAIN
            size = (data[end + 3] << 8) | data[end + 4]
            limit = 512 if size <= 512 else (size if size < MAX_UDP_REPLY else MAX_UDP_REPLY)
        elif n == end:
            opt = b""
            limit = 512
        else:
            return self.quick(data, host, True)
        if (
            self._memo_get(host) is not ALLOWED
            or self.limiter is not None
            or data[pos : pos + 2] == _QTYPE_OPT
        ):
            return self.quick(data, host, True)
        key = data[12:pos].lower() + data[pos:end]
        steered = self.steering.rendered[None].get(key)
        if steered is not None:
            answer = steered.single
            if answer is None:
                return self.quick(data, host, True)
        else:
            answer = self._zone_get(key)
            if answer is None:
                entry = self._cache_get(key)
                if entry is None:
                    return self.quick(data, host, True)
                now = self.clock()
                if now >= entry.expires:
                    return self.quick(data, host, True)
                self._cache_touch(key)
                answer = entry.at(now)
                self.metrics.cache_hits += 1
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
        return out

    def quick(self, data: bytes, host: str, udp: bool) -> bytes | Query | None:
        """The reply if memory has it; None to drop the packet; the Query when `answer` must finish it."""
        try:
            q = parse_query(data)
        except Malformed as exc:
            if exc.rcode is None or not self.policy.classify(host)[0]:
                self.metrics.dropped += 1
                return None
            self.metrics.malformed += 1
            return header_reply(data, exc.rcode)
        allowed, view = self.policy.classify(host)
        if not allowed:
            self.metrics.refused += 1
            self.metrics.count(q.qtype, REFUSED)
            return question_reply(q, REFUSED, opt=_opt(q, 0))
        limiter = self.limiter
        if udp and limiter is not None and not limiter.allow(host, self.clock()):
            self.metrics.rate_limited += 1
            if limiter.slip(host):
                # Header and question only: never larger than the query, so no amplification.
                return truncated(q, QR | RA | (q.flags & COPIED_FLAGS), b"")
            return None
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
        cached = self.cache.fresh(key, self.clock())
        if cached is not None:
            self.metrics.cache_hits += 1
            return self._send(q, cached, _opt(q, 0), udp)
        return q

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
        name_wire = q.key[:-4]
        steered = self.steering.answer_for_name(name_wire, q.view)
        if steered is not None:
            return self._send(q, await self._chase(steered, q.qtype), _opt(q, q.scope), udp)
        labels = tuple(labels_of(name_wire))
        zone_answer = self.zones.resolve(labels, q.qtype)
        if zone_answer is not None:
            return self._send(q, zone_answer, _opt(q, 0), udp)
        if q.qtype == TYPE_ANY:
            # RFC 8482: a minimal answer instead of whatever upstream holds for the name.
            qname = DNSLabel(list(labels))
            answer = build(qname, TYPE_ANY, authoritative=False, answers=[hinfo_rr(qname, SYNTHESIZED_TTL)])
            return self._send(q, answer, _opt(q, 0), udp)
        try:
            forwarded = await self.resolve(q.key)
        except UpstreamError:
            self.metrics.count(q.qtype, SERVFAIL)
            return question_reply(q, SERVFAIL, opt=_opt(q, 0))
        return self._send(q, forwarded, _opt(q, 0), udp)

    async def _chase(self, steered: SteeredAnswer, qtype: int) -> Answer:
        """CNAME to the picked target, then the target's records from upstream (cached)."""
        weights = [max(t.weight, 0) for t in steered.targets]
        target = random.choices(steered.targets, weights=weights if any(weights) else None)[0]
        fqdn = DNSLabel(normalize_name(steered.fqdn))
        target_name = normalize_name(target.target)
        cname = RR(fqdn, TYPE_CNAME, ttl=steered.ttl, rdata=CNAME(DNSLabel(target_name)))
        if qtype in (TYPE_A, TYPE_AAAA) and target.addresses:
            rendered = render_steered(SteeredAnswer(steered.fqdn, steered.ttl, (target,)))
            found = rendered[lookup_key(steered.fqdn, qtype)].answers[0]
            if found is not None:
                return found
        key = lookup_key(target_name, qtype)
        try:
            target_answer = await self.resolve(key)
        except UpstreamError:
            return build(fqdn, qtype, rcode=SERVFAIL, answers=[cname])
        records = parse_records(target_answer, key[:-4]) if target_answer.an else []
        return build(fqdn, qtype, rcode=target_answer.rcode, answers=[cname, *records])

    async def resolve(self, key: bytes) -> Answer:
        """A forwarded answer for a lookup key: cache, else upstream (one request per key in flight),
        else a stale cached answer; raises UpstreamError when there is nothing to serve."""
        cached = self.cache.fresh(key, self.clock())
        if cached is not None:
            self.metrics.cache_hits += 1
            return cached
        self.metrics.cache_misses += 1
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        try:
            normalized = await asyncio.shield(pending)
        except UpstreamError:
            stale = self.cache.stale(key, self.clock())
            if stale is None:
                raise
            self.metrics.stale_served += 1
            return stale
        return normalized.answer

    async def _fetch(self, key: bytes) -> Normalized:
        reply = await self.forwarder.resolve(key)
        try:
            normalized = normalize_reply(reply, len(key) - 4, self.spec.cache)
        except (IndexError, ValueError) as exc:
            raise UpstreamError(f"malformed upstream reply: {exc}") from exc
        self.cache.store(key, normalized, self.clock())
        return normalized

    async def close(self) -> None:
        pending = list(self._inflight.values())
        for future in pending:
            future.cancel()
        for future in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future
