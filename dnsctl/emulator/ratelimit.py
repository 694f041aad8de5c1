"""Azure's per-subscription request budget, counted in fixed windows, as the live service reports it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dnsctl.process.clock import Clock

READ_BUDGET = 250  # live sessions show 249 remaining after the first read
WRITE_BUDGET = 800  # and 799 after the first write
WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # seconds until the window resets; meaningful when not allowed


class ArmRateLimiter:
    """Counts reads and writes per subscription in windows of `window` seconds."""

    def __init__(
        self,
        read_budget: int = READ_BUDGET,
        write_budget: int = WRITE_BUDGET,
        window: float = WINDOW_SECONDS,
        *,
        clock: Clock,
    ) -> None:
        self._budgets = {"read": read_budget, "write": write_budget}
        self._window = window
        self._clock = clock
        self._used: dict[tuple[str, str], tuple[float, int]] = {}  # (subscription, kind) -> (start, used)

    def _current(self, subscription: str, kind: str) -> tuple[float, int]:
        now = self._clock.monotonic()
        start, used = self._used.get((subscription.lower(), kind), (now, 0))
        if now - start >= self._window:
            start, used = now, 0
        return start, used

    def consume(self, subscription: str, kind: str) -> Verdict:
        start, used = self._current(subscription, kind)
        budget = self._budgets[kind]
        if used >= budget:
            wait = max(1, math.ceil(start + self._window - self._clock.monotonic()))
            return Verdict(False, 0, wait)
        self._used[(subscription.lower(), kind)] = (start, used + 1)
        return Verdict(True, budget - used - 1, 0)

    def remaining(self, subscription: str, kind: str) -> int:
        return self._budgets[kind] - self._current(subscription, kind)[1]

    def reset(self) -> None:
        self._used.clear()
