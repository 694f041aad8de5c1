"""Turn a valid settings model into frozen core specs. Runs only after `rules.check` found nothing."""

from __future__ import annotations

from dnsctl.config import rfc2136, sites
from dnsctl.config.schema import DnsctlSettings, EndpointModel, MonitorModel, ProfileModel, ResolverModel
from dnsctl.config.values import (
    normalize_fqdn,
    parse_canary,
    parse_host_port,
    parse_status_range,
    token_host,
)
from dnsctl.core.model import (
    AdminSpec,
    AzureCredentialKind,
    AzureRecordSpec,
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
    RecordType,
    RegistryProbeSpec,
    ResolverSpec,
    Routing,
    SafetySpec,
    ViewSpec,
    WebhookSpec,
    WhenAllDown,
    ZoneRecordSpec,
    ZoneSpec,
)


def to_spec(s: DnsctlSettings) -> DnsctlSpec:
    return DnsctlSpec(
        profiles=tuple(_profile(p) for p in s.profiles),
        azure=AzureSpec(
            credential=AzureCredentialKind(s.azure.credential),
            base_url=s.azure.base_url.rstrip("/"),
            client_id=s.azure.client_id,
            max_retry_after=s.azure.max_retry_after,
            deadline=s.azure.deadline,
        ),
        resolver=_resolver(s.resolver),
        admin=AdminSpec(listen=parse_host_port(s.admin.listen, None)),
        ha=HaSpec(lease=LeaseKind(s.ha.lease), blob_url=s.ha.blob_url, lease_duration=s.ha.lease_duration),
        safety=SafetySpec(max_changes_per_run=s.safety.max_changes_per_run),
        isolation_guard=IsolationGuardSpec(
            enabled=s.isolation_guard.enabled,
            min_endpoints=s.isolation_guard.min_endpoints,
            canaries=tuple(parse_canary(c) for c in s.isolation_guard.canaries),
        ),
        resync_interval=s.resync_interval,
        mirror=MirrorSpec(
            containerd_hosts_dir=s.mirror.containerd.hosts_dir if s.mirror.containerd.enabled else None,
            crio_registries_dir=s.mirror.crio.registries_dir if s.mirror.crio.enabled else None,
        ),
        notify=NotifySpec(
            webhooks=tuple(
                WebhookSpec(
                    url=w.url,
                    url_env=w.url_env,
                    format=NotifyFormat(w.format),
                    events=tuple(dict.fromkeys(w.events)),
                )
                for w in s.notify.webhooks
            ),
            queue_size=s.notify.queue_size,
            attempts=s.notify.attempts,
            backoff=s.notify.backoff,
            timeout=s.notify.timeout,
        ),
        sites=sites.to_spec(s),
    )


def _monitor(m: MonitorModel) -> MonitorSpec:
    protocol = MonitorProtocol(m.protocol)
    default_port = {MonitorProtocol.HTTPS: 443, MonitorProtocol.HTTP: 80}.get(protocol, 0)
    registry = None
    if m.registry is not None:
        registry = RegistryProbeSpec(
            m.registry.repository,
            m.registry.reference,
            m.registry.plain_http,
            m.registry.auth,
            tuple(token_host(h) for h in m.registry.token_hosts),
        )
    if protocol is MonitorProtocol.REGISTRY:
        default_port = 80 if registry is not None and registry.plain_http else 443
    return MonitorSpec(
        protocol=protocol,
        port=m.port if m.port is not None else default_port,
        path=m.path,
        expected_status=tuple(parse_status_range(v) for v in m.expected_status),
        headers=tuple(m.headers.items()),
        host=normalize_fqdn(m.host) if m.host else None,
        sni=normalize_fqdn(m.sni) if m.sni else None,
        verify_tls=m.verify_tls,
        ca_file=m.ca_file,
        body_match=m.body_match,
        interval=m.interval,
        timeout=m.timeout,
        fall=m.fall,
        rise=m.rise,
        flap_window=m.flap_window,
        flap_threshold=m.flap_threshold,
        flap_hold=m.flap_hold,
        registry=registry,
    )


def _endpoint(e: EndpointModel) -> EndpointSpec:
    return EndpointSpec(
        name=e.name,
        target=normalize_fqdn(e.target),
        priority=e.priority,
        weight=e.weight,
        region=e.region,
        addresses=sites.default_addresses(e),
        status=EndpointStatus(e.status),
        override=Override(e.override),
    )


def _profile(p: ProfileModel) -> ProfileSpec:
    azure = None
    if p.azure is not None and not isinstance(p.azure, list):
        a = p.azure
        azure = AzureRecordSpec(
            subscription_id=a.subscription_id,
            resource_group=a.resource_group,
            zone=normalize_fqdn(a.zone),
            record=a.record if a.record == "@" else a.record.lower().rstrip("."),
            record_type=RecordType(a.record_type),
            adopt=a.adopt,
            allow_type_change=a.allow_type_change,
        )
    return ProfileSpec(
        name=p.name,
        fqdn=normalize_fqdn(p.fqdn),
        endpoints=tuple(_endpoint(e) for e in p.endpoints),
        ttl=p.ttl,
        routing=Routing(p.routing),
        failback=Failback(p.failback),
        failback_hold=p.failback_hold,
        when_all_down=WhenAllDown(p.when_all_down),
        fallback=normalize_fqdn(p.fallback) if p.fallback else None,
        monitor=_monitor(p.monitor),
        azure=azure,
        target=rfc2136.to_spec(p.rfc2136) if p.rfc2136 is not None else None,
        performance_margin=p.performance_margin,
        weight_seed=p.weight_seed,
        startup_grace=p.startup_grace,
        mirror=ProfileMirrorSpec(
            capabilities=tuple(dict.fromkeys(p.mirror.capabilities)),
            ca=p.mirror.ca,
            skip_verify=p.mirror.skip_verify,
            override_path=p.mirror.override_path,
            adopt=p.mirror.adopt,
        ),
    )


def _resolver(r: ResolverModel) -> ResolverSpec:
    return ResolverSpec(
        listen=tuple(parse_host_port(v, None) for v in r.listen),
        upstreams=tuple(parse_host_port(v, 53) for v in r.upstreams),
        allow=tuple(r.allow),
        cache=CacheSpec(
            max_entries=r.cache.max_entries,
            serve_stale=r.cache.serve_stale,
            min_ttl=r.cache.min_ttl,
            max_ttl=r.cache.max_ttl,
            negative_max_ttl=r.cache.negative_max_ttl,
        ),
        views=tuple(
            ViewSpec(
                name=v.name,
                clients=tuple(v.clients),
                prefer=tuple((prof, tuple(order)) for prof, order in v.prefer.items()),
            )
            for v in r.views
        ),
        zones=tuple(
            ZoneSpec(
                name=normalize_fqdn(z.name),
                records=tuple(ZoneRecordSpec(x.name, x.type.upper(), x.value, x.ttl) for x in z.records),
            )
            for z in r.zones
        ),
        upstream_timeout=r.upstream_timeout,
        rate_limit=RateLimitSpec(
            qps=r.rate_limit.qps,
            burst=r.rate_limit.burst,
            slip=r.rate_limit.slip,
            ipv4_prefix=r.rate_limit.ipv4_prefix,
            ipv6_prefix=r.rate_limit.ipv6_prefix,
        ),
        tcp_idle_timeout=r.tcp_idle_timeout,
        tcp_max_connections=r.tcp_max_connections,
        negative_ttl=r.negative_ttl,
        tcp_max_per_client=r.tcp_max_per_client,
    )
