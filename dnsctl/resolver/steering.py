"""The steered names: what the controller decided, rendered to wire answers when it decides.

`publish` renders every reply the query path can serve without upstream help (A, AAAA, CNAME, ANY) and
swaps in new dictionaries, so the query path reads plain dicts: no lock, no probe, no encoding.

A steered name is the CNAME to its picked target. When the target has configured `addresses` the target
is answered here too: its A/AAAA records, and "no data" for every other type, with the SOA of a zone
synthesized above the target (RFC 2308: a cache needs it to keep the negative answer; its apex is the
target's parent, never a name holding the CNAME). A target without addresses is looked up through the
resolver (`steered_chain` leaves it unfinished).

Such a target is also answered when it is asked for directly (a caching resolver in front asks for the
CNAME's target apart): from the same addresses as the chain, so the health decision is not lost there.
The targets of endpoints not chosen now (`set_targets`) are answered too, from their own addresses: a
cache still holding an older CNAME gets the endpoint's address, never the upstream's view of the name.

Installing a change rebuilds the tables of its view (a walk of every steered name): many changes at once
(the start, a regional failover) are made inside `deferred()`, which installs them with one rebuild.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from struct import pack

from dnsctl.core.decision import DecisionTarget
from dnsctl.resolver.answer import Answer
from dnsctl.resolver.chain import Chain
from dnsctl.resolver.wire import (
    CLASS_IN,
    NOERROR,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_CNAME,
    TYPE_SOA,
    Record,
    encode_name,
    lookup_key,
)

# RFC 2308 5: how long a cache may keep "no such data" for a steered name (resolver.negative_ttl).
DEFAULT_NEGATIVE_TTL = 60


@dataclass(frozen=True, slots=True)
class SteeredAnswer:
    fqdn: str  # the steered (global) name
    ttl: int
    # Several -> one is picked per query by weight; a target without addresses is resolved upstream (cached).
    targets: tuple[DecisionTarget, ...]
    # Set on the answer for a target name itself (`fqdn` is the target, answered with its addresses and
    # no CNAME): the steered name whose CNAME points at it.
    alias_of: str | None = None


class Steered:
    """The rendered replies of one steered name for one query type, one per target (None: chase upstream)."""

    __slots__ = ("answers", "cumulative", "single", "source", "total")

    def __init__(self, source: SteeredAnswer, answers: tuple[Answer | None, ...]) -> None:
        self.source = source
        self.answers = answers
        # The common case (one target, rendered) served without a draw.
        self.single = answers[0] if len(answers) == 1 else None
        weights = [max(t.weight, 0) for t in source.targets]
        if not any(weights):
            weights = [1] * len(weights)
        self.cumulative = tuple(accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self) -> int:
        """Index of the target for this query: weighted random when there are several."""
        if len(self.answers) == 1:
            return 0
        return bisect_right(self.cumulative, random.random() * self.total)


def normalize_name(name: str) -> str:
    return name.rstrip(".").lower()


def _validate(answer: SteeredAnswer) -> None:
    encode_name(answer.fqdn)
    if answer.ttl < 0 or answer.ttl > 0x7FFFFFFF:
        raise ValueError(f"bad ttl {answer.ttl} for {answer.fqdn}")
    if not answer.targets:
        raise ValueError(f"no target for {answer.fqdn}")
    for target in answer.targets:
        encode_name(target.target)
        for address in target.addresses:
            ipaddress.ip_address(address)


def negative_apex(target: str, steered: str) -> str:
    """The apex of the zone synthesized for a target's "no data": its parent (the root for a single label),
    one more up when that is the steered name (a CNAME owner cannot be a zone apex)."""
    apex = target.partition(".")[2]
    if apex and apex == steered:
        apex = apex.partition(".")[2]
    return apex


def target_soa(target: str, steered: str, addresses: tuple[str, ...], negative_ttl: int) -> Record:
    """The SOA of "no data" for the (normalized) `target` of `steered`: owned by `negative_apex`, the target
    as its primary server (it resolves, to its addresses); the serial changes with the addresses."""
    apex = negative_apex(target, steered)
    serial = zlib.crc32(repr((target, addresses)).encode())
    rdata = encode_name(target) + encode_name(f"hostmaster.{apex}" if apex else "hostmaster")
    rdata += pack(">IIIII", serial, 3600, 600, 604800, negative_ttl)
    return Record(encode_name(apex), TYPE_SOA, CLASS_IN, negative_ttl, rdata)


def _address_records(owner: bytes, addresses: tuple[str, ...], qtype: int, ttl: int) -> list[Record]:
    """The A (or AAAA) records of `addresses`; both kinds for ANY."""
    records = []
    for ip in (ipaddress.ip_address(a) for a in addresses):
        rtype = TYPE_A if ip.version == 4 else TYPE_AAAA
        if qtype in (rtype, TYPE_ANY):
            records.append(Record(owner, rtype, CLASS_IN, ttl, ip.packed))
    return records


def steered_chain(answer: SteeredAnswer, index: int, qtype: int, negative_ttl: int) -> Chain:
    """The records a steered name answers `qtype` with, for the target at `index`; unfinished (the CNAME
    alone, no SOA) when the target has no configured addresses and must be looked up. For a target name
    itself (`alias_of` set): its addresses, or "no data" with the SOA."""
    target = answer.targets[index]
    target_text = normalize_name(target.target)
    target_name = encode_name(target_text)
    if answer.alias_of is not None:
        records = _address_records(target_name, target.addresses, qtype, answer.ttl)
        if records:
            return Chain(NOERROR, True, records)
        soa = target_soa(target_text, normalize_name(answer.alias_of), target.addresses, negative_ttl)
        return Chain(NOERROR, True, [], [soa])
    steered = normalize_name(answer.fqdn)
    cname = Record(encode_name(steered), TYPE_CNAME, CLASS_IN, answer.ttl, target_name)
    if qtype in (TYPE_CNAME, TYPE_ANY):
        # RFC 8482 4.2: for ANY the CNAME alone is a complete, minimal answer.
        return Chain(NOERROR, True, [cname])
    if not target.addresses:
        return Chain(NOERROR, True, [cname])
    records = _address_records(target_name, target.addresses, qtype, answer.ttl)
    if records:
        return Chain(NOERROR, True, [cname, *records])
    # RFC 2308 2.2: the "no data" is the target's, after the CNAME: the SOA is of a zone above the target.
    return Chain(NOERROR, True, [cname], [target_soa(target_text, steered, target.addresses, negative_ttl)])


def _render_target(answer: SteeredAnswer, index: int, qtype: int, negative_ttl: int) -> Answer | None:
    chain = steered_chain(answer, index, qtype, negative_ttl)
    fqdn = encode_name(normalize_name(answer.fqdn))
    if chain.unfinished(fqdn, qtype) is not None:
        return None
    return chain.answer(fqdn, qtype)


def render_steered(answer: SteeredAnswer, negative_ttl: int = DEFAULT_NEGATIVE_TTL) -> dict[bytes, Steered]:
    """Every pre-rendered reply for one steered answer, keyed like the query path looks them up."""
    rendered: dict[bytes, Steered] = {}
    for qtype in (TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_ANY):
        answers = tuple(_render_target(answer, i, qtype, negative_ttl) for i in range(len(answer.targets)))
        rendered[lookup_key(answer.fqdn, qtype)] = Steered(answer, answers)
    return rendered


def target_answer(fqdn: str, ttl: int, target: str, addresses: tuple[str, ...]) -> SteeredAnswer:
    """The answer for the target name of one of `fqdn`'s endpoints itself: its addresses, no CNAME."""
    name = normalize_name(target)
    return SteeredAnswer(name, ttl, (DecisionTarget(None, name, addresses),), alias_of=normalize_name(fqdn))


class SteeringTable:
    """Steered answers by view (None is the default), published by the controller, read by the server."""

    def __init__(self, negative_ttl: int = DEFAULT_NEGATIVE_TTL) -> None:
        self.negative_ttl = negative_ttl
        self._answers: dict[tuple[str | None, str], SteeredAnswer] = {}
        self._parts: dict[tuple[str | None, str], dict[bytes, Steered]] = {}
        # view -> name wire (lower case) -> answer, for the query types that need the slow path.
        self.by_name: dict[str | None, dict[bytes, SteeredAnswer]] = {}
        # view -> lookup key -> rendered replies; replaced wholesale, never mutated in place.
        self.rendered: dict[str | None, dict[bytes, Steered]] = {None: {}}
        # The target names answered with their addresses (`target_answers`), in the default tables.
        self._target_parts: dict[SteeredAnswer, dict[bytes, Steered]] = {}
        self._target_keys: set[bytes] = set()
        self._target_names: set[bytes] = set()
        self._known: tuple[SteeredAnswer, ...] = ()
        self._deferring = 0
        self._dirty: set[str | None] = set()  # views to rebuild when the outermost `deferred` ends

    def publish(self, answer: SteeredAnswer, view: str | None = None) -> None:
        """Render `answer` now and serve it from the next query on (inside `deferred`: from its end)."""
        _validate(answer)
        name = normalize_name(answer.fqdn)
        self._parts[(view, name)] = render_steered(answer, self.negative_ttl)
        self._answers[(view, name)] = answer
        self._rebuild(view)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Publish several answers (and targets) with one rebuild of each view they touch, at the end:
        until then queries get the answers from before (complete tables, old or new, never a mix)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring:
                dirty, self._dirty = self._dirty, set()
                for view in sorted(dirty, key=lambda v: (v is not None, v or "")):
                    self._rebuild(view)

    def set_negative_ttl(self, ttl: int) -> None:
        """Use `ttl` in the SOA of steered "no data" answers, re-rendering what is published."""
        if ttl == self.negative_ttl:
            return
        self.negative_ttl = ttl
        for (view, name), answer in list(self._answers.items()):
            self._parts[(view, name)] = render_steered(answer, ttl)
        self._target_parts = {}
        for view in {view for view, _ in self._answers}:
            self._rebuild(view)

    def names(self) -> tuple[str, ...]:
        """The steered names with an answer in any view, sorted."""
        return tuple(sorted({name for _, name in self._answers}))

    def get(self, fqdn: str, view: str | None = None) -> SteeredAnswer | None:
        """The answer a client of `view` gets for `fqdn` (the default one when the view has none)."""
        name = normalize_name(fqdn)
        found = self._answers.get((view, name))
        return found if found is not None else self._answers.get((None, name))

    def lookup(self, key: bytes, view: str | None) -> Steered | None:
        """The rendered replies for a query key, for a client in `view`."""
        if view is not None:
            table = self.rendered.get(view)
            if table is not None:
                found = table.get(key)
                if found is not None:
                    return found
        return self.rendered[None].get(key)

    def answer_for_name(self, name_wire: bytes, view: str | None) -> SteeredAnswer | None:
        if view is not None:
            found = self.by_name.get(view, {}).get(name_wire)
            if found is not None:
                return found
        return self.by_name.get(None, {}).get(name_wire)

    def set_targets(self, targets: Iterable[SteeredAnswer]) -> None:
        """The endpoint targets with addresses (`target_answer`), chosen or not: those no published answer
        points at are answered from these. Only a change rebuilds the tables."""
        known = tuple(t for t in targets if t.targets[0].addresses)
        if known != self._known:
            for answer in known:  # only what is taken in (validating costs more than comparing)
                _validate(answer)
            self._known = known
            self._rebuild(None)

    def target_answers(self) -> dict[str, SteeredAnswer]:
        """The answers for the target names themselves: every target with addresses of a published answer
        that is not a steered name, with the addresses and TTL of the default view's answer (else of the
        first view's by name) that points at it; then the endpoint targets of `set_targets`."""
        steered = {name for _, name in self._answers}
        found: dict[str, SteeredAnswer] = {}
        for (_, name), answer in sorted(self._answers.items(), key=lambda kv: (kv[0][0] is not None, kv[0])):
            for target in answer.targets:
                target_name = normalize_name(target.target)
                if target.addresses and target_name not in steered and target_name not in found:
                    alias = DecisionTarget(None, target_name, target.addresses)
                    found[target_name] = SteeredAnswer(target_name, answer.ttl, (alias,), alias_of=name)
        for known in self._known:
            if known.fqdn not in steered and known.fqdn not in found:
                found[known.fqdn] = known
        return found

    def _rebuild(self, view: str | None) -> None:
        if self._deferring:
            self._dirty.add(view)
            return
        rendered: dict[bytes, Steered] = {}
        by_name: dict[bytes, SteeredAnswer] = {}
        for (v, name), answer in self._answers.items():
            if v == view:
                rendered.update(self._parts[(v, name)])
                by_name[encode_name(name)] = answer
        by_view = dict(self.by_name)
        by_view[view] = by_name
        tables = dict(self.rendered)
        tables[view] = rendered
        # The target names are answered in every view (a view falls back to the default table).
        targets = self.target_answers()
        parts = {answer: self._target_parts.get(answer) for answer in targets.values()}
        self._target_parts = {
            answer: part if part is not None else render_steered(answer, self.negative_ttl)
            for answer, part in parts.items()
        }
        default = {k: v for k, v in tables[None].items() if k not in self._target_keys}
        default_names = {k: v for k, v in by_view.get(None, {}).items() if k not in self._target_names}
        self._target_keys = set()
        self._target_names = set()
        for name, answer in targets.items():
            for key, part in self._target_parts[answer].items():
                default[key] = part
                self._target_keys.add(key)
            default_names[encode_name(name)] = answer
            self._target_names.add(encode_name(name))
        tables[None] = default
        by_view[None] = default_names
        # Two reference swaps: a query in between sees a complete old or new table, never a partial one.
        self.by_name = by_view
        self.rendered = tables
