"""An intent: what a publisher is to bring one profile's record to, handed over with a decision.

The publisher acts on the intent it was given (the decision, the history to store with the
record), never on a re-read of the engine's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from dnsctl.core.decision import Decision, DecisionKind
from dnsctl.core.health import EndpointHealth, MonitorStatus, effective_status
from dnsctl.core.model import ProfileSpec
from dnsctl.core.state import ProfileState


@dataclass(frozen=True, slots=True)
class Intent:
    decision: Decision | None  # None: no verdicts yet, nothing is written
    state: str | None = None  # the history to store with the record; None keeps what it holds
    degraded: bool = False  # a decision stands but no endpoint is Online behind it
    online: bool = False  # some endpoint is Online (with operator overrides applied)


def intent(profile: ProfileSpec, st: ProfileState, state: str | None = None) -> Intent:
    return Intent(st.decision, state, degraded(profile, st), any_online(profile, st))


def any_online(profile: ProfileSpec, st: ProfileState) -> bool:
    return any(
        effective_status(ep, st.endpoints.get(ep.name, EndpointHealth()), st.overrides.get(ep.name))
        is MonitorStatus.ONLINE
        for ep in profile.endpoints
    )


def degraded(profile: ProfileSpec, st: ProfileState) -> bool:
    """A profile that has a decision but no Online endpoint to stand behind it."""
    d = st.decision
    if d is None:
        return False
    if d.kind in (DecisionKind.ALL_DOWN, DecisionKind.FROZEN):
        return True
    return not any_online(profile, st)
