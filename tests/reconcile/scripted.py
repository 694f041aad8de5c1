"""A Prober at the seam that answers from a script: for driving the reconcile pass deterministically.

End-to-end tests use real registries; these tests are about the orchestration around the probes.
"""

from __future__ import annotations

from dnsctl.core.model import EndpointSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult


class ScriptedProber:
    def __init__(self) -> None:
        self.down: set[str] = set()  # these refuse connections: down, and the path works
        self.silent: set[str] = set()  # these never answer (connect timeout): nothing is known
        self.fail_once: set[str] = set()  # these refuse their next probe only
        self.calls = 0

    async def probe(
        self, profile: ProfileSpec, endpoint: EndpointSpec, now: float, address: str | None = None
    ) -> ProbeResult:
        self.calls += 1
        if endpoint.name in self.silent:
            return ProbeResult(
                profile.name,
                endpoint.name,
                now,
                False,
                5.0,
                address or endpoint.target,
                reason=FailureReason.CONNECT_TIMEOUT,
                detail="no TCP connection within 5s",
            )
        if endpoint.name in self.down or endpoint.name in self.fail_once:
            self.fail_once.discard(endpoint.name)
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
