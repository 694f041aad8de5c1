"""Replication awareness (`registry.watch`): which replicas lag behind the one clients use now.

A replica lags when, for a watched reference, the current replica serves a digest and it serves
another one (or none). Pure: it reads the digests the probes recorded in each endpoint's health. A
replica not yet probed for the watched references (no digests) is not judged.
"""

from __future__ import annotations

from collections.abc import Mapping

from dnsctl.core.health import EndpointHealth


def lagging(health: Mapping[str, EndpointHealth], current: str | None) -> dict[str, tuple[str, ...]]:
    """Each endpoint that lags behind `current`, with the watched references it does not serve yet."""
    if current is None or current not in health:
        return {}
    reference = {ref: d for ref, d in health[current].digests.items() if d}
    out: dict[str, tuple[str, ...]] = {}
    for name, h in health.items():
        if name == current or not h.digests:
            continue
        behind = tuple(r for r, d in sorted(reference.items()) if r in h.digests and h.digests[r] != d)
        if behind:
            out[name] = behind
    return out


def describe_lag(lags: Mapping[str, tuple[str, ...]], current: str) -> str:
    """`eastus lags behind westeurope (app:1)`, for each lagging endpoint in name order."""
    return "; ".join(f"{n} lags behind {current} ({', '.join(refs)})" for n, refs in sorted(lags.items()))
