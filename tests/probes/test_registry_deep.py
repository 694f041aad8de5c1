"""Registry-deep health against registry stand-ins on loopback: throttling, the data path (blob redirects
to a separate data-endpoint server), replication lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from dnsctl.controller.metrics import Metrics
from dnsctl.core.health import MonitorStatus
from dnsctl.core.model import (
    DnsctlSpec,
    EndpointSpec,
    IsolationGuardSpec,
    MonitorProtocol,
    MonitorSpec,
    ProfileSpec,
)
from dnsctl.core.registry_spec import DataEndpointSpec, RegistryProbeSpec
from dnsctl.core.results import FailureReason
from dnsctl.documents.status import health_doc
from dnsctl.engine import Engine
from dnsctl.probes.registry import RegistryProber
from dnsctl.process.clock import SystemClock
from tests.support.clock import ManualClock
from tests.support.registry import RegistryPki, RegistryServer
from tests.support.scripted_registry import ScriptedRegistry, digest_of, image

EAST, WEST = "127.0.0.71", "127.0.0.72"
DATA_EAST, DATA_WEST, FOREIGN = "127.0.0.73", "127.0.0.74", "127.0.0.75"
DATA_NAMES = {
    "eastus": "myregistry.eastus.data.azurecr.io",
    "westeurope": "myregistry.westeurope.data.azurecr.io",
}
TARGETS = {"eastus": "myregistry.eastus.geo.azurecr.io", "westeurope": "myregistry.westeurope.geo.azurecr.io"}


def _realm(url: str) -> Callable[[int], str]:
    return lambda _n: url


class Replicas:
    def __init__(self, pki: RegistryPki) -> None:
        self.pki = pki
        ctx = pki.server_context(*TARGETS.values())
        # One port for both (the monitor has one port): the second binds the port the first got.
        self.east = ScriptedRegistry(EAST, tls=ctx).start()
        self.west = ScriptedRegistry(WEST, tls=ctx, port=self.east.port).start()
        for server, name in ((self.east, "eastus"), (self.west, "westeurope")):
            server.realm = _realm(f"https://{TARGETS[name]}:{self.east.port}/oauth2/token")

        self.servers = [self.east, self.west]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def with_data_endpoints(self) -> None:
        """Each replica redirects blob GETs to a data-endpoint server of its own, as ACR does."""
        manifest, blobs = image("v1")
        self.data: dict[str, ScriptedRegistry] = {}
        for name, server, data_ip in (("eastus", self.east, DATA_EAST), ("westeurope", self.west, DATA_WEST)):
            server.push("app", "1", manifest, blobs)
            data = ScriptedRegistry(data_ip, tls=self.pki.server_context(DATA_NAMES[name])).start()
            data.blobs.update(blobs)
            self.data[name] = data
            self.servers.append(data)
            server.blob_redirect = lambda d, n=name, p=data.port: (
                f"https://{DATA_NAMES[n]}:{p}/blobs/{d}?sig=x"
            )
        self.smallest = digest_of(("v1/1:" * 40).encode()[:40])

    def data_specs(self) -> tuple[DataEndpointSpec, ...]:
        return (
            DataEndpointSpec("eastus", addresses=(DATA_EAST,)),
            DataEndpointSpec("westeurope", addresses=(DATA_WEST,)),
        )

    def profile(self, *, blob: str | None = None, **monitor: object) -> ProfileSpec:
        settings: dict[str, object] = {"interval": 10.0, "timeout": 5.0, "fall": 3, "rise": 1, **monitor}
        m = MonitorSpec(
            protocol=MonitorProtocol.REGISTRY,
            port=self.east.port,
            ca_file=self.pki.ca_file,
            registry=RegistryProbeSpec(
                "app", "1", blob=blob, data_endpoints=self.data_specs() if blob else ()
            ),
            **settings,  # type: ignore[arg-type]
        )
        endpoints = (
            EndpointSpec("eastus", TARGETS["eastus"], 1, addresses=(EAST,)),
            EndpointSpec("westeurope", TARGETS["westeurope"], 2, addresses=(WEST,)),
        )
        return ProfileSpec(name="myregistry", fqdn="myregistry.azurecr.io", endpoints=endpoints, monitor=m)


@pytest.fixture
def replicas(pki: RegistryPki) -> Iterator[Replicas]:
    r = Replicas(pki)
    try:
        yield r
    finally:
        r.stop()


@pytest.mark.parametrize("status", [429, 503])
async def test_a_throttling_replica_is_a_throttled_failure(replicas: Replicas, status: int) -> None:
    replicas.east.throttle = status
    p = replicas.profile()
    r = await RegistryProber(clock=SystemClock()).probe(p, p.endpoints[0], 0.0)
    assert not r.ok and r.reason is FailureReason.THROTTLED, r
    assert r.status_code == status and "Retry-After 1" in r.detail
    assert not r.says_nothing


async def test_a_503_without_retry_after_is_not_throttling(replicas: Replicas) -> None:
    replicas.east.throttle = 503
    replicas.east.throttle_retry_after = None
    p = replicas.profile()
    r = await RegistryProber(clock=SystemClock()).probe(p, p.endpoints[0], 0.0)
    assert not r.ok and r.reason is FailureReason.HTTP_STATUS, r


async def test_a_replica_answering_429_for_throttled_fall_rounds_is_failed_over(replicas: Replicas) -> None:
    p = replicas.profile(throttled_fall=2)
    engine = Engine(
        DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(True)),
        RegistryProber(clock=SystemClock()),
        ManualClock(),
    )
    await engine.round()
    assert engine.states["myregistry"].decision is not None
    assert engine.states["myregistry"].decision.primary == "eastus"
    replicas.east.throttle = 429
    first = await engine.round()
    assert engine.states["myregistry"].endpoints["eastus"].status is MonitorStatus.ONLINE
    second = await engine.round()
    st = engine.states["myregistry"]
    assert st.endpoints["eastus"].status is MonitorStatus.THROTTLED
    assert st.decision is not None and st.decision.primary == "westeurope"
    assert "eastus Throttled" in st.decision.reason
    assert not first.isolated and not second.isolated
    # Shown as Throttled in the status document and the metrics.
    [doc] = health_doc(engine.spec, engine.states, isolated=False).profiles
    assert {e.name: e.status for e in doc.endpoints} == {"eastus": "Throttled", "westeurope": "Online"}
    metrics = Metrics()
    metrics.init_profiles(engine.spec)
    metrics.observe_round(second, second.results)
    text = generate_latest(metrics.registry).decode()
    assert 'dnsctl_endpoint_status{endpoint="eastus",profile="myregistry",status="Throttled"} 1.0' in text
    assert 'dnsctl_probe_failures_total{endpoint="eastus",profile="myregistry",reason="throttled"}' in text


async def test_every_replica_throttling_is_not_the_isolation_guard(replicas: Replicas) -> None:
    p = replicas.profile(throttled_fall=1)
    engine = Engine(
        DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(True)),
        RegistryProber(clock=SystemClock()),
        ManualClock(),
    )
    await engine.round()
    replicas.east.throttle = replicas.west.throttle = 429
    out = await engine.round()
    assert not out.isolated
    st = engine.states["myregistry"]
    assert {n: h.status for n, h in st.endpoints.items()} == {
        "eastus": MonitorStatus.THROTTLED,
        "westeurope": MonitorStatus.THROTTLED,
    }


# --- the data path -----------------------------------------------------------------------------------


async def test_the_blob_comes_through_the_replicas_own_data_endpoint(replicas: Replicas) -> None:
    replicas.with_data_endpoints()
    p = replicas.profile(blob="auto")
    prober = RegistryProber(clock=SystemClock())
    r = await prober.probe(p, p.endpoints[0], 0.0)
    assert r.ok, r
    blob_gets = [q for q in replicas.east.requests if "/blobs/" in q.path]
    assert [q.path for q in blob_gets] == [f"/v2/app/blobs/{replicas.smallest}"]  # the smallest layer
    data_gets = replicas.data["eastus"].requests
    assert [(q.method, q.path, q.headers.get("range")) for q in data_gets] == [
        ("GET", f"/blobs/{replicas.smallest}?sig=x", "bytes=0-15")
    ]
    assert data_gets[0].headers["host"] == f"{DATA_NAMES['eastus']}:{replicas.data['eastus'].port}"
    assert "authorization" not in data_gets[0].headers  # the registry's token stays with the registry
    assert replicas.data["westeurope"].requests == []
    # The next round knows the manifest's smallest layer: no manifest GET again.
    before = len([q for q in replicas.east.requests if q.method == "GET" and "/manifests/" in q.path])
    assert (await prober.probe(p, p.endpoints[0], 10.0)).ok
    after = len([q for q in replicas.east.requests if q.method == "GET" and "/manifests/" in q.path])
    assert before == after == 1


async def test_the_data_path_costs_one_connection_more_per_probe(replicas: Replicas) -> None:
    replicas.with_data_endpoints()
    registry, data = replicas.east, replicas.data["eastus"]
    registry.keep_alive = data.keep_alive = True
    prober = RegistryProber(clock=SystemClock())
    plain, deep = replicas.profile(), replicas.profile(blob="auto")
    for p in (plain, deep):  # the token, and the manifest's smallest layer, are then known
        assert (await prober.probe(p, p.endpoints[0], 0.0)).ok
    seen = (registry.connections, data.connections)
    assert (await prober.probe(plain, plain.endpoints[0], 10.0)).ok
    assert (registry.connections - seen[0], data.connections - seen[1]) == (1, 0)
    seen = (registry.connections, data.connections)
    assert (await prober.probe(deep, deep.endpoints[0], 20.0)).ok
    # /v2/, the manifest and the blob on one connection to the replica; one to its data endpoint.
    assert (registry.connections - seen[0], data.connections - seen[1]) == (1, 1)


async def test_a_kept_connection_the_registry_closed_meanwhile_is_replaced(replicas: Replicas) -> None:
    replicas.with_data_endpoints()
    registry = replicas.east
    registry.keep_alive = registry.drop_idle = True  # says keep-alive, closes anyway
    p = replicas.profile(blob="auto")
    prober = RegistryProber(clock=SystemClock())
    assert (await prober.probe(p, p.endpoints[0], 0.0)).ok
    before = (registry.connections, len(registry.requests))
    r = await prober.probe(p, p.endpoints[0], 10.0)
    assert r.ok, r
    # /v2/, manifest HEAD, blob GET: each on a connection of its own, none lost.
    assert (registry.connections - before[0], len(registry.requests) - before[1]) == (3, 3)


@pytest.mark.parametrize("failure", ["blackhole", "stopped"])
async def test_a_dead_data_endpoint_degrades_a_replica_whose_manifests_answer(
    replicas: Replicas, failure: str
) -> None:
    replicas.with_data_endpoints()
    # The data endpoint's name now leads to a dead address (a frozen or removed private endpoint).
    dead = RegistryServer(FOREIGN, replicas.data["eastus"].port, behaviour=failure).start()
    try:
        specs = (
            DataEndpointSpec("eastus", addresses=(FOREIGN,)),
            DataEndpointSpec("westeurope", addresses=(DATA_WEST,)),
        )
        base = replicas.profile(blob="auto", fall=1, timeout=1.5)
        assert base.monitor.registry is not None
        p = replace(
            base, monitor=replace(base.monitor, registry=replace(base.monitor.registry, data_endpoints=specs))
        )
        spec = DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(True))
        engine = Engine(spec, RegistryProber(clock=SystemClock()), ManualClock())
        out = await engine.round()
        st = engine.states["myregistry"]
        east = st.endpoints["eastus"]
        assert east.status is MonitorStatus.DEGRADED
        assert east.last is not None and east.last.reason is FailureReason.DATA_ENDPOINT
        kind = "connect-timeout" if failure == "blackhole" else "refused"
        assert east.last.describe().startswith(f"data-endpoint: {kind}"), east.last.describe()
        assert st.decision is not None and st.decision.primary == "westeurope"
        assert "data-endpoint" in st.decision.reason
        assert not out.isolated
        # Without the data path, the same replica passes: what this probe is for.
        plain = await RegistryProber(clock=SystemClock()).probe(
            replicas.profile(), replicas.profile().endpoints[0], 0.0
        )
        assert plain.ok
    finally:
        dead.stop()


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example:{port}/blobs/{digest}",  # a foreign host
        "https://myregistry.westeurope.data.azurecr.io:{port}/blobs/{digest}",  # another replica's
        "http://myregistry.eastus.data.azurecr.io:{port}/blobs/{digest}",  # its own, but plain http
        "/v2/app/blobs/{digest}?again",  # back to the registry itself
    ],
)
async def test_a_redirect_anywhere_else_is_refused_and_nothing_is_sent(
    replicas: Replicas, location: str
) -> None:
    replicas.with_data_endpoints()
    foreign = ScriptedRegistry(FOREIGN, tls=replicas.pki.server_context("evil.example")).start()
    replicas.servers.append(foreign)
    port = foreign.port
    replicas.east.blob_redirect = lambda d: location.format(port=port, digest=d)
    specs = (
        DataEndpointSpec("eastus", addresses=(FOREIGN,)),
        DataEndpointSpec("westeurope", addresses=(FOREIGN,)),
    )
    base = replicas.profile(blob="auto")
    assert base.monitor.registry is not None
    p = replace(
        base, monitor=replace(base.monitor, registry=replace(base.monitor.registry, data_endpoints=specs))
    )
    r = await RegistryProber(clock=SystemClock()).probe(p, p.endpoints[0], 0.0)
    assert not r.ok and r.reason is FailureReason.DATA_ENDPOINT, r
    assert "blob redirect refused" in r.detail and "nothing was sent" in r.detail
    assert foreign.requests == []
    assert len([q for q in replicas.east.requests if "/blobs/" in q.path]) == 1  # exactly one, not followed


async def test_a_configured_blob_missing_on_the_replica_is_blob_missing(replicas: Replicas) -> None:
    replicas.with_data_endpoints()
    replicas.east.blob_redirect = None  # the replica serves blobs itself
    r = await RegistryProber(clock=SystemClock()).probe(
        replicas.profile(blob="sha256:" + "ab" * 32), replicas.profile().endpoints[0], 0.0
    )
    assert not r.ok and r.reason is FailureReason.BLOB_MISSING, r
    ok = await RegistryProber(clock=SystemClock()).probe(
        replicas.profile(blob=replicas.smallest), replicas.profile().endpoints[0], 0.0
    )
    assert ok.ok, ok


def test_the_data_path_settings_are_validated(tmp_path: Path) -> None:
    from dnsctl.config.load import load
    from dnsctl.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "profiles:\n- name: p\n  fqdn: r.azurecr.io\n"
        "  monitor: {protocol: registry, registry: {repository: app, blob: 'latest',\n"
        "            data_endpoints: [{endpoint: e, addresses: [nope]}, {endpoint: ghost}]}}\n"
        "  endpoints: [{name: e, target: e.example, priority: 1}]\n"
    )
    with pytest.raises(ConfigError) as e:
        load(cfg)
    problems = "\n".join(str(p) for p in e.value.problems)
    assert "registry.blob: 'latest' is neither 'auto' nor a digest" in problems
    assert "data_endpoints[0].addresses[0]: 'nope' is not an IP address" in problems
    assert "data_endpoints[1].endpoint: no endpoint 'ghost'" in problems
    assert "'e' has no data endpoint name" in problems
    cfg.write_text(
        "profiles:\n- name: p\n  fqdn: myregistry.azurecr.io\n"
        "  monitor: {protocol: registry, registry: {repository: app, blob: auto,\n"
        "            data_endpoints: [{endpoint: west, addresses: [10.2.0.9]}]}}\n"
        "  endpoints: [{name: east, target: myregistry.eastus.geo.azurecr.io, priority: 1},\n"
        "              {name: west, target: myregistry.azurecr.io, region: westeurope, priority: 2}]\n"
    )
    reg = load(cfg).profiles[0].monitor.registry
    assert reg is not None and reg.blob == "auto"
    endpoints = load(cfg).profiles[0].endpoints
    assert reg.data_endpoint(endpoints[0]) == DataEndpointSpec("east", "myregistry.eastus.data.azurecr.io")
    assert reg.data_endpoint(endpoints[1]) == DataEndpointSpec(
        "west", "myregistry.westeurope.data.azurecr.io", ("10.2.0.9",)
    )


# --- replication lag ---------------------------------------------------------------------------------


async def test_the_probe_records_each_watched_digest_and_a_lagging_replica_is_said(
    replicas: Replicas,
) -> None:
    v1, blobs1 = image("v1")
    v2, blobs2 = image("v2")
    for server in (replicas.east, replicas.west):
        server.push("app", "1", v1, blobs1)
        server.push("base", "2", v1, blobs1)
    replicas.east.push("app", "1", v2, blobs2)
    replicas.west.push("app", "1", v2, blobs2, lag=600)  # replication has not reached westeurope yet
    base = replicas.profile(throttled_fall=1)
    assert base.monitor.registry is not None
    reg = replace(base.monitor.registry, watch=("app:1", "base:2", "app:gone"))
    p = replace(base, monitor=replace(base.monitor, registry=reg), failback_hold=0.0)
    r = await RegistryProber(clock=SystemClock()).probe(p, p.endpoints[1], 0.0)
    assert r.ok and dict(r.digests) == {"app:1": digest_of(v1), "base:2": digest_of(v1), "app:gone": ""}

    engine = Engine(
        DnsctlSpec(profiles=(p,), isolation_guard=IsolationGuardSpec(False)),
        RegistryProber(clock=SystemClock()),
        ManualClock(),
    )
    await engine.round()
    await engine.round()  # the first decision has no current replica to compare with
    d = engine.states["myregistry"].decision
    assert d is not None and d.primary == "eastus"
    assert "westeurope lags behind eastus (app:1)" in d.reason
    # eastus is throttled: westeurope is the only other replica, so failover happens, and says it lags.
    replicas.east.throttle = 429
    await engine.round()
    d = engine.states["myregistry"].decision
    assert d is not None and d.primary == "westeurope"
    assert "the target lags: westeurope lags behind eastus (app:1)" in d.reason
    # Replication catches up: nothing lags any more.
    replicas.west.catch_up()
    await engine.round()
    d = engine.states["myregistry"].decision
    assert d is not None and d.primary == "westeurope" and "lags" not in d.reason


def test_watched_references_are_validated(tmp_path: Path) -> None:
    from dnsctl.config.load import load
    from dnsctl.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    text = (
        "profiles:\n- name: p\n  fqdn: r.azurecr.io\n"
        "  monitor: {protocol: registry, registry: {repository: app, watch: WATCH}}\n"
        "  endpoints: [{name: e, target: e.example, priority: 1}]\n"
    )
    cfg.write_text(text.replace("WATCH", "['app:1', 'Bad Repo:1', 'notag']"))
    with pytest.raises(ConfigError) as e:
        load(cfg)
    problems = "\n".join(str(p) for p in e.value.problems)
    assert "registry.watch[1]: 'Bad Repo:1' is not <repository>:<tag>" in problems
    assert "registry.watch[2]: 'notag' is not <repository>:<tag>" in problems
    assert "watch[0]" not in problems
    cfg.write_text(text.replace("WATCH", "['app:1', 'team/base:2']"))
    reg = load(cfg).profiles[0].monitor.registry
    assert reg is not None and reg.watch == ("app:1", "team/base:2")
    assert reg.scopes == ("repository:app:pull", "repository:team/base:pull")
