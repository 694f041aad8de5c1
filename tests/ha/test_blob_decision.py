"""A site's decision document in the Azure Blob exchange (real Azurite): one ranged read for an agent."""

from __future__ import annotations

import asyncio
import time
import tomllib
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from azure.storage.blob.aio import ContainerClient

from dnsctl.config.sites import parse_exchange_url
from dnsctl.controller.exchange import MAX_REPORT_BYTES, DecisionRead
from dnsctl.controller.exchange_blob import BlobExchange
from dnsctl.core.mirror import ProfileDecision, SiteDecision
from dnsctl.core.sites import ExchangeKind, ExchangeSpec
from dnsctl.errors import ExchangeError
from tests.e2e.daemon import Daemon
from tests.e2e.harness import SUB, ZONE, free_port
from tests.ha.azurite import ACCOUNT_KEY, Azurite
from tests.support.waits import ACTIVITY

SITES = ("eastus", "westeurope")


def exchange(url: str, connection_string: str) -> BlobExchange:
    spec = ExchangeSpec(ExchangeKind.AZURE_BLOB, url=url, location=parse_exchange_url(url))
    return BlobExchange(spec, SITES, connection_string=connection_string)


def decision(seq: int, mirror: tuple[str, ...]) -> SiteDecision:
    return SiteDecision("eastus", seq, 100.0 + seq, "cfg", (ProfileDecision("reg", mirror[:1], mirror, "r"),))


def test_a_vantage_writes_its_sites_decision_and_an_agent_reads_it(azurite: Azurite) -> None:
    container = f"d{uuid.uuid4().hex[:12]}"
    url = azurite.blob_url(container, "verdicts")

    async def go() -> None:
        vantage, agent = exchange(url, azurite.connection_string), exchange(url, azurite.connection_string)
        raw = ContainerClient.from_connection_string(azurite.connection_string, container)
        try:
            await vantage.publish_decision(decision(1, ("x", "y")))
            assert (await agent.read_decision("westeurope")) == DecisionRead()  # never written
            await vantage.publish_decision(decision(2, ("y", "x")))
            got = await agent.read_decision("eastus")
            assert got.decision == decision(2, ("y", "x"))
            names = [b.name async for b in raw.list_blobs()]
            assert names == ["verdicts/eastus.decision.json"]
            await raw.upload_blob("verdicts/eastus.decision.json", b"{garbage", overwrite=True)
            got = await agent.read_decision("eastus")
            assert got.decision is None and got.problem is not None and "not a JSON decision" in got.problem
            await raw.upload_blob(
                "verdicts/eastus.decision.json", b" " * (MAX_REPORT_BYTES + 10), overwrite=True
            )
            got = await agent.read_decision("eastus")
            assert got.problem is not None and "larger than" in got.problem
        finally:
            await vantage.aclose()
            await agent.aclose()
            await raw.close()

    asyncio.run(go())


def test_an_unreachable_blob_exchange_is_an_exchange_error(azurite: Azurite) -> None:
    # Nothing listens on port 9 of loopback: the read fails at once, translated, without the key.
    dead = azurite.connection_string.replace(f"127.0.0.1:{azurite.port}", "127.0.0.1:9")

    async def go() -> None:
        agent = exchange("http://127.0.0.1:9/devstoreaccount1/c/verdicts", dead)
        try:
            with pytest.raises(ExchangeError, match="cannot read") as caught:
                await agent.read_decision("eastus")
            assert "AccountKey" not in str(caught.value)
        finally:
            await agent.aclose()

    asyncio.run(go())


def test_an_agent_process_follows_the_decision_blob(azurite: Azurite, tmp_path: Path) -> None:
    """`mirror --site eastus --source exchange` against Azurite: the blob's order becomes hosts.toml."""
    container = f"d{uuid.uuid4().hex[:12]}"
    url = azurite.blob_url(container, "verdicts")
    hosts_dir = tmp_path / "certs.d"
    cfg = tmp_path / "dnsctl.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sites": [{"name": s, "region": s} for s in SITES],
                "exchange": {"kind": "azure-blob", "url": url},
                "profiles": [
                    {
                        "name": "reg",
                        "fqdn": "myregistry.azurecr.io",
                        "monitor": {"protocol": "https", "interval": "5s", "timeout": "1s"},
                        "endpoints": [
                            {"name": n, "target": f"{n}.example", "priority": i + 1}
                            for i, n in enumerate(("x", "y"))
                        ],
                        "azure": [
                            {
                                "site": s,
                                "subscription_id": SUB,
                                "resource_group": s,
                                "zone": ZONE,
                                "record": "r",
                            }
                            for s in SITES
                        ],
                    }
                ],
                "mirror": {"containerd": {"hosts_dir": str(hosts_dir)}},
            }
        )
    )

    def hosts() -> list[str]:
        path = hosts_dir / "myregistry.azurecr.io" / "hosts.toml"
        return list(tomllib.loads(path.read_text()).get("host", {})) if path.exists() else []

    def publish(seq: int, mirror: tuple[str, ...]) -> None:
        async def go() -> None:
            vantage = exchange(url, azurite.connection_string)
            try:
                d = decision(seq, mirror)
                await vantage.publish_decision(replace(d, at=time.time()))
            finally:
                await vantage.aclose()

        asyncio.run(go())
        ACTIVITY.bump()

    publish(1, ("x", "y"))
    port = free_port()
    env = {
        "DNSCTL_ADMIN__LISTEN": f"127.0.0.1:{port}",
        "DNSCTL_EXCHANGE_CONNECTION_STRING": azurite.connection_string,
    }
    args = ("mirror", "-c", str(cfg), "--site", "eastus", "--source", "exchange")
    with Daemon(*args, admin_port=port, env=env, log=tmp_path / "agent.log") as agent:
        agent.wait_until(lambda: hosts() == ["https://x.example", "https://y.example"], 60, "the first file")
        publish(2, ("y", "x"))
        agent.wait_until(lambda: hosts() == ["https://y.example", "https://x.example"], 60, "the new order")
        assert agent.get("/readyz").status_code == 200
        assert ACCOUNT_KEY not in agent.log()
