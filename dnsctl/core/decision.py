"""What a decision is, and what a publisher renders from it: the values routing hands over.

Pure, like the rest of the core. `dnsctl.core.routing` makes decisions; publishers read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from dnsctl.core.health import EndpointHealth, serving_addresses
from dnsctl.core.model import EndpointSpec, ProfileSpec


class DecisionKind(StrEnum):
    ENDPOINT = "endpoint"  # routed to healthy endpoint(s)
    ALL_DOWN = "all-down"  # no endpoint Online: `when_all_down` applied
    FROZEN = "frozen"  # the isolation guard holds the last decision


@dataclass(frozen=True, slots=True)
class Decision:
    """What a profile should resolve to now, and why.

    `endpoints` is never empty unless `fallback` names the target instead. With `keep_current`
    (keep-last) and `last_answer`, the endpoints (or fallback) are dnsctl's own last answer: that is
    what a publisher keeps, and a record found holding anything else was changed by someone else.
    With `keep_current` alone (no answer of dnsctl's yet) a publisher keeps what it has as it is;
    `endpoints` then says what to publish where nothing exists yet.
    """

    kind: DecisionKind
    endpoints: tuple[str, ...]
    reason: str
    since: float
    fallback: str | None = None
    keep_current: bool = False
    last_answer: bool = False  # with keep_current: the endpoints are dnsctl's last answer, not a guess
    # For endpoints with several addresses of which only some are Online: the ones to publish.
    # Endpoints not named here publish every configured address.
    addresses: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def primary(self) -> str | None:
        return self.endpoints[0] if self.endpoints else None

    def same_outcome(self, other: Decision | None) -> bool:
        return other is not None and (self.endpoints, self.fallback, self.keep_current, self.addresses) == (
            other.endpoints,
            other.fallback,
            other.keep_current,
            other.addresses,
        )

    def addresses_of(self, endpoint: EndpointSpec) -> tuple[str, ...]:
        for name, chosen in self.addresses:
            if name == endpoint.name:
                return chosen
        return endpoint.addresses


@dataclass(frozen=True, slots=True)
class RoutingState:
    decision: Decision | None = None
    challenger: str | None = None  # performance routing: who is faster right now
    challenger_rounds: int = 0
    failback_requested: bool = False  # failback: manual, set by the operator


@dataclass(frozen=True, slots=True)
class DecisionTarget:
    """One answer a publisher renders: a name to point at, and its addresses if known."""

    endpoint: str | None  # None for the `fallback` target (and a target name the resolver answers itself)
    target: str
    addresses: tuple[str, ...]
    weight: int = 1


def decision_targets(profile: ProfileSpec, decision: Decision) -> tuple[DecisionTarget, ...]:
    if decision.fallback is not None:
        return (DecisionTarget(None, decision.fallback, ()),)
    return tuple(
        DecisionTarget(ep.name, ep.target, decision.addresses_of(ep), ep.weight)
        for ep in (profile.endpoint(n) for n in decision.endpoints)
    )


def with_serving_addresses(
    profile: ProfileSpec, health: Mapping[str, EndpointHealth], state: RoutingState
) -> RoutingState:
    """The decision narrowed to the Online addresses of its endpoints (see `serving_addresses`)."""
    d = state.decision
    if d is None or d.kind is DecisionKind.FROZEN:
        return state
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for name in d.endpoints:
        try:
            ep = profile.endpoint(name)
        except KeyError:
            continue
        serving = serving_addresses(ep, health.get(name, EndpointHealth()))
        if serving != ep.addresses:
            chosen.append((name, serving))
    if tuple(chosen) == d.addresses:
        return state
    return replace(state, decision=replace(d, addresses=tuple(chosen)))
