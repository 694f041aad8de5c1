"""What a profile starts from after a restart: its stored history, else what is published.

Never-flip rule (DESIGN rule 1): without stored history, the record as published is taken as
the current choice, so failback rules (manual, failback_hold) apply to it instead of a fresh
decision moving it.
"""

from __future__ import annotations

from dnsctl.core.decision import Decision, DecisionKind, RoutingState
from dnsctl.core.model import ProfileSpec
from dnsctl.core.plan import Published
from dnsctl.core.state import ProfileState


def restored_state(
    profile: ProfileSpec, stored: ProfileState | None, published: Published | None, now: float
) -> ProfileState:
    if stored is not None:
        return stored
    return ProfileState(started_at=now, routing=RoutingState(seed(profile, published, now)))


def seed(profile: ProfileSpec, published: Published | None, now: float) -> Decision | None:
    """With no stored history, the published record is the current choice: failback rules apply to it."""
    pub = profile.publication
    if published is None or pub is None:
        return None
    rec = published.of(pub.record_type)
    if rec is None or rec.owner is None:
        return None
    for ep in profile.endpoints:
        # An A record may hold only some of the endpoint's addresses (the others were down).
        if rec.value.values == (ep.target,) or (ep.addresses and set(rec.value.values) <= set(ep.addresses)):
            return Decision(DecisionKind.ENDPOINT, (ep.name,), f"{ep.name} is what the record points at", now)
    return None
