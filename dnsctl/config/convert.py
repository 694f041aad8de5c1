"""Turn a valid settings model into frozen core specs. Runs only after `rules.check` found nothing.

Mechanical: a spec's field takes the model's field of the same name (`_copy`); only fields whose
value is parsed, converted to an enum or renamed are written out here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from dnsctl.config import rfc2136
from dnsctl.config.schema import (
    DnsctlSettings,
    EndpointModel,
    MonitorModel,
    ProfileModel,
    ResolverModel,
    ZoneRecordModel,
)
from dnsctl.config.values import (
    normalize_fqdn,
    parse_blob_url,
    parse_canary,
    parse_host_port,
    parse_network,
    parse_status_range,
    token_host,
    zone_record,
)
from dnsctl.core.model import (
    AdminSpec,
    AzureCredentialKind,
    AzureSpec,
    CacheSpec,
    DnsctlSpec,
    EndpointSpec,
    EndpointStatus,
    Failback,
    HaSpec,
    IsolationGuardSpec,
    LeaseKind,
    MirrorSpec,
    MonitorProtocol,
    MonitorSpec,
    NotifyFormat,
    NotifySpec,
    Override,
    ProfileMirrorSpec,
    ProfileSpec,
    RateLimitSpec,
    RegistryProbeSpec,
    ResolverSpec,
    Routing,
    SafetySpec,
    ViewSpec,
    WebhookSpec,
    WhenAllDown,
)
from dnsctl.core.publication import AzureRecordSpec, RecordType
from dnsctl.core.zone_records import ZoneSpec

S = TypeVar("S")


def _copy(spec: type[S], model: BaseModel, **given: Any) -> S:
    """`spec` with the fields in `given`, the others taken by name from `model`."""
    values = {
        f.name: given[f.name] if f.name in given else getattr(model, f.name)
        for f in dataclasses.fields(cast(Any, spec))
    }
    return spec(**values)


def to_spec(s: DnsctlSettings) -> DnsctlSpec:
    return _copy(
        DnsctlSpec,
        s,
        profiles=tuple(_profile(p) for p in s.profiles),
        azure=_copy(
            AzureSpec,
            s.azure,
            credential=AzureCredentialKind(s.azure.credential),
            base_url=s.azure.base_url.rstrip("/"),
        ),
        resolver=_resolver(s.resolver),
        admin=AdminSpec(listen=parse_host_port(s.admin.listen, None)),
        ha=HaSpec(
            lease=LeaseKind(s.ha.lease),
            blob=parse_blob_url(s.ha.blob_url) if s.ha.lease == "azure-blob" and s.ha.blob_url else None,
            lease_duration=int(s.ha.lease_duration),
        ),
        safety=_copy(SafetySpec, s.safety),
        isolation_guard=_copy(
            IsolationGuardSpec,
            s.isolation_guard,
            canaries=tuple(parse_canary(c) for c in s.isolation_guard.canaries),
        ),
        mirror=MirrorSpec(
            containerd_hosts_dir=s.mirror.containerd.hosts_dir if s.mirror.containerd.enabled else None,
            crio_registries_dir=s.mirror.crio.registries_dir if s.mirror.crio.enabled else None,
        ),
        notify=_copy(
            NotifySpec,
            s.notify,
            webhooks=tuple(
                _copy(WebhookSpec, w, format=NotifyFormat(w.format), events=tuple(dict.fromkeys(w.events)))
                for w in s.notify.webhooks
            ),
        ),
    )


def _monitor(m: MonitorModel) -> MonitorSpec:
    registry = None
    if m.registry is not None:
        registry = _copy(
            RegistryProbeSpec, m.registry, token_hosts=tuple(token_host(h) for h in m.registry.token_hosts)
        )
    spec = _copy(
        MonitorSpec,
        m,
        protocol=MonitorProtocol(m.protocol),
        port=0,
        expected_status=tuple(parse_status_range(v) for v in m.expected_status),
        headers=tuple(m.headers.items()),
        host=normalize_fqdn(m.host) if m.host else None,
        sni=normalize_fqdn(m.sni) if m.sni else None,
        registry=registry,
    )
    return dataclasses.replace(spec, port=m.port if m.port is not None else spec.default_port)


def _endpoint(e: EndpointModel) -> EndpointSpec:
    return _copy(
        EndpointSpec,
        e,
        target=normalize_fqdn(e.target),
        addresses=tuple(e.addresses),
        status=EndpointStatus(e.status),
        override=Override(e.override),
    )


def _profile(p: ProfileModel) -> ProfileSpec:
    azure = None
    if p.azure is not None:
        a = p.azure
        azure = _copy(
            AzureRecordSpec,
            a,
            zone=normalize_fqdn(a.zone),
            record=a.record if a.record == "@" else a.record.lower().rstrip("."),
            record_type=RecordType(a.record_type),
        )
    return _copy(
        ProfileSpec,
        p,
        fqdn=normalize_fqdn(p.fqdn),
        endpoints=tuple(_endpoint(e) for e in p.endpoints),
        routing=Routing(p.routing),
        failback=Failback(p.failback),
        when_all_down=WhenAllDown(p.when_all_down),
        fallback=normalize_fqdn(p.fallback) if p.fallback else None,
        monitor=_monitor(p.monitor),
        azure=azure,
        target=rfc2136.to_spec(p.rfc2136) if p.rfc2136 is not None else None,
        mirror=_copy(ProfileMirrorSpec, p.mirror, capabilities=tuple(dict.fromkeys(p.mirror.capabilities))),
    )


def _zone(name: str, records: Sequence[ZoneRecordModel]) -> ZoneSpec:
    origin = normalize_fqdn(name)
    return ZoneSpec(origin, tuple(zone_record(origin, x.name, x.type, x.value, x.ttl) for x in records))


def _resolver(r: ResolverModel) -> ResolverSpec:
    return _copy(
        ResolverSpec,
        r,
        listen=tuple(parse_host_port(v, None) for v in r.listen),
        upstreams=tuple(parse_host_port(v, 53) for v in r.upstreams),
        allow=tuple(parse_network(n) for n in r.allow),
        cache=_copy(CacheSpec, r.cache),
        views=tuple(
            _copy(
                ViewSpec,
                v,
                clients=tuple(parse_network(n) for n in v.clients),
                prefer=tuple((prof, tuple(order)) for prof, order in v.prefer.items()),
            )
            for v in r.views
        ),
        zones=tuple(_zone(z.name, z.records) for z in r.zones),
        rate_limit=_copy(RateLimitSpec, r.rate_limit),
    )
