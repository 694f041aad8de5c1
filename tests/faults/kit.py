"""Shared pieces of the fault-injection tests: the lab's names, config builders, metrics, bounded waits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.http_server import ArmRequest, Reply
from tests.e2e.harness import RG, SUB, ZONE, ZONE_ID, write_config
from tests.support.registry import Behaviour, RegistryServer
from tests.support.waits import ACTIVITY, wait_until

T = TypeVar("T")

# Each region is one registry server; every profile has an endpoint in every region (priority in this order).
REGIONS = {"eastus": "127.0.0.2", "westeurope": "127.0.0.3"}
HOLD_LIMIT = 60.0  # seconds a held answer waits for release_answers at most (a forgotten release)
PROFILES = ("myregistry", "otherreg")


def target(profile: str, region: str) -> str:
    return f"{profile}.{region}.geo.azurecr.io"


@dataclass
class Replicas:
    port: int
    ca_file: str
    servers: dict[str, RegistryServer]

    def set(self, region: str, behaviour: str) -> None:
        self.servers[region].set_behaviour(behaviour)

    def set_all(self, behaviour: str) -> None:
        """Switch every region at the same moment, like a network cut would: every server's behaviour
        flips first, from this thread, then their listeners follow (one thread each). A probe round
        must never see one region cut and another still answering."""
        new = Behaviour(behaviour)
        olds = [(server, server.flip(new)) for server in self.servers.values()]
        with ThreadPoolExecutor(len(self.servers)) as pool:
            list(pool.map(lambda pair: pair[0].switch(pair[1], new), olds))


class WatchedEmulator(AzureEmulator):
    """The emulator, also noting when each ARM request *arrives* (its log entry is written when it is
    answered, after any injected latency), and able to hold every answer until the test lets it go: a
    test can act while a request is held in flight. Each answer bumps tests.support.waits.ACTIVITY."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived: list[str] = []
        self._arrival = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        self._held = ""

    def hold_answers(self, method: str) -> None:
        """From now on each `method` request waits, once arrived, until `release_answers` (at most
        HOLD_LIMIT seconds); the others are answered as usual."""
        self._held = method
        self._open.clear()

    def release_answers(self) -> None:
        self._open.set()

    def handle(self, request: ArmRequest) -> Reply:
        with self._arrival:
            self._arrived.append(request.method)
            self._arrival.notify_all()
        if request.method == self._held:
            self._open.wait(HOLD_LIMIT)
        try:
            return super().handle(request)
        finally:
            ACTIVITY.bump()

    def forget_arrivals(self) -> None:
        with self._arrival:
            self._arrived.clear()

    def wait_arrival(self, method: str, limit: float) -> None:
        """Block until a `method` request has arrived since `forget_arrivals` (at most `limit` seconds)."""
        with self._arrival:
            if not self._arrival.wait_for(lambda: method in self._arrived, limit):
                raise AssertionError(f"no {method} request arrived within {limit}s")


def profile(
    name: str,
    replicas: Replicas,
    *,
    fall: int,
    rise: int = 1,
    interval: str = "300ms",
    timeout: str = "250ms",
    **extra: Any,
) -> dict[str, Any]:
    """A profile with an endpoint in every region and a CNAME record named after it in the lab zone."""
    doc: dict[str, Any] = {
        "name": name,
        "fqdn": f"{name}.azurecr.io",
        "ttl": 30,
        "failback_hold": "0s",
        "monitor": {
            "protocol": "https",
            "port": replicas.port,
            "interval": interval,
            "timeout": timeout,
            "fall": fall,
            "rise": rise,
            "ca_file": replicas.ca_file,
        },
        "endpoints": [
            {"name": region, "target": target(name, region), "priority": i + 1, "addresses": [ip]}
            for i, (region, ip) in enumerate(REGIONS.items())
        ],
        "azure": {"subscription_id": SUB, "resource_group": RG, "zone": ZONE, "record": name},
    }
    doc.update(extra)
    return doc


def config(path: Path, emulator: AzureEmulator, profiles: list[dict[str, Any]], **extra: Any) -> Path:
    return write_config(path, emulator, profiles, **extra)


def record(emulator: AzureEmulator, name: str) -> dict[str, Any] | None:
    return emulator.record_set(ZONE_ID, "CNAME", name)


def cname(emulator: AzureEmulator, name: str) -> str | None:
    rs = record(emulator, name)
    return None if rs is None else str(rs["properties"]["cnameRecord"]["cname"])


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None when it is absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def total(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` carrying `labels` (whatever its other labels)."""
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def wait_for(check: Callable[[], T], limit: float, what: str, *, every: float = 0.05) -> T:
    """The first truthy value of `check`, re-checked each time something the test can observe happens
    (an emulator answer, a replica's request, a line a dnsctl process writes: tests.support.waits);
    fails after `limit` seconds. `every` is no longer used (kept for callers)."""
    return wait_until(check, limit, what)


async def eventually(check: Callable[[], T], limit: float, what: str, *, every: float = 0.05) -> T:
    """`wait_for` inside an event loop: polls without blocking the loop the code under test runs on."""
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(every)
