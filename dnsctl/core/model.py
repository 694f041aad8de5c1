"""Frozen specifications: what the configuration says, validated once, as plain values.

Everything in the core works on these types; pydantic objects never reach it. Durations are
seconds as floats; time is always an argument, never read from a clock here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from dnsctl.core.publication import AzureRecordSpec, PublicationSpec
from dnsctl.core.zone_records import ZoneSpec

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The port a URL of each scheme means when it names none (monitors, runtime mirrors, canaries).
DEFAULT_PORTS: dict[str, int] = {"https": 443, "http": 80}


class MonitorProtocol(StrEnum):
    HTTPS = "https"
    HTTP = "http"
    TCP = "tcp"
    REGISTRY = "registry"  # token, then a manifest HEAD (see probes/registry.py)


class Routing(StrEnum):
    PRIORITY = "priority"
    WEIGHTED = "weighted"
    PERFORMANCE = "performance"


class Failback(StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


class WhenAllDown(StrEnum):
    KEEP_LAST = "keep-last"
    SERVE_ALL = "serve-all"
    SERVE_FIRST = "serve-first"
    FALLBACK = "fallback"


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class Override(StrEnum):
    OBEY = "obey"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class StatusRange:
    """An inclusive range of HTTP status codes; a single code has low == high."""

    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


DEFAULT_EXPECTED_STATUS: tuple[StatusRange, ...] = (StatusRange(200, 299), StatusRange(401, 401))


@dataclass(frozen=True, slots=True)
class RegistryProbeSpec:
    repository: str
    reference: str = "latest"
    plain_http: bool = False
    # "azure": exchange the configured Azure credential's token for a registry token (ACR's /oauth2).
    auth: str = "anonymous"
    # Hosts besides the endpoint's target that a 401 challenge's token realm may name (lower-case).
    token_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    protocol: MonitorProtocol = MonitorProtocol.HTTPS
    port: int = 443
    path: str = "/v2/"
    expected_status: tuple[StatusRange, ...] = DEFAULT_EXPECTED_STATUS
    headers: tuple[tuple[str, str], ...] = (("User-Agent", "dnsctl"),)
    host: str | None = None
    sni: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    body_match: str | None = None
    interval: float = 10.0
    timeout: float = 5.0
    fall: int = 3
    rise: int = 2
    # Flap damping: the `flap_threshold`-th Online -> Degraded transition inside `flap_window`
    # holds the endpoint down for `flap_hold`, doubled for each further flap (capped at 16x).
    flap_window: float = 600.0
    flap_threshold: int = 3
    flap_hold: float = 120.0
    registry: RegistryProbeSpec | None = None

    @property
    def default_port(self) -> int:
        """The port of this protocol's scheme when none is configured (0 for tcp: a port is required)."""
        return 0 if self.protocol is MonitorProtocol.TCP else DEFAULT_PORTS[self.scheme]

    @property
    def scheme(self) -> str:
        """How a client reaches the endpoint: what a runtime mirror entry names."""
        if self.protocol is MonitorProtocol.HTTP:
            return "http"
        if (
            self.protocol is MonitorProtocol.REGISTRY
            and self.registry is not None
            and self.registry.plain_http
        ):
            return "http"
        return "https"

    def accepts(self, code: int) -> bool:
        return any(code in r for r in self.expected_status)


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    name: str
    target: str
    priority: int
    weight: int = 1
    region: str | None = None
    addresses: tuple[str, ...] = ()
    status: EndpointStatus = EndpointStatus.ENABLED
    override: Override = Override.OBEY

    @property
    def probe_address(self) -> str:
        """Where a probe connects when no address is named: the first configured one, else the target."""
        return self.addresses[0] if self.addresses else self.target


@dataclass(frozen=True, slots=True)
class ProfileMirrorSpec:
    capabilities: tuple[str, ...] = ("pull", "resolve")
    ca: str | None = None
    skip_verify: bool = False
    override_path: bool = False
    adopt: bool = False


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    name: str
    fqdn: str
    endpoints: tuple[EndpointSpec, ...]
    ttl: int = 30
    routing: Routing = Routing.PRIORITY
    failback: Failback = Failback.AUTO
    failback_hold: float = 60.0
    when_all_down: WhenAllDown = WhenAllDown.KEEP_LAST
    fallback: str | None = None
    monitor: MonitorSpec = field(default_factory=MonitorSpec)
    azure: AzureRecordSpec | None = None
    # A publication on another kind of target (rfc2136, ...); at most one of `azure` and `target`.
    target: PublicationSpec | None = None
    # Performance routing switches only to an endpoint whose median latency is better than the
    # current one's by this fraction, for `monitor.rise` rounds in a row.
    performance_margin: float = 0.2
    # Weighted routing draws from this seed so that tests and replays are deterministic.
    weight_seed: int = 0
    # Until every enabled endpoint has a verdict nothing changes; after this grace the current
    # record is kept (DESIGN rule 1).
    startup_grace: float = 60.0
    mirror: ProfileMirrorSpec = field(default_factory=ProfileMirrorSpec)

    def endpoint(self, name: str) -> EndpointSpec:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)

    @property
    def publication(self) -> PublicationSpec | None:
        """Where the profile's record is published, whatever the target kind."""
        return self.azure if self.azure is not None else self.target

    @property
    def by_priority(self) -> tuple[EndpointSpec, ...]:
        return tuple(sorted(self.endpoints, key=lambda e: e.priority))


class AzureCredentialKind(StrEnum):
    DEFAULT = "default"
    WORKLOAD = "workload"
    MANAGED = "managed"
    CLI = "cli"
    STATIC = "static"


@dataclass(frozen=True, slots=True)
class AzureSpec:
    credential: AzureCredentialKind = AzureCredentialKind.DEFAULT
    base_url: str = "https://management.azure.com"
    # Only the client id of a user-assigned identity; never a secret.
    client_id: str | None = None
    # A throttled call waits at most this long (Retry-After); a longer wait fails the call instead.
    max_retry_after: float = 60.0
    # One reconcile pass's Azure calls end by this many seconds after the pass began.
    deadline: float = 120.0


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str
    clients: tuple[Network, ...]
    prefer: tuple[tuple[str, tuple[str, ...]], ...]  # (profile name, endpoint names in order)

    def preference(self, profile: str) -> tuple[str, ...] | None:
        for name, order in self.prefer:
            if name == profile:
                return order
        return None


@dataclass(frozen=True, slots=True)
class CacheSpec:
    max_entries: int = 100_000
    serve_stale: float = 3600.0
    min_ttl: int = 0
    max_ttl: int = 86_400
    negative_max_ttl: int = 900


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """Response rate limiting per (client network, response group); 0 qps disables it, None means on by
    default when `allow` admits more than loopback (see resolver/ratelimit.py)."""

    qps: float | None = None
    burst: int = 100
    slip: int = 2
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    listen: tuple[HostPort, ...] = (HostPort("127.0.0.1", 5353),)
    upstreams: tuple[HostPort, ...] = ()
    allow: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    cache: CacheSpec = field(default_factory=CacheSpec)
    views: tuple[ViewSpec, ...] = ()
    zones: tuple[ZoneSpec, ...] = ()
    upstream_timeout: float = 2.0
    rate_limit: RateLimitSpec = field(default_factory=RateLimitSpec)
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    negative_ttl: int = 60  # seconds: SOA minimum of lab zones and of steered names' synthesized zones
    tcp_max_per_client: int = 16


@dataclass(frozen=True, slots=True)
class AdminSpec:
    listen: HostPort = HostPort("127.0.0.1", 9153)


class LeaseKind(StrEnum):
    NONE = "none"
    AZURE_BLOB = "azure-blob"


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """An Azure blob: the account's URL (with the account in the path for an emulator), container, blob."""

    account_url: str
    container: str
    blob: str

    def __str__(self) -> str:
        return f"{self.container}/{self.blob}"


@dataclass(frozen=True, slots=True)
class HaSpec:
    lease: LeaseKind = LeaseKind.NONE
    blob: BlobLocation | None = None  # set when `lease` is azure-blob
    lease_duration: int = 30  # whole seconds, 15 to 60 (what an Azure Blob lease accepts)


@dataclass(frozen=True, slots=True)
class SafetySpec:
    max_changes_per_run: int = 5


@dataclass(frozen=True, slots=True)
class CanarySpec:
    """A target outside the endpoint set: if it answers, the controller's own network works."""

    host: str
    port: int
    scheme: str | None = None  # "http" or "https" for a URL canary; None for a TCP connect
    path: str = "/"

    def __str__(self) -> str:
        hp = str(HostPort(self.host, self.port))
        return f"{self.scheme}://{hp}{self.path}" if self.scheme else hp


@dataclass(frozen=True, slots=True)
class IsolationGuardSpec:
    enabled: bool = True
    # The guard needs enough independent endpoints to tell "our network is down" from
    # "these replicas are down".
    min_endpoints: int = 2
    canaries: tuple[CanarySpec, ...] = ()


@dataclass(frozen=True, slots=True)
class MirrorSpec:
    """Where `dnsctl mirror` writes; a runtime whose directory is None is not written."""

    containerd_hosts_dir: str | None = "/etc/containerd/certs.d"
    crio_registries_dir: str | None = None


class NotifyFormat(StrEnum):
    JSON = "json"  # the generic body documented in the README
    SLACK = "slack"  # {"text": ...}: Slack incoming webhooks (and Mattermost, Rocket.Chat)
    TEAMS = "teams"  # a MessageCard with a title and text: Microsoft Teams incoming webhooks


# What a webhook can be told about.
NOTIFY_EVENTS = ("failover", "failback", "all-down", "drift", "isolation", "lease-lost")


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    url: str | None = None  # given in the file
    url_env: str | None = None  # or the name of the environment variable that holds it (a secret)
    format: NotifyFormat = NotifyFormat.JSON
    events: tuple[str, ...] = NOTIFY_EVENTS


@dataclass(frozen=True, slots=True)
class NotifySpec:
    """Webhooks told about decisions; sent in the background, never in the way of a DNS write."""

    webhooks: tuple[WebhookSpec, ...] = ()
    queue_size: int = 100  # notifications waiting per webhook; beyond it the oldest is dropped (counted)
    attempts: int = 5  # tries per notification, the first included
    backoff: float = 1.0  # wait before the first retry, doubled after each (at most 60 s)
    timeout: float = 5.0  # per request


@dataclass(frozen=True, slots=True)
class DnsctlSpec:
    profiles: tuple[ProfileSpec, ...]
    azure: AzureSpec = field(default_factory=AzureSpec)
    resolver: ResolverSpec = field(default_factory=ResolverSpec)
    admin: AdminSpec = field(default_factory=AdminSpec)
    ha: HaSpec = field(default_factory=HaSpec)
    safety: SafetySpec = field(default_factory=SafetySpec)
    isolation_guard: IsolationGuardSpec = field(default_factory=IsolationGuardSpec)
    resync_interval: float = 300.0
    mirror: MirrorSpec = field(default_factory=MirrorSpec)
    notify: NotifySpec = field(default_factory=NotifySpec)

    def profile(self, name: str) -> ProfileSpec:
        for p in self.profiles:
            if p.name == name:
                return p
        raise KeyError(name)
