"""The registry probe's specification (`monitor.registry`): what it pulls, the data path it follows
(each replica's data endpoint) and the references whose replication it watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnsctl.core.model import EndpointSpec


@dataclass(frozen=True, slots=True)
class DataEndpointSpec:
    """Where one replica's layer downloads go (ACR's dedicated data endpoint) and how it is reached."""

    endpoint: str  # the endpoint (replica) whose blob redirects may name it
    host: str | None = None  # None: derived from the endpoint (`data_host`)
    addresses: tuple[str, ...] = ()  # where it is connected to; none: the host name is resolved


BLOB_AUTO = "auto"  # `registry.blob: auto`: the probed manifest's smallest layer


@dataclass(frozen=True, slots=True)
class RegistryProbeSpec:
    repository: str
    reference: str = "latest"
    plain_http: bool = False
    # "azure": exchange the configured Azure credential's token for a registry token (ACR's /oauth2).
    auth: str = "anonymous"
    # Hosts besides the endpoint's target that a 401 challenge's token realm may name (lower-case).
    token_hosts: tuple[str, ...] = ()
    # The data-path probe: a blob digest, or BLOB_AUTO; None: no blob is fetched.
    blob: str | None = None
    data_endpoints: tuple[DataEndpointSpec, ...] = ()
    # Replication awareness: the references (repository:tag) whose digest each replica serves is noted;
    # a replica without the digests the current one serves lags (see core/replication.py).
    watch: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """The pull scopes a token needs: the probed repository's and every watched one's."""
        repos = dict.fromkeys([self.repository, *(w.rpartition(":")[0] for w in self.watch)])
        return tuple(f"repository:{r}:pull" for r in repos)

    def data_endpoint(self, endpoint: EndpointSpec) -> DataEndpointSpec:
        """The endpoint's data endpoint: as configured, with the host derived where not given."""
        spec = next((d for d in self.data_endpoints if d.endpoint == endpoint.name), None)
        spec = spec or DataEndpointSpec(endpoint.name)
        if spec.host is None:
            spec = DataEndpointSpec(spec.endpoint, data_host(endpoint), spec.addresses)
        return spec


def data_host(endpoint: EndpointSpec) -> str | None:
    """ACR's data endpoint name for a replica: `<registry>.<region>.data.azurecr.io`, from a regional
    target (`<registry>.<region>.geo.azurecr.io`) or a global one with the endpoint's `region`."""
    labels = endpoint.target.rstrip(".").lower().split(".")
    if len(labels) == 5 and labels[2:] == ["geo", "azurecr", "io"]:
        return f"{labels[0]}.{labels[1]}.data.azurecr.io"
    if len(labels) == 3 and labels[1:] == ["azurecr", "io"] and endpoint.region:
        return f"{labels[0]}.{endpoint.region.lower()}.data.azurecr.io"
    return None
