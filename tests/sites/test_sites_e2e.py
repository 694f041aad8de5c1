"""Three `dnsctl run --site` processes on loopback, one zone per site in the emulator, replicas reached
through per-site addresses, verdicts shared through a directory exchange."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dnsctl.core.plan import STATE_KEY
from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.store import ZoneId
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, ZONE, common_free_port, dnsctl, free_port, writes
from tests.support.registry import RegistryPki, RegistryServer

SITES = ("eastus", "westeurope", "southeastasia")
GROUP = {"eastus": "rg-eastus", "westeurope": "rg-westeurope", "southeastasia": "rg-sea"}
# Replica -> its target, and the address by which each site's clients reach it (one per site's VNet).
REPLICAS = {
    "x": (
        "myregistry.eastus.geo.azurecr.io",
        {"eastus": "127.0.0.11", "westeurope": "127.0.0.12", "southeastasia": "127.0.0.13"},
    ),
    "y": (
        "myregistry.westeurope.geo.azurecr.io",
        {"eastus": "127.0.0.21", "westeurope": "127.0.0.22", "southeastasia": "127.0.0.23"},
    ),
}
X, Y = REPLICAS["x"][0], REPLICAS["y"][0]
FALLBACK = "myregistry.global.example.net"
WAIT = 30.0  # generous: other processes share the CPU


def vantage(cfg: Path, site: str, log: Path, *flags: str, env: dict[str, str] | None = None) -> Daemon:
    """A `dnsctl run --site SITE` process (not started), its admin API on a port of its own."""
    port = free_port()
    env = {**(env or {}), "DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{port}"}
    return Daemon("run", "-c", str(cfg), "--site", site, *flags, admin_port=port, env=env, log=log)


def zone(site: str) -> ZoneId:
    return ZoneId(SUB, GROUP[site], ZONE)


def cname(emulator: AzureEmulator, site: str) -> str | None:
    rs = emulator.record_set(zone(site), "CNAME", "myregistry")
    return None if rs is None else str(rs["properties"]["cnameRecord"]["cname"])


def writes_to(emulator: AzureEmulator, site: str) -> list[Any]:
    return [w for w in writes(emulator) if f"/resourceGroups/{GROUP[site]}/" in w.path]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[tuple[str, str], RegistryServer]]:
    pki = RegistryPki(tmp_path / "pki")
    port = common_free_port([ip for _, by_site in REPLICAS.values() for ip in by_site.values()])
    out: dict[tuple[str, str], RegistryServer] = {}
    try:
        for name, (target, by_site) in REPLICAS.items():
            for site, ip in by_site.items():
                out[(name, site)] = RegistryServer(
                    ip, port, tls=pki.server_context(target), name=target
                ).start()
        yield out
    finally:
        for s in out.values():
            s.stop()


def config(tmp_path: Path, emulator: AzureEmulator, servers: dict[tuple[str, str], RegistryServer]) -> Path:
    server = next(iter(servers.values()))
    doc = {
        "sites": [{"name": s, "region": s} for s in SITES],
        "exchange": {"kind": "directory", "path": str(tmp_path / "exchange")},
        "profiles": [
            {
                "name": "myregistry",
                "fqdn": "myregistry.azurecr.io",
                "failback_hold": "0s",
                # Every endpoint down moves a site to the fallback: a blind vantage must not (3b).
                "when_all_down": "fallback",
                "fallback": FALLBACK,
                "monitor": {
                    "protocol": "https",
                    "port": server.port,
                    "interval": "500ms",
                    "timeout": "400ms",
                    "fall": 2,
                    "rise": 1,
                    "ca_file": str(tmp_path / "pki" / "registry-ca.pem"),
                },
                "endpoints": [
                    {
                        "name": name,
                        "target": target,
                        "priority": i + 1,
                        "addresses": {s: [ip] for s, ip in by_site.items()},
                    }
                    for i, (name, (target, by_site)) in enumerate(REPLICAS.items())
                ],
                "azure": [
                    {
                        "site": s,
                        "subscription_id": SUB,
                        "resource_group": GROUP[s],
                        "zone": ZONE,
                        "record": "myregistry",
                    }
                    for s in SITES
                ],
            }
        ],
        "azure": {"credential": "static", "base_url": emulator.base_url},
    }
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def evidence(d: Daemon) -> list[str]:
    return list(d.status()["sites"]["evidence"])


def vantage_state(d: Daemon, name: str) -> str:
    return str(next(v["state"] for v in d.status()["sites"]["vantages"] if v["name"] == name))


def _holds(emulator: AzureEmulator, site: str, value: str) -> Callable[[], bool]:
    return lambda: cname(emulator, site) == value


def _all_fresh(d: Daemon) -> Callable[[], bool]:
    return lambda: all(vantage_state(d, n) == "fresh" for n in SITES)


def test_sites_decide_for_themselves_and_tell_each_other(
    tmp_path: Path, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    with AzureEmulator() as emulator:
        for s in SITES:
            emulator.add_zone(zone(s))
        _scenario(tmp_path, emulator, servers)


def _scenario(
    tmp_path: Path, emulator: AzureEmulator, servers: dict[tuple[str, str], RegistryServer]
) -> None:
    cfg = config(tmp_path, emulator, servers)
    assert (tmp_path / "pki" / "registry-ca.pem").is_file()
    vantages: dict[str, Daemon] = {}
    try:
        for s in SITES:
            vantages[s] = vantage(cfg, s, tmp_path / f"{s}.log").start()
        east, west, sea = (vantages[s] for s in SITES)
        for s, d in vantages.items():
            d.wait_until(_holds(emulator, s, X), WAIT, f"site {s}'s first write")
        for d in vantages.values():
            d.wait_until(_all_fresh(d), WAIT, "every vantage fresh")
        for s in SITES:  # each zone's stored history names the vantage that judged it (state version 2)
            rs = emulator.record_set(zone(s), "CNAME", "myregistry")
            assert rs is not None
            stored = json.loads(rs["properties"]["metadata"][STATE_KEY])
            assert (stored["v"], stored["vt"]) == (2, s)

        # (1) Only eastus's path to replica x breaks: only eastus's zone moves, the others get no write.
        emulator.reset_request_log()
        servers[("x", "eastus")].set_behaviour("stopped")
        east.wait_until(lambda: cname(emulator, "eastus") == Y, WAIT, "eastus's zone to move off x")
        # The other vantages have heard eastus say so, and stay on x for their own sites.
        west.wait_until(
            lambda: any(
                e.startswith("myregistry/x: Online for site westeurope and Online for 2 of 3")
                for e in evidence(west)
            ),
            WAIT,
            "westeurope to hear eastus's verdict",
        )
        assert any(
            e.startswith("myregistry/x: down for site eastus (eastus: refused")
            and "Online for 2 of 3 vantages" in e
            for e in evidence(east)
        ), evidence(east)
        assert cname(emulator, "westeurope") == X and cname(emulator, "southeastasia") == X
        assert writes_to(emulator, "westeurope") == [] and writes_to(emulator, "southeastasia") == []
        assert "site eastus: myregistry -> y; evidence: myregistry/x: down for site eastus" in east.log()
        servers[("x", "eastus")].set_behaviour("healthy")
        east.wait_until(lambda: cname(emulator, "eastus") == X, WAIT, "eastus's zone back on x")

        # (2) Replica x is down for everyone: every site moves off it, and the quorum says so.
        for s in SITES:
            servers[("x", s)].set_behaviour("stopped")
        for s, d in vantages.items():
            d.wait_until(_holds(emulator, s, Y), WAIT, f"site {s}'s zone to move off x")
        east.wait_until(
            lambda: any(
                e.startswith("myregistry/x: down for site eastus") and "(quorum 2: down everywhere)" in e
                for e in evidence(east)
            ),
            WAIT,
            "the quorum to say x is down everywhere",
        )
        for s in SITES:
            servers[("x", s)].set_behaviour("healthy")
        for s, d in vantages.items():
            d.wait_until(_holds(emulator, s, X), WAIT, f"site {s}'s zone back on x")

        # (3) Vantage westeurope is cut off (every probe times out): it is isolated, nothing moves.
        emulator.reset_request_log()
        for name in REPLICAS:
            servers[(name, "westeurope")].set_behaviour("blackhole")
        east.wait_until(
            lambda: vantage_state(east, "westeurope") == "isolated", WAIT, "westeurope shown isolated"
        )
        assert vantage_state(west, "westeurope") == "isolated"
        assert west.status()["isolated"] is True
        assert writes(emulator) == []
        assert {cname(emulator, s) for s in SITES} == {X}
        for name in REPLICAS:
            servers[(name, "westeurope")].set_behaviour("healthy")
        east.wait_until(lambda: vantage_state(east, "westeurope") == "fresh", WAIT, "westeurope back")
        assert writes(emulator) == []  # it converges without a flip

        # (3b) Every replica refuses westeurope (its own guard does not hold: something came back)
        # while the others see them up: the quorum shows it isolated and its site keeps x, not the
        # fallback its all-down policy would pick.
        for name in REPLICAS:
            servers[(name, "westeurope")].set_behaviour("stopped")
        east.wait_until(
            lambda: vantage_state(east, "westeurope") == "isolated", WAIT, "westeurope shown isolated"
        )
        west.wait_until(lambda: west.status()["isolated"] is True, WAIT, "westeurope's decisions held")
        west.wait_until(
            lambda: "every endpoint fails from site westeurope while" in west.log(), WAIT, "the hold logged"
        )
        assert writes(emulator) == []
        assert {cname(emulator, s) for s in SITES} == {X}
        for name in REPLICAS:
            servers[(name, "westeurope")].set_behaviour("healthy")
        east.wait_until(lambda: vantage_state(east, "westeurope") == "fresh", WAIT, "westeurope back")
        west.wait_until(lambda: west.status()["isolated"] is False, WAIT, "westeurope's hold released")
        assert writes(emulator) == []  # no flip on the way back either
        assert {cname(emulator, s) for s in SITES} == {X}

        # (4) Vantage southeastasia stops: stale after 3 intervals, nothing flips.
        emulator.reset_request_log()
        sea.terminate()
        east.wait_until(lambda: vantage_state(east, "southeastasia") == "stale", WAIT, "southeastasia stale")
        west.wait_until(lambda: vantage_state(west, "southeastasia") == "stale", WAIT, "southeastasia stale")
        assert {cname(emulator, s) for s in SITES} == {X}
        assert writes(emulator) == []
        shown = dnsctl("status", "--url", east.admin)
        assert shown.code == 0, shown.stderr
        assert "vantage: southeastasia: stale, last seen" in shown.stdout
        assert "vantage: eastus: fresh" in shown.stdout
        assert "2 of 3 fresh vantages" in shown.stdout
        metrics = east.get("/metrics").text
        assert 'dnsctl_vantage_state{state="stale",vantage="southeastasia"} 1.0' in metrics
    finally:
        for d in vantages.values():
            d.kill()


def test_site_naming_no_site_is_refused(tmp_path: Path) -> None:
    RegistryPki(tmp_path / "pki")  # the CA file the configuration names
    with AzureEmulator() as emulator:
        cfg = config(tmp_path, emulator, {("x", "eastus"): _FakePort()})  # type: ignore[dict-item]
        done = dnsctl("run", "-c", str(cfg), "--site", "northpole")
        assert done.code == 2
        assert "--site: 'northpole' names no site (sites: eastus, westeurope, southeastasia)" in done.stderr
        assert "Traceback" not in done.stderr
        done = dnsctl("run", "-c", str(cfg))
        assert done.code == 2
        assert "run one vantage per site with --site NAME" in done.stderr


class _FakePort:
    port = 443
