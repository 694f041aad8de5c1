"""A Prober at the seam that answers from a script: for driving the reconcile pass deterministically.

End-to-end tests use real registries; these tests are about the orchestration around the probes.
"""

from __future__ import annotations

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult


class ScriptedProber:
    def __init__(self) -> None:
        self.down: set[str] = set()
        self.calls = 0

    async def probe(self, profile: ProfileSpec, endpoint: EndpointSpec, now: float) -> ProbeResult:
        self.calls += 1
        if endpoint.name in self.down:
            return ProbeResult(
                profile.name,
                endpoint.name,
                now,
                False,
                0.001,
                endpoint.target,
                reason=FailureReason.REFUSED,
                detail="connection refused",
            )
        return ProbeResult(profile.name, endpoint.name, now, True, 0.001, endpoint.target, status_code=401)
