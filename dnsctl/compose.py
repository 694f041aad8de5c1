"""The composition root: the one place that builds concrete probers and targets from the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnsctl.controller.lease import Lease, NoLease
from dnsctl.core.model import DnsctlSpec, LeaseKind
from dnsctl.engine import Engine
from dnsctl.probes.base import Prober
from dnsctl.probes.registry import AadTokenSource
from dnsctl.probes.round import make_prober
from dnsctl.process.clock import Clock, SystemClock
from dnsctl.process.state_store import FileStore, MetadataStore, StateStore
from dnsctl.targets.base import Target


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
            from dnsctl.targets.azure import make_credential

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


def build_target(spec: DnsctlSpec, clock: Clock) -> Target:
    from dnsctl.targets.azure import AzureTarget

    return AzureTarget(spec, clock=clock)


def build_lease(spec: DnsctlSpec, clock: Clock) -> Lease:
    if spec.ha.lease is LeaseKind.AZURE_BLOB:
        from dnsctl.controller.blob_lease import AzureBlobLease

        return AzureBlobLease(spec, clock=clock)
    return NoLease()


def build_store(state_file: Path | None, *, clock: Clock, read_only: bool = False) -> StateStore:
    """The health history in a state file when one is named, else in the records' metadata."""
    if state_file is not None:
        return FileStore(state_file, clock=clock, read_only=read_only)
    return MetadataStore()
