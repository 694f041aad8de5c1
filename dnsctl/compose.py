"""The composition root: the one place that builds concrete probers and targets from the config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dnsctl.controller.exchange import VerdictExchange
from dnsctl.controller.lease import Lease, NoLease
from dnsctl.core.model import AzureSpec, DnsctlSpec, LeaseKind, MonitorProtocol
from dnsctl.core.sites import ExchangeKind, SitesSpec
from dnsctl.engine import Engine
from dnsctl.probes.base import Prober
from dnsctl.probes.http import HttpProber
from dnsctl.probes.registry import AadTokenSource, RegistryProber
from dnsctl.probes.round import DispatchingProber
from dnsctl.probes.tcp import TcpProber
from dnsctl.process.clock import Clock, SystemClock
from dnsctl.process.state_store import FileStore, MetadataStore, StateStore
from dnsctl.targets.base import Target


@dataclass(frozen=True, slots=True)
class ProbeSetup:
    """What a probe kind's factory may use: connection reuse, and the Azure token source for ACR."""

    clock: Clock
    keepalive: bool = False  # False: a fresh connection per probe (see probes/http.py)
    aad_token: AadTokenSource | None = None


ProberFactory = Callable[[ProbeSetup], Prober]


def _http_prober(setup: ProbeSetup) -> Prober:
    return HttpProber(clock=setup.clock, keepalive=setup.keepalive)


def _tcp_prober(setup: ProbeSetup) -> Prober:
    return TcpProber(clock=setup.clock)


def _registry_prober(setup: ProbeSetup) -> Prober:
    return RegistryProber(setup.aad_token, clock=setup.clock)


# Probe kinds by monitor protocol. A new kind is its MonitorProtocol value, its prober module and one
# line here. Protocols that name the same factory share one prober (https and http share a pool).
PROBE_KINDS: Mapping[str, ProberFactory] = MappingProxyType(
    {
        MonitorProtocol.HTTPS: _http_prober,
        MonitorProtocol.HTTP: _http_prober,
        MonitorProtocol.TCP: _tcp_prober,
        MonitorProtocol.REGISTRY: _registry_prober,
    }
)


def make_prober(
    *,
    clock: Clock,
    keepalive: bool = False,
    aad_token: AadTokenSource | None = None,
    kinds: Mapping[str, ProberFactory] = PROBE_KINDS,
) -> DispatchingProber:
    """The prober for every protocol in `kinds`; call `aclose()` when done."""
    setup = ProbeSetup(clock, keepalive, aad_token)
    built: dict[ProberFactory, Prober] = {}
    for factory in kinds.values():
        if factory not in built:
            built[factory] = factory(setup)
    return DispatchingProber({protocol: built[factory] for protocol, factory in kinds.items()})


def build_prober(spec: DnsctlSpec, clock: Clock) -> Prober:
    uses_azure = any(
        p.monitor.registry is not None and p.monitor.registry.auth == "azure" for p in spec.profiles
    )
    token: AadTokenSource | None = AzureAccessToken(spec) if uses_azure else None
    return make_prober(clock=clock, aad_token=token)


# The scope ACR accepts for the access-token exchange (an Azure Resource Manager token).
ACR_EXCHANGE_SCOPE = "https://management.azure.com/.default"


class AzureAccessToken:
    """The configured Azure credential's access token, for the registry probe's token exchange.

    The credential is made at the first probe that needs it (the Azure SDK is imported only then);
    it caches and renews its own tokens.
    """

    def __init__(self, spec: DnsctlSpec) -> None:
        self._spec = spec
        self._credential: Any = None

    async def __call__(self) -> str:
        if self._credential is None:
            from dnsctl.targets.azure_auth import make_credential

            self._credential = make_credential(self._spec.azure)
        access = await self._credential.get_token(ACR_EXCHANGE_SCOPE)
        return str(access.token)


def build_clock() -> Clock:
    """The process's clock: made here, handed to everything that reads time or sleeps."""
    return SystemClock()


def build_engine(spec: DnsctlSpec, clock: Clock | None = None) -> Engine:
    """The engine, on `clock` (the process's one system clock unless a test gives its own); everything
    built on the engine (controllers, notifier, resolver, admin server) takes its clock from it."""
    clock = clock if clock is not None else build_clock()
    return Engine(spec, build_prober(spec, clock), clock)


def _azure_target(spec: DnsctlSpec, clock: Clock) -> Target:
    from dnsctl.targets.azure import AzureTarget

    return AzureTarget(spec, clock=clock)


def _rfc2136_target(spec: DnsctlSpec, clock: Clock) -> Target:
    from dnsctl.targets.rfc2136 import Rfc2136Target

    return Rfc2136Target(spec)


# Targets by the kind a profile's publication names (`azure:`, `rfc2136:`): a new kind is one entry.
TargetFactory = Callable[[DnsctlSpec, Clock], Target]
TARGETS: dict[str, TargetFactory] = {"azure": _azure_target, "rfc2136": _rfc2136_target}


def register_target(kind: str, factory: TargetFactory) -> None:
    TARGETS[kind] = factory


def target_kinds(spec: DnsctlSpec) -> list[str]:
    """The target kinds the profiles publish to, in the order they first appear."""
    kinds: list[str] = []
    for p in spec.profiles:
        if p.publication is not None and p.publication.kind not in kinds:
            kinds.append(p.publication.kind)
    return kinds


def build_target(spec: DnsctlSpec, clock: Clock) -> Target:
    from dnsctl.targets.router import TargetRouter

    kinds = target_kinds(spec) or ["azure"]
    targets = {kind: TARGETS[kind](spec, clock) for kind in kinds}
    if len(targets) == 1:
        return targets[kinds[0]]
    return TargetRouter(spec, targets)


def build_lease(spec: DnsctlSpec, clock: Clock) -> Lease:
    if spec.ha.lease is LeaseKind.AZURE_BLOB:
        from dnsctl.controller.blob_lease import AzureBlobLease

        return AzureBlobLease(spec, clock=clock)
    return NoLease()


def build_exchange(sites: SitesSpec, azure: AzureSpec | None = None) -> VerdictExchange:
    """The verdict exchange the sites' vantages share."""
    from dnsctl.controller.exchange import DirectoryExchange

    ex = sites.exchange
    assert ex is not None  # `run --site` checks that the configuration names one
    if ex.kind is ExchangeKind.AZURE_BLOB:
        from dnsctl.controller.exchange_blob import BlobExchange

        return BlobExchange(ex, sites.names, azure=azure)
    assert ex.path is not None
    return DirectoryExchange(Path(ex.path), sites.names)


def build_store(
    state_file: Path | None,
    *,
    clock: Clock,
    read_only: bool = False,
    vantage: str | None = None,
) -> StateStore:
    """The health history in a state file when one is named, else in the records' metadata; `vantage`:
    the site whose vantage this process is (`run --site`), stored with the history."""
    if state_file is not None:
        return FileStore(state_file, clock=clock, read_only=read_only, vantage=vantage)
    return MetadataStore(vantage=vantage)
