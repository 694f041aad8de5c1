"""Spec builders for probe tests."""

from __future__ import annotations

from typing import Any

from dnsctl.core.model import EndpointSpec, MonitorProtocol, MonitorSpec, ProfileSpec

TARGET = "myregistry.eastus.geo.azurecr.io"


def profile(port: int, protocol: str = "https", **monitor: Any) -> ProfileSpec:
    """A profile whose monitor probes `port`; the timeout is generous unless a test is about timeouts."""
    monitor.setdefault("timeout", 5.0)
    spec = MonitorSpec(protocol=MonitorProtocol(protocol), port=port, **monitor)
    return ProfileSpec(name="myregistry", fqdn="myregistry.azurecr.io", endpoints=(), monitor=spec)


def endpoint(address: str | None = "127.0.0.2", target: str = TARGET, name: str = "eastus") -> EndpointSpec:
    return EndpointSpec(name=name, target=target, priority=1, addresses=(address,) if address else ())
