"""The configuration's shape, as pydantic models (the public interface of dnsctl.yaml).

Field names and meanings follow the reference configuration; fields may be added, never
renamed. These models check types and single values; rules that span fields live in
`dnsctl.config.rules`, and `dnsctl.config.convert` turns a valid model into frozen core specs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dnsctl.config.values import parse_duration, parse_status_range

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _status(value: int | str) -> int | str:
    parse_status_range(value)
    return value


StatusCodes = Annotated[int | str, AfterValidator(_status)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryProbeModel(Strict):
    """`monitor.protocol: registry`: what the probe pulls (a token, then a manifest HEAD)."""

    repository: str
    reference: str = "latest"
    plain_http: bool = False
    auth: Literal["anonymous", "azure"] = "anonymous"


class MonitorModel(Strict):
    protocol: Literal["https", "http", "tcp", "registry"] = "https"
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = "/v2/"
    expected_status: list[StatusCodes] = Field(default_factory=lambda: list[int | str](["200-299", 401]))
    headers: dict[str, str] = Field(default_factory=lambda: {"User-Agent": "dnsctl"})
    host: str | None = None
    sni: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    body_match: str | None = None
    interval: Duration = 10.0
    timeout: Duration = 5.0
    fall: int = 3
    rise: int = 2
    flap_window: Duration = 600.0
    flap_threshold: int = Field(default=3, ge=1)
    flap_hold: Duration = 120.0
    registry: RegistryProbeModel | None = None


class EndpointModel(Strict):
    name: str
    target: str
    priority: int
    weight: int = Field(default=1, ge=0)
    region: str | None = None
    addresses: list[str] = Field(default_factory=list)
    status: Literal["enabled", "disabled"] = "enabled"
    override: Literal["obey", "up", "down"] = "obey"


class AzureRecordModel(Strict):
    subscription_id: str
    resource_group: str
    zone: str
    record: str
    record_type: Literal["CNAME", "A"] = "CNAME"
    adopt: bool = False
    allow_type_change: bool = False


Capability = Literal["pull", "resolve", "push"]


def _default_capabilities() -> list[Capability]:
    return ["pull", "resolve"]


class ProfileMirrorModel(Strict):
    """How `dnsctl mirror` writes this profile's container runtime mirror configuration."""

    capabilities: list[Capability] = Field(default_factory=_default_capabilities)
    ca: str | None = None
    skip_verify: bool = False
    override_path: bool = False
    adopt: bool = False


class ProfileModel(Strict):
    name: str
    fqdn: str
    ttl: int = Field(default=30, ge=1, le=2_147_483_647)
    routing: Literal["priority", "weighted", "performance"] = "priority"
    failback: Literal["auto", "manual"] = "auto"
    failback_hold: Duration = 60.0
    when_all_down: Literal["keep-last", "serve-all", "serve-first", "fallback"] = "keep-last"
    fallback: str | None = None
    monitor: MonitorModel = Field(default_factory=MonitorModel)
    endpoints: list[EndpointModel]
    azure: AzureRecordModel | None = None
    performance_margin: float = Field(default=0.2, ge=0.0, lt=1.0)
    weight_seed: int = 0
    startup_grace: Duration = 60.0
    mirror: ProfileMirrorModel = Field(default_factory=ProfileMirrorModel)


class AzureModel(Strict):
    credential: Literal["default", "workload", "managed", "cli", "static"] = "default"
    base_url: str = "https://management.azure.com"
    client_id: str | None = None
    max_retry_after: Duration = 60.0
    deadline: Duration = 120.0


class CacheModel(Strict):
    max_entries: int = Field(default=100_000, ge=0)
    serve_stale: Duration = 3600.0
    min_ttl: int = Field(default=0, ge=0)
    max_ttl: int = Field(default=86_400, ge=1)
    negative_max_ttl: int = Field(default=900, ge=0)


class ViewModel(Strict):
    name: str
    clients: list[str]
    prefer: dict[str, list[str]] = Field(default_factory=dict)


class ZoneRecordModel(Strict):
    name: str
    type: str
    value: str
    ttl: int = Field(default=300, ge=0, le=2_147_483_647)


class ZoneModel(Strict):
    name: str
    records: list[ZoneRecordModel] = Field(default_factory=list)


class RateLimitModel(Strict):
    qps: float | None = Field(default=None, ge=0.0)
    burst: int = Field(default=100, ge=1)
    slip: int = Field(default=2, ge=0, le=10)
    ipv4_prefix: int = Field(default=24, ge=8, le=32)
    ipv6_prefix: int = Field(default=56, ge=16, le=128)


class ResolverModel(Strict):
    listen: list[str] = Field(default_factory=lambda: ["127.0.0.1:5353"])
    upstreams: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    cache: CacheModel = Field(default_factory=CacheModel)
    views: list[ViewModel] = Field(default_factory=list)
    zones: list[ZoneModel] = Field(default_factory=list)
    upstream_timeout: Duration = 2.0
    rate_limit: RateLimitModel = Field(default_factory=RateLimitModel)
    tcp_idle_timeout: Duration = 10.0
    tcp_max_connections: int = Field(default=256, ge=1)
    negative_ttl: int = Field(default=60, ge=0, le=86_400)
    tcp_max_per_client: int = Field(default=16, ge=1)


class AdminModel(Strict):
    listen: str = "127.0.0.1:9153"


class HaModel(Strict):
    lease: Literal["none", "azure-blob"] = "none"
    blob_url: str | None = None
    lease_duration: Duration = 30.0


class SafetyModel(Strict):
    max_changes_per_run: int = Field(default=5, ge=1)


class IsolationGuardModel(Strict):
    enabled: bool = True
    min_endpoints: int = Field(default=2, ge=1)
    canaries: list[str] = Field(default_factory=list)


class ContainerdMirrorModel(Strict):
    enabled: bool = True
    hosts_dir: str = "/etc/containerd/certs.d"


class CrioMirrorModel(Strict):
    enabled: bool = False
    registries_dir: str = "/etc/containers/registries.conf.d"


class MirrorModel(Strict):
    containerd: ContainerdMirrorModel = Field(default_factory=ContainerdMirrorModel)
    crio: CrioMirrorModel = Field(default_factory=CrioMirrorModel)


class DnsctlSettings(BaseSettings):
    """The whole file. `DNSCTL_*` environment variables override it (`__` separates levels)."""

    model_config = SettingsConfigDict(
        env_prefix="DNSCTL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    profiles: list[ProfileModel] = Field(default_factory=list)
    azure: AzureModel = Field(default_factory=AzureModel)
    resolver: ResolverModel = Field(default_factory=ResolverModel)
    admin: AdminModel = Field(default_factory=AdminModel)
    ha: HaModel = Field(default_factory=HaModel)
    safety: SafetyModel = Field(default_factory=SafetyModel)
    isolation_guard: IsolationGuardModel = Field(default_factory=IsolationGuardModel)
    resync_interval: Duration = 300.0
    mirror: MirrorModel = Field(default_factory=MirrorModel)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML document arrives as init data; the environment overrides it.
        return (env_settings, init_settings)


def model_fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The valid field names of the model at `loc` (for suggesting a name for an unknown key)."""
    model: Any = DnsctlSettings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
