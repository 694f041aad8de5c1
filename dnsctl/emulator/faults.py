"""Faults the tests ask for: failed answers N times, added latency, a concurrent writer, and writes
applied whose answer is lost (the connection reset instead)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AppliesTo = Literal["read", "write", "any"]


@dataclass
class InjectedAnswer:
    """Answer the next `times` matching requests with `status` (429 carries `retry_after` seconds)."""

    status: int
    times: int
    applies_to: AppliesTo = "any"
    path_contains: str | None = None
    retry_after: float | None = None

    def matches(self, kind: str, path: str) -> bool:
        if self.applies_to not in ("any", kind):
            return False
        return self.path_contains is None or self.path_contains.lower() in path.lower()


@dataclass
class InjectedReset:
    """Apply the next `times` matching requests, then reset the connection instead of answering."""

    times: int
    applies_to: AppliesTo = "write"
    path_contains: str | None = None

    def matches(self, kind: str, path: str) -> bool:
        if self.applies_to not in ("any", kind):
            return False
        return self.path_contains is None or self.path_contains.lower() in path.lower()


@dataclass(frozen=True)
class ConcurrentWrite:
    """Another writer changes a record set just before our write's condition is checked."""

    properties: dict[str, Any] | None


class FaultPlan:
    """Not thread-safe: the server holds its lock while consulting it."""

    def __init__(self) -> None:
        self.latency = 0.0
        self._answers: list[InjectedAnswer] = []
        self._resets: list[InjectedReset] = []
        self._writers: dict[tuple[tuple[str, str, str], str, str], list[ConcurrentWrite]] = {}

    def add_answer(self, answer: InjectedAnswer) -> None:
        if answer.times < 1:
            raise ValueError("times must be at least 1")
        self._answers.append(answer)

    def take_answer(self, kind: str, path: str) -> InjectedAnswer | None:
        for answer in self._answers:
            if answer.matches(kind, path):
                answer.times -= 1
                if answer.times == 0:
                    self._answers.remove(answer)
                return answer
        return None

    def add_reset(self, reset: InjectedReset) -> None:
        if reset.times < 1:
            raise ValueError("times must be at least 1")
        self._resets.append(reset)

    def take_reset(self, kind: str, path: str) -> InjectedReset | None:
        for reset in self._resets:
            if reset.matches(kind, path):
                reset.times -= 1
                if reset.times == 0:
                    self._resets.remove(reset)
                return reset
        return None

    def add_writer(
        self, zone_key: tuple[str, str, str], record_type: str, name: str, write: ConcurrentWrite
    ) -> None:
        self._writers.setdefault((zone_key, record_type, name.lower()), []).append(write)

    def take_writer(
        self, zone_key: tuple[str, str, str], record_type: str, name: str
    ) -> ConcurrentWrite | None:
        queue = self._writers.get((zone_key, record_type, name.lower()))
        if not queue:
            return None
        write = queue.pop(0)
        if not queue:
            del self._writers[(zone_key, record_type, name.lower())]
        return write

    def pending(self) -> dict[str, Any]:
        return {
            "answers": [vars(a).copy() for a in self._answers],
            "resets": [vars(r).copy() for r in self._resets],
            "concurrentWrites": sum(len(q) for q in self._writers.values()),
            "latency": self.latency,
        }

    def clear(self) -> None:
        self.latency = 0.0
        self._answers.clear()
        self._resets.clear()
        self._writers.clear()
