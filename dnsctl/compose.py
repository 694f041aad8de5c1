"""The composition root: the one place that builds concrete probers and targets from the config."""

from __future__ import annotations

from dnsctl.clock import Clock, SystemClock
from dnsctl.controller.lease import Lease, NoLease
from dnsctl.core.model import DnsctlSpec, LeaseKind
from dnsctl.engine import Engine
from dnsctl.probes.base import Prober
from dnsctl.probes.round import make_prober
from dnsctl.targets.base import Target


def build_prober(spec: DnsctlSpec) -> Prober:
    return make_prober()


def build_engine(spec: DnsctlSpec, clock: Clock | None = None) -> Engine:
    return Engine(spec, build_prober(spec), clock or SystemClock())


def build_target(spec: DnsctlSpec) -> Target:
    from dnsctl.targets.azure import AzureTarget

    return AzureTarget(spec)


def build_lease(spec: DnsctlSpec) -> Lease:
    if spec.ha.lease is LeaseKind.AZURE_BLOB:
        from dnsctl.controller.blob_lease import AzureBlobLease

        return AzureBlobLease(spec)
    return NoLease()
