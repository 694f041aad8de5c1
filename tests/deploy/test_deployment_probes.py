"""The Deployment's probe commands, run for real against dnsctl's admin server.

In the pod the admin listens on 0.0.0.0, where every call needs the bearer token; these tests run the
server on loopback with open reads turned off, so it answers exactly as it does in the pod.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from dnsctl.controller.admin import AdminServer
from dnsctl.core.model import HostPort
from dnsctl.process.clock import SystemClock
from tests.deploy import kit

TOKEN = "probe-test-token-3f9a"


@dataclass
class Controller:
    """The admin server's view of a controller, with health and readiness set by the test."""

    is_alive: bool = True
    is_ready: bool = True
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def alive(self) -> bool:
        return self.is_alive

    def ready(self) -> tuple[bool, str]:
        return self.is_ready, "every profile has a decision" if self.is_ready else "waiting for verdicts"

    def status(self) -> dict[str, Any]:
        return {}

    async def drain(self, profile: str, endpoint: str) -> str:
        raise AssertionError("probes never act")

    async def undrain(self, profile: str, endpoint: str) -> str:
        raise AssertionError("probes never act")

    async def failback(self, profile: str) -> str:
        raise AssertionError("probes never act")


@dataclass
class Admin:
    controller: Controller
    port: int


@pytest.fixture
async def admin() -> AsyncIterator[Admin]:
    controller = Controller()
    server = AdminServer(controller, HostPort("127.0.0.1", 0), token=TOKEN, clock=SystemClock())
    server.open_reads = False  # as on 0.0.0.0 in the pod: reads need the token too
    await server.start()
    assert server.port is not None
    try:
        yield Admin(controller, server.port)
    finally:
        await server.stop()


def probe_command(probe: str, port: int) -> list[str]:
    """The probe's command from deployment.yaml, aimed at the test server's port."""
    command = list(kit.container(kit.one("Deployment"))[probe]["exec"]["command"])
    pod_url = f"http://127.0.0.1:{kit.admin_port()}/"
    assert command[0] == "python" and pod_url in command[2]
    return [sys.executable, *command[1:2], command[2].replace(pod_url, f"http://127.0.0.1:{port}/")]


async def run_probe(probe: str, port: int, token: str | None = TOKEN) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DNSCTL_ADMIN_TOKEN"}
    if token is not None:
        env["DNSCTL_ADMIN_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        *probe_command(probe, port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_probes_pass_on_a_healthy_ready_controller(admin: Admin) -> None:
    assert (await run_probe("livenessProbe", admin.port))[0] == 0
    assert (await run_probe("readinessProbe", admin.port))[0] == 0


async def test_readiness_fails_while_waiting_for_verdicts_and_liveness_does_not(admin: Admin) -> None:
    admin.controller.is_ready = False
    assert (await run_probe("readinessProbe", admin.port))[0] != 0
    assert (await run_probe("livenessProbe", admin.port))[0] == 0


async def test_liveness_fails_on_a_stalled_controller(admin: Admin) -> None:
    admin.controller.is_alive = False
    assert (await run_probe("livenessProbe", admin.port))[0] != 0


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
async def test_probes_need_the_token_and_never_print_it(admin: Admin, probe: str) -> None:
    wrong = "not-the-token-77c1"
    code, output = await run_probe(probe, admin.port, token=wrong)
    assert code != 0
    assert "401" in output
    assert wrong not in output and TOKEN not in output
    code, _ = await run_probe(probe, admin.port, token=None)
    assert code != 0


async def test_probes_fail_when_nothing_listens() -> None:
    server = AdminServer(Controller(), HostPort("127.0.0.1", 0), token=TOKEN, clock=SystemClock())
    await server.start()
    assert server.port is not None
    port = server.port
    await server.stop()
    assert (await run_probe("livenessProbe", port))[0] != 0
