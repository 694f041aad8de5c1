"""The composition root: the one place that builds concrete probers and targets from the config."""

from __future__ import annotations

from dnsctl.clock import Clock, SystemClock
from dnsctl.core.model import DnsctlSpec
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
