"""The configuration's shape, as pydantic models (the public interface of dnsctl.yaml).

Field names and meanings follow the reference configuration; fields may be added, never
renamed. These models check types and single values; rules that span fields live in
`dnsctl.config.rules`, and `dnsctl.config.convert` turns a valid model into frozen core specs.
Defaults are written once, on the core specs, and read here with `default(Spec, "field")`
(tests/config/test_config_defaults.py fails when the two disagree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from dnsctl.config.rfc2136 import Rfc2136RecordModel
from dnsctl.config.values import parse_duration, parse_status_range
from dnsctl.core.model import (
    AdminSpec,
    AzureSpec,
    CacheSpec,
    DnsctlSpec,
    EndpointSpec,
    HaSpec,
    IsolationGuardSpec,
    MirrorSpec,
    MonitorProtocol,
    MonitorSpec,
    NotifySpec,
    ProfileMirrorSpec,
    ProfileSpec,
    RateLimitSpec,
    RegistryProbeSpec,
    ResolverSpec,
    SafetySpec,
    WebhookSpec,
)
from dnsctl.core.publication import AzureRecordSpec
from dnsctl.core.zone_records import ZoneRecordSpec

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


# Single-value constraints live on the field's type; `rules` holds only what spans fields.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
Count = Annotated[int, AfterValidator(_at_least_one)]


def default(spec: type, name: str) -> Any:
    """The default of field `name` of a core spec: defaults are written there, once, and read here."""
    for f in dataclasses.fields(spec):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise LookupError(f"{spec.__name__}.{name} has no default")


def _status(value: int | str) -> int | str:
    parse_status_range(value)
    return value


StatusCodes = Annotated[int | str, AfterValidator(_status)]


def _status_text(r: Any) -> int | str:
    return r.low if r.low == r.high else str(r)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistryProbeModel(Strict):
    """`monitor.protocol: registry`: what the probe pulls (a token, then a manifest HEAD)."""

    repository: str
    reference: str = default(RegistryProbeSpec, "reference")
    plain_http: bool = default(RegistryProbeSpec, "plain_http")
    auth: Literal["anonymous", "azure"] = default(RegistryProbeSpec, "auth")
    token_hosts: list[str] = Field(default_factory=lambda: list(default(RegistryProbeSpec, "token_hosts")))


class MonitorModel(Strict):
    protocol: MonitorProtocol = default(MonitorSpec, "protocol")
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = default(MonitorSpec, "path")
    expected_status: list[StatusCodes] = Field(
        default_factory=lambda: [_status_text(r) for r in default(MonitorSpec, "expected_status")]
    )
    headers: dict[str, str] = Field(default_factory=lambda: dict(default(MonitorSpec, "headers")))
    host: str | None = None
    sni: str | None = None
    verify_tls: bool = default(MonitorSpec, "verify_tls")
    ca_file: str | None = None
    body_match: str | None = None
    interval: Duration = default(MonitorSpec, "interval")
    timeout: PositiveDuration = default(MonitorSpec, "timeout")
    fall: Count = default(MonitorSpec, "fall")
    rise: Count = default(MonitorSpec, "rise")
    flap_window: Duration = default(MonitorSpec, "flap_window")
    flap_threshold: int = Field(default=default(MonitorSpec, "flap_threshold"), ge=1)
    flap_hold: Duration = default(MonitorSpec, "flap_hold")
    registry: RegistryProbeModel | None = None


class EndpointModel(Strict):
    name: str
    target: str
    priority: int
    weight: int = Field(default=default(EndpointSpec, "weight"), ge=0)
    region: str | None = None
    addresses: list[str] = Field(default_factory=list)
    status: Literal["enabled", "disabled"] = default(EndpointSpec, "status").value
    override: Literal["obey", "up", "down"] = default(EndpointSpec, "override").value


class AzureRecordModel(Strict):
    subscription_id: str
    resource_group: str
    zone: str
    record: str
    record_type: Literal["CNAME", "A"] = default(AzureRecordSpec, "record_type").value
    adopt: bool = default(AzureRecordSpec, "adopt")
    allow_type_change: bool = default(AzureRecordSpec, "allow_type_change")


Capability = Literal["pull", "resolve", "push"]


def _default_capabilities() -> list[Capability]:
    return list(default(ProfileMirrorSpec, "capabilities"))


class ProfileMirrorModel(Strict):
    """How `dnsctl mirror` writes this profile's container runtime mirror configuration."""

    capabilities: list[Capability] = Field(default_factory=_default_capabilities)
    ca: str | None = None
    skip_verify: bool = default(ProfileMirrorSpec, "skip_verify")
    override_path: bool = default(ProfileMirrorSpec, "override_path")
    adopt: bool = default(ProfileMirrorSpec, "adopt")


class ProfileModel(Strict):
    name: str
    fqdn: str
    ttl: int = Field(default=default(ProfileSpec, "ttl"), ge=1, le=2_147_483_647)
    routing: Literal["priority", "weighted", "performance"] = default(ProfileSpec, "routing").value
    failback: Literal["auto", "manual"] = default(ProfileSpec, "failback").value
    failback_hold: Duration = default(ProfileSpec, "failback_hold")
    when_all_down: Literal["keep-last", "serve-all", "serve-first", "fallback"] = default(
        ProfileSpec, "when_all_down"
    ).value
    fallback: str | None = None
    monitor: MonitorModel = Field(default_factory=MonitorModel)
    endpoints: list[EndpointModel]
    azure: AzureRecordModel | None = None
    rfc2136: Rfc2136RecordModel | None = None
    performance_margin: float = Field(default=default(ProfileSpec, "performance_margin"), ge=0.0, lt=1.0)
    weight_seed: int = default(ProfileSpec, "weight_seed")
    startup_grace: Duration = default(ProfileSpec, "startup_grace")
    mirror: ProfileMirrorModel = Field(default_factory=ProfileMirrorModel)


class AzureModel(Strict):
    credential: Literal["default", "workload", "managed", "cli", "static"] = default(
        AzureSpec, "credential"
    ).value
    base_url: str = default(AzureSpec, "base_url")
    client_id: str | None = None
    max_retry_after: Duration = default(AzureSpec, "max_retry_after")
    deadline: PositiveDuration = default(AzureSpec, "deadline")


class CacheModel(Strict):
    max_entries: int = Field(default=default(CacheSpec, "max_entries"), ge=0)
    serve_stale: Duration = default(CacheSpec, "serve_stale")
    min_ttl: int = Field(default=default(CacheSpec, "min_ttl"), ge=0)
    max_ttl: int = Field(default=default(CacheSpec, "max_ttl"), ge=1)
    negative_max_ttl: int = Field(default=default(CacheSpec, "negative_max_ttl"), ge=0)


class ViewModel(Strict):
    name: str
    clients: list[str]
    prefer: dict[str, list[str]] = Field(default_factory=dict)


class ZoneRecordModel(Strict):
    name: str
    type: str
    value: str
    ttl: int = Field(default=default(ZoneRecordSpec, "ttl"), ge=0, le=2_147_483_647)


class ZoneModel(Strict):
    name: str
    records: list[ZoneRecordModel] = Field(default_factory=list)


class RateLimitModel(Strict):
    qps: float | None = Field(default=default(RateLimitSpec, "qps"), ge=0.0)
    burst: int = Field(default=default(RateLimitSpec, "burst"), ge=1)
    slip: int = Field(default=default(RateLimitSpec, "slip"), ge=0, le=10)
    ipv4_prefix: int = Field(default=default(RateLimitSpec, "ipv4_prefix"), ge=8, le=32)
    ipv6_prefix: int = Field(default=default(RateLimitSpec, "ipv6_prefix"), ge=16, le=128)


class ResolverModel(Strict):
    listen: list[str] = Field(default_factory=lambda: [str(h) for h in default(ResolverSpec, "listen")])
    upstreams: list[str] = Field(default_factory=lambda: [str(h) for h in default(ResolverSpec, "upstreams")])
    allow: list[str] = Field(default_factory=lambda: [str(n) for n in default(ResolverSpec, "allow")])
    cache: CacheModel = Field(default_factory=CacheModel)
    views: list[ViewModel] = Field(default_factory=list)
    zones: list[ZoneModel] = Field(default_factory=list)
    upstream_timeout: PositiveDuration = default(ResolverSpec, "upstream_timeout")
    rate_limit: RateLimitModel = Field(default_factory=RateLimitModel)
    tcp_idle_timeout: Duration = default(ResolverSpec, "tcp_idle_timeout")
    tcp_max_connections: int = Field(default=default(ResolverSpec, "tcp_max_connections"), ge=1)
    negative_ttl: int = Field(default=default(ResolverSpec, "negative_ttl"), ge=0, le=86_400)
    tcp_max_per_client: int = Field(default=default(ResolverSpec, "tcp_max_per_client"), ge=1)


class AdminModel(Strict):
    listen: str = str(default(AdminSpec, "listen"))


class HaModel(Strict):
    lease: Literal["none", "azure-blob"] = default(HaSpec, "lease").value
    blob_url: str | None = None
    lease_duration: Duration = default(HaSpec, "lease_duration")


class SafetyModel(Strict):
    max_changes_per_run: int = Field(default=default(SafetySpec, "max_changes_per_run"), ge=1)


class IsolationGuardModel(Strict):
    enabled: bool = default(IsolationGuardSpec, "enabled")
    min_endpoints: int = Field(default=default(IsolationGuardSpec, "min_endpoints"), ge=1)
    canaries: list[str] = Field(default_factory=list)


class ContainerdMirrorModel(Strict):
    enabled: bool = True
    hosts_dir: str = default(MirrorSpec, "containerd_hosts_dir")


class CrioMirrorModel(Strict):
    enabled: bool = False
    registries_dir: str = "/etc/containers/registries.conf.d"


class MirrorModel(Strict):
    containerd: ContainerdMirrorModel = Field(default_factory=ContainerdMirrorModel)
    crio: CrioMirrorModel = Field(default_factory=CrioMirrorModel)


class WebhookModel(Strict):
    url: str | None = None
    url_env: str | None = None
    format: Literal["json", "slack", "teams"] = default(WebhookSpec, "format").value
    events: list[str] = Field(default_factory=lambda: list(default(WebhookSpec, "events")))


class NotifyModel(Strict):
    webhooks: list[WebhookModel] = Field(default_factory=list)
    queue_size: int = Field(default=default(NotifySpec, "queue_size"), ge=1, le=100_000)
    attempts: int = Field(default=default(NotifySpec, "attempts"), ge=1, le=20)
    backoff: Duration = default(NotifySpec, "backoff")
    timeout: PositiveDuration = default(NotifySpec, "timeout")


class DnsctlSettings(BaseSettings):
    """The whole file. `DNSCTL_*` environment variables override it (`__` separates levels): they are
    read by pydantic-settings' environment source with this model's `env_prefix` and
    `env_nested_delimiter` (see `dnsctl.config.environment`, which remembers which variable set what)."""

    model_config = SettingsConfigDict(
        env_prefix="DNSCTL_",
        env_nested_delimiter="__",
        case_sensitive=False,
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
    resync_interval: Duration = default(DnsctlSpec, "resync_interval")
    mirror: MirrorModel = Field(default_factory=MirrorModel)
    notify: NotifyModel = Field(default_factory=NotifyModel)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Validation sees the file with the environment already merged into it, by the environment source
        # one variable at a time (`dnsctl.config.environment`), so that each problem names its variable.
        return (init_settings,)


class _Variables(EnvSettingsSource):
    """pydantic-settings' environment source, over the given variables instead of `os.environ`."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._given = variables
        super().__init__(DnsctlSettings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k if self.case_sensitive else k.lower(): v for k, v in self._given.items()}


def environment_values(name: str, value: str) -> dict[str, Any]:
    """What the variable `name` sets, as nested values, read by pydantic-settings' environment source
    (the settings' env_prefix and env_nested_delimiter); raises ValueError when it cannot be read."""
    try:
        return _Variables({name: value})()
    except SettingsError as e:
        raise ValueError(str(e.__cause__ or e)) from None


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
