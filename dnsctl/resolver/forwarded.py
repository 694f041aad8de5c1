"""The resolver's forwarded half: the cache, upstream with one request per key in flight, CNAME chains
followed through steered names, lab zones and upstream, and serve-stale (`Resolver` in
resolver/engine.py answers from memory and leaves the rest to these).

Forwarded answers are fetched with the client's DO and CD bits and cached apart for each combination
(`variant_key`): a DO answer carries the upstream's DNSSEC records (RRSIG, NSEC, NSEC3, DS, DNSKEY) with
its RRsets, so DO is echoed only over answers that were never stripped; data fetched with CD (possibly
unvalidated by a validating upstream) never answers a query without CD, and a CD query never gets data
the upstream filtered through its own validation. AD is never set: dnsctl does not validate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from struct import pack

from dnsctl.core.model import ResolverSpec
from dnsctl.errors import UpstreamError
from dnsctl.process.clock import Clock
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.cache import AnswerCache
from dnsctl.resolver.chain import MAX_CHAIN, Chain
from dnsctl.resolver.forwarder import Forwarder
from dnsctl.resolver.metrics import AnswerCounts, ResolverMetrics
from dnsctl.resolver.normalize import Normalized, normalize_reply
from dnsctl.resolver.render import labels_of
from dnsctl.resolver.steering import SteeredAnswer, SteeringTable, steered_chain
from dnsctl.resolver.wire import (
    CD,
    CLASS_IN,
    MAX_UDP_REPLY,
    NOERROR,
    OUR_UDP_SIZE,
    TYPE_CNAME,
    Query,
    walk_records,
)
from dnsctl.resolver.zones import LabZones

_VARIANTS = (b"", b"\x01", b"\x02", b"\x03")


def variant_key(key: bytes, do: bool, cd: bool) -> bytes:
    """The cache key of a forwarded answer: the lookup key, plus one byte when DO or CD was asked."""
    return key + _VARIANTS[(2 if do else 0) | (1 if cd else 0)]


def upstream_size(q: Query) -> int:
    """The EDNS buffer to ask upstream with: the client's, within 1232 (flag day 2020) and 4096."""
    return min(max(q.limit, OUR_UDP_SIZE), MAX_UDP_REPLY)


class LookupContext:
    """What a forwarded lookup is asked with: the client's DNSSEC bits, buffer size and view."""

    __slots__ = ("cd", "do", "size", "view")

    def __init__(self, q: Query) -> None:
        self.do = q.do
        self.cd = bool(q.flags & CD)
        self.size = upstream_size(q)
        self.view = q.view


class Forwarding:
    """The lookups `Resolver` (its subclass) cannot answer from memory; it sets these attributes."""

    spec: ResolverSpec
    steering: SteeringTable
    metrics: ResolverMetrics
    clock: Clock
    zones: LabZones
    cache: AnswerCache
    forwarder: Forwarder
    _inflight: dict[bytes, asyncio.Future[Normalized]]
    _tally: AnswerCounts

    def _steered(self, steered: SteeredAnswer, qtype: int) -> Chain:
        weights = [max(t.weight, 0) for t in steered.targets]
        index = random.choices(range(len(steered.targets)), weights=weights if any(weights) else None)[0]
        return steered_chain(steered, index, qtype, self.steering.negative_ttl)

    async def _finish(
        self, chain: Chain, name: bytes, qtype: int, lookup: LookupContext, *, partial: bool = False
    ) -> Chain:
        """Follow the CNAME `chain` leaves unfinished through the resolver: steered names, lab zones,
        then upstream, each name once (a loop or a chain over MAX_CHAIN names is SERVFAIL). When the
        upstream cannot be asked or fails, the chain is SERVFAIL, unless `partial` (a steered name: its
        CNAME, the fallback of `when_all_down` included, is our own authoritative data): then it is
        answered with what was found so far, and the client's resolver may chase the rest."""
        seen = {name}
        target = chain.unfinished(name, qtype)
        while target is not None:
            if target in seen or len(seen) >= MAX_CHAIN:
                return chain.failed()
            seen.add(target)
            try:
                rest = await self._step(target, qtype, lookup)
            except UpstreamError:
                return chain if partial else chain.failed()
            chain = chain.then(rest)
            # Whatever the target's own answer is (data, NXDOMAIN, NODATA with or without an SOA), it is
            # the end of the chain unless it stops at a CNAME in turn.
            target = rest.unfinished(target, qtype)
        return chain

    async def _step(self, name: bytes, qtype: int, lookup: LookupContext) -> Chain:
        """One name of a chain, not followed further: from local data, the cache or one upstream query."""
        steered = self.steering.answer_for_name(name, lookup.view)
        if steered is not None:
            return self._steered(steered, qtype)
        local = self.zones.resolve(tuple(labels_of(name)), qtype)
        if local is not None:
            return Chain.of(local, name)
        key = name + pack(">HH", qtype, CLASS_IN)
        cache_key = variant_key(key, lookup.do, lookup.cd)
        answer = self.cache.fresh(cache_key, self.clock.monotonic())
        if answer is not None:
            self._tally.cache_hits += 1
            return Chain.of(answer, name)
        self.metrics.cache_misses += 1
        try:
            reply = await self.forwarder.resolve(key, do=lookup.do, cd=lookup.cd, size=lookup.size)
            normalized = self._normalize(reply, key)
            chain = _chain_of(normalized.answer, name)
        except UpstreamError:
            stale = self.cache.stale(cache_key, self.clock.monotonic())
            if stale is None:
                raise
            self.metrics.stale_served += 1
            return Chain.of(stale, name)
        # Only a finished answer may be served from the cache as it is (the quick path does).
        if chain.unfinished(name, qtype) is None:
            self.cache.store(cache_key, normalized, self.clock.monotonic())
        return chain

    async def resolve(self, key: bytes, lookup: LookupContext) -> Answer:
        """A forwarded answer for a lookup key: cache, else upstream (one request per key in flight),
        else a stale cached answer; raises UpstreamError when there is nothing to serve."""
        cache_key = variant_key(key, lookup.do, lookup.cd)
        cached = self.cache.fresh(cache_key, self.clock.monotonic())
        if cached is not None:
            self._tally.cache_hits += 1
            return cached
        self.metrics.cache_misses += 1
        pending = self._inflight.get(cache_key)
        try:
            if pending is None:
                # This query asks the upstream itself (no task of its own: a miss costs fewer turns of
                # the loop); queries for the same key meanwhile wait for its result.
                pending = asyncio.get_running_loop().create_future()
                self._inflight[cache_key] = pending
                try:
                    normalized = await self._fetch(key, cache_key, lookup)
                except BaseException as exc:
                    if not pending.done():
                        shared = exc if isinstance(exc, Exception) else UpstreamError("query cancelled")
                        pending.set_exception(shared)
                        pending.exception()  # retrieved: nobody else may be waiting
                    raise
                else:
                    if not pending.done():
                        pending.set_result(normalized)
                finally:
                    if self._inflight.get(cache_key) is pending:
                        del self._inflight[cache_key]
            else:
                normalized = await asyncio.shield(pending)
        except UpstreamError:
            stale = self.cache.stale(cache_key, self.clock.monotonic())
            if stale is None:
                raise
            self.metrics.stale_served += 1
            return stale
        return normalized.answer

    def _normalize(self, reply: bytes, key: bytes) -> Normalized:
        try:
            return normalize_reply(reply, len(key) - 4, self.spec.cache)
        except (IndexError, ValueError) as exc:
            raise UpstreamError(f"malformed upstream reply: {exc}") from exc

    async def _fetch(self, key: bytes, cache_key: bytes, lookup: LookupContext) -> Normalized:
        reply = await self.forwarder.resolve(key, do=lookup.do, cd=lookup.cd, size=lookup.size)
        normalized = self._normalize(reply, key)
        if _has_cname(normalized.answer):
            name, qtype = key[:-4], (key[-4] << 8) | key[-3]
            chain = _chain_of(normalized.answer, name)
            if chain.unfinished(name, qtype) is not None:
                # The upstream stopped at a CNAME (it does not recurse): finish it, cache the whole chain.
                finished = (await self._finish(chain, name, qtype, lookup)).answer(name, qtype)
                normalized = normalize_reply(finished.message(name), len(name), self.spec.cache)
        self.cache.store(cache_key, normalized, self.clock.monotonic())
        return normalized

    async def close(self) -> None:
        pending = list(self._inflight.values())
        for future in pending:
            future.cancel()
        for future in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await future
        self.forwarder.close()


def _has_cname(answer: Answer) -> bool:
    """Whether the answer section holds a CNAME (a cheap test before parsing the chain)."""
    if answer.rcode != NOERROR or not answer.an:
        return False
    return any(rtype == TYPE_CNAME for _, rtype, *_ in walk_records(answer.body, 4, answer.an))


def _chain_of(answer: Answer, name: bytes) -> Chain:
    """The records of an upstream answer; UpstreamError when they cannot be read."""
    try:
        return Chain.of(answer, name)
    except (IndexError, ValueError) as exc:
        raise UpstreamError(f"malformed upstream reply: {exc}") from exc
