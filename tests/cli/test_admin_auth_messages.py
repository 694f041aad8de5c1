"""What `dnsctl drain` (the admin client) says when the real admin server answers 401: readable (the log
mask leaves the words alone), never the token, and whether DNSCTL_ADMIN_TOKEN is set at all."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from dnsctl.controller.admin import AdminServer
from dnsctl.core.model import HostPort
from dnsctl.process.clock import SystemClock
from tests.admin.conftest import Controller
from tests.e2e.harness import REPO
from tests.support.waits import run_process

SERVER_TOKEN = "srv-Adm1n-t0ken-4c2b9e"
SAYS = "missing or rejected admin token: the client must send the value of DNSCTL_ADMIN_TOKEN"


@pytest.fixture
def admin_url() -> Iterator[str]:
    """The real admin server on loopback, in a thread of its own, with a token set."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = AdminServer(Controller(), HostPort("127.0.0.1", 0), clock=SystemClock(), token=SERVER_TOKEN)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def drain(url: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DNSCTL_ADMIN_TOKEN"}
    if token is not None:
        env["DNSCTL_ADMIN_TOKEN"] = token
    return run_process(
        [sys.executable, "-m", "dnsctl", "drain", "myregistry", "eastus", "--url", url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_the_variable_the_client_says_it_is_not_set(admin_url: str) -> None:
    run = drain(admin_url, None)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "HTTP 401" in run.stderr and SAYS in run.stderr
    assert "DNSCTL_ADMIN_TOKEN is not set" in run.stderr
    assert "***" not in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("token", ["wrong", "not-the-admin-Token-5f1e9"])
def test_a_rejected_token_gets_a_readable_message_without_the_token(admin_url: str, token: str) -> None:
    run = drain(admin_url, token)
    assert run.returncode == 1, run.stdout + run.stderr
    assert SAYS in run.stderr, run.stderr  # not "missing or *** bearer ***"
    assert "the token in DNSCTL_ADMIN_TOKEN was not accepted" in run.stderr
    assert "is not set" not in run.stderr
    assert "***" not in run.stderr
    assert token not in run.stderr and SERVER_TOKEN not in run.stderr


def test_the_right_token_drains(admin_url: str) -> None:
    run = drain(admin_url, SERVER_TOKEN)
    assert run.returncode == 0, run.stderr
    assert "eastus drained" in run.stdout
