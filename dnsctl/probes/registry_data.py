"""The registry probe's data path (`monitor.registry.blob`): can a layer be downloaded from this replica?

After the manifest, `GET /v2/<repository>/blobs/<digest>` with a small `Range` (the configured digest,
or with `blob: auto` the smallest layer of the probed manifest, found once per manifest digest). A
replica may answer the bytes itself. ACR answers 307 to the data endpoint of the replica that served
the request (`<registry>.<region>.data.azurecr.io`): exactly one redirect is followed, and only to
this replica's own data endpoint name (or the one configured in `registry.data_endpoints`), over https
(plain http only with `registry.plain_http`), connected at its configured addresses (else its name is
resolved), and never with the registry's token. Anything else is refused before anything is sent. The
first bytes of the blob must come back.

A failure on the data endpoint is a `data-endpoint` failure whose detail starts with what went wrong
there (`data-endpoint: connect-timeout: ...`), so it is never taken for the replica's own front end.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

from dnsctl.core.model import EndpointSpec, MonitorSpec
from dnsctl.core.registry_spec import BLOB_AUTO, DataEndpointSpec, RegistryProbeSpec
from dnsctl.core.results import FailureReason
from dnsctl.probes.failures import Progress
from dnsctl.probes.registry_http import Response, StepFailed, call, check_throttled, same_host

RANGE = "bytes=0-15"  # the first bytes are enough: they prove the data endpoint serves the blob
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_LAYER_CACHE = 256  # manifest digest -> its smallest layer
BLOB_STEP = "blob"
DATA_STEP = "data-endpoint"
INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)

# A request to the registry itself (with the Host header and the probe's token where it has one).
RegistryCall = Callable[[str, str, list[tuple[str, str]]], Awaitable[Response]]
Mark = Callable[[str], None]  # says which step the probe is in (for the failure's detail)


class LayerCache:
    """The smallest layer of each manifest seen, by manifest digest (a digest's content never changes)."""

    def __init__(self, size: int = MAX_LAYER_CACHE) -> None:
        self._size = size
        self._layers: OrderedDict[str, str] = OrderedDict()

    def get(self, manifest: str) -> str | None:
        return self._layers.get(manifest)

    def put(self, manifest: str, layer: str) -> None:
        self._layers[manifest] = layer
        while len(self._layers) > self._size:
            self._layers.popitem(last=False)


def _document(r: Response, what: str) -> dict[str, object]:
    if r.status == 404:
        raise StepFailed(FailureReason.MANIFEST_MISSING, f"{what} not found", 404)
    if r.status != 200:
        raise StepFailed(FailureReason.HTTP_STATUS, f"{what}: HTTP {r.status}", r.status)
    try:
        doc = json.loads(r.body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise StepFailed(FailureReason.ERROR, f"{what} is not a JSON manifest", r.status)
    return doc


def _smallest(doc: dict[str, object], what: str) -> str:
    layers = doc.get("layers")
    found = [
        (d.get("size"), d.get("digest"))
        for d in (layers if isinstance(layers, list) else [])
        if isinstance(d, dict) and isinstance(d.get("digest"), str) and isinstance(d.get("size"), int)
    ]
    if not found:
        raise StepFailed(FailureReason.ERROR, f"{what} lists no layers: set registry.blob to a digest")
    return str(min(found)[1])


def _first_image(doc: dict[str, object], what: str) -> str:
    listed = doc.get("manifests")
    entries = [d for d in (listed if isinstance(listed, list) else []) if isinstance(d, dict)]
    entries = [d for d in entries if isinstance(d.get("digest"), str)]
    if not entries:
        raise StepFailed(FailureReason.ERROR, f"{what} is an index without manifests")

    def rank(d: dict[str, object]) -> int:
        p = d.get("platform")
        return 0 if isinstance(p, dict) and (p.get("os"), p.get("architecture")) == ("linux", "amd64") else 1

    return str(min(entries, key=rank)["digest"])


async def blob_digest(
    reg: RegistryProbeSpec,
    manifest_digest: str | None,
    registry_call: RegistryCall,
    auth: list[tuple[str, str]],
    accept: str,
    cache: LayerCache,
) -> str:
    """The blob to fetch: the configured digest, or the manifest's smallest layer (GETs the manifest,
    and for an index the linux/amd64 image, else the first, once per manifest digest)."""
    if reg.blob is not None and reg.blob != BLOB_AUTO:
        return reg.blob
    if manifest_digest is not None:
        known = cache.get(manifest_digest)
        if known is not None:
            return known
    what = f"manifest {reg.repository}:{reg.reference}"
    headers = [*auth, ("Accept", accept)]
    doc = _document(
        await registry_call("GET", f"/v2/{reg.repository}/manifests/{reg.reference}", headers), what
    )
    if doc.get("mediaType") in INDEX_TYPES or "manifests" in doc:
        image = _first_image(doc, what)
        what = f"manifest {reg.repository}@{image[:19]}"
        doc = _document(await registry_call("GET", f"/v2/{reg.repository}/manifests/{image}", headers), what)
    layer = _smallest(doc, what)
    if manifest_digest is not None:
        cache.put(manifest_digest, layer)
    return layer


def check_redirect(
    location: str, data: DataEndpointSpec, reg: RegistryProbeSpec, endpoint: EndpointSpec
) -> SplitResult:
    """The redirect's parts, when it goes to this replica's own data endpoint; refused (before anything
    is sent to it) otherwise."""

    def refuse(why: str) -> StepFailed:
        return StepFailed(
            FailureReason.DATA_ENDPOINT, f"blob redirect refused: {why}; nothing was sent to it"
        )

    try:
        parts = urlsplit(location)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise refuse("the Location is not a URL") from None
    if not parts.hostname:
        raise refuse("the Location names no host")
    host = parts.hostname.lower()[:100]  # the registry's word: shown, but not at any length
    if data.host is None:
        raise refuse(
            f"{endpoint.name} has no data endpoint name (registry.data_endpoints.{endpoint.name}.host)"
        )
    if not same_host(parts.hostname, data.host):
        raise refuse(f"{host} is not {endpoint.name}'s data endpoint {data.host}")
    if parts.username is not None or parts.password is not None:
        raise refuse(f"the Location on {host} carries credentials")
    if parts.scheme != "https" and not (parts.scheme == "http" and reg.plain_http):
        raise refuse(f"{parts.scheme or 'no scheme'} to {host}: https only")
    return parts


def _connect_to(data: DataEndpointSpec, endpoint: EndpointSpec, address: str) -> str:
    """The data endpoint's address paired with the replica's probed address (same position), else its
    first; with none configured, its name (resolved)."""
    assert data.host is not None
    if not data.addresses:
        return data.host
    i = endpoint.addresses.index(address) if address in endpoint.addresses else 0
    return data.addresses[min(i, len(data.addresses) - 1)]


async def fetch_blob(
    digest: str,
    reg: RegistryProbeSpec,
    monitor: MonitorSpec,
    endpoint: EndpointSpec,
    address: str,
    registry_call: RegistryCall,
    auth: list[tuple[str, str]],
    progress: Progress,
    mark: Mark,
) -> None:
    """The blob's first bytes, from the replica or through one redirect to its data endpoint."""
    mark(BLOB_STEP)
    short = digest[:19]
    r = await registry_call("GET", f"/v2/{reg.repository}/blobs/{digest}", [*auth, ("Range", RANGE)])
    if r.status in (200, 206):
        if not r.body:
            raise StepFailed(
                FailureReason.HTTP_STATUS, f"blob {short}: HTTP {r.status} without bytes", r.status
            )
        return
    if r.status == 404:
        raise StepFailed(FailureReason.BLOB_MISSING, f"blob {reg.repository}@{short} not found", 404)
    if r.status not in REDIRECTS:
        raise StepFailed(FailureReason.HTTP_STATUS, f"blob {short}: HTTP {r.status}", r.status)
    data = reg.data_endpoint(endpoint)
    parts = check_redirect(r.headers.get("location", ""), data, reg, endpoint)
    assert data.host is not None
    mark(DATA_STEP)
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The registry's token stays with the registry: the redirect carries its own authorisation.
    d = await call(
        _connect_to(data, endpoint, address),
        parts.port or (443 if tls else 80),
        tls,
        data.host,
        monitor,
        "GET",
        target,
        [("Host", parts.netloc), ("Range", RANGE)],
        progress,
    )
    check_throttled(d, f"data-endpoint {data.host}")
    if d.status in REDIRECTS:
        raise StepFailed(
            FailureReason.DATA_ENDPOINT, f"{data.host} redirected again (one redirect is followed)", d.status
        )
    if d.status not in (200, 206):
        raise StepFailed(FailureReason.DATA_ENDPOINT, f"{data.host} answered HTTP {d.status}", d.status)
    if not d.body:
        raise StepFailed(
            FailureReason.DATA_ENDPOINT, f"{data.host} answered without the blob's bytes", d.status
        )
