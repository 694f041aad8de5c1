"""One target made of several, by kind: each profile's record goes to the target of its publication's kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import Change, Published
from dnsctl.targets.base import ChangeResult, Target, WriteGuard


class TargetRouter:
    def __init__(self, spec: DnsctlSpec, targets: Mapping[str, Target]) -> None:
        self.targets = dict(targets)
        self._kind = {p.name: p.publication.kind for p in spec.profiles if p.publication is not None}

    def begin_pass(self) -> None:
        for t in self.targets.values():
            t.begin_pass()

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        out: dict[str, Published] = {}
        for kind, target in self.targets.items():
            mine = [p for p in profiles if self._kind.get(p.name) == kind]
            if mine:
                out.update(await target.read(mine))
        return out

    async def apply(self, changes: Sequence[Change], guard: WriteGuard | None = None) -> list[ChangeResult]:
        by_change: dict[int, ChangeResult] = {}
        for kind, target in self.targets.items():
            mine = [(i, c) for i, c in enumerate(changes) if self._kind.get(c.profile) == kind]
            if mine:
                results = await target.apply([c for _, c in mine], guard)
                by_change.update({i: r for (i, _), r in zip(mine, results, strict=True)})
        return [by_change[i] for i in range(len(changes))]

    async def close(self) -> None:
        for t in self.targets.values():
            await t.close()
