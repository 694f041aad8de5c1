"""A lease that cannot be held is loud: ERROR (repeated with backoff), counted, and /readyz turns 503.

Against a real Azurite with a wrong account key (the service answers 403) and
with a connection string that is not one. The lease's clock is driven by hand.
"""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from dnsctl.cli.render import controller_lines
from dnsctl.compose import build_engine
from dnsctl.controller.admin import AdminServer
from dnsctl.controller.blob_lease import REPORT_AGAIN_FIRST, AzureBlobLease
from dnsctl.controller.run import RunController
from dnsctl.core.model import HostPort
from dnsctl.documents.jsonable import to_object
from dnsctl.targets.memory import MemoryTarget
from tests.ha.azurite import ACCOUNT_KEY, Azurite
from tests.ha.conftest import MakeLease, lease_spec
from tests.support.clock import ManualClock

DURATION = 15.0


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dnsctl.lease" and r.levelno >= logging.ERROR]


@pytest.fixture
def wrong_key(azurite: Azurite) -> str:
    key = base64.b64encode(b"not the account key, but a key all the same").decode()
    return azurite.connection_string.replace(ACCOUNT_KEY, key)


async def test_a_refused_credential_is_an_error_repeated_with_backoff_and_then_unreadiness(
    make_lease: MakeLease, blob_url: str, wrong_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dnsctl.lease")
    clock = ManualClock()
    lease = make_lease(blob_url, DURATION, connection_string=wrong_key, clock=clock)
    ctl = RunController(build_engine(lease_spec(blob_url)), MemoryTarget(), lease=lease)
    assert await ctl._read_stored()  # what start() does first: the stored state is read
    lease_errors = "dnsctl_lease_errors_total"

    await ctl._lease_tick()  # what the scheduler does every renew_every seconds
    (first,) = errors_logged(caplog)
    # Azurite answers a wrong shared key with 403 AuthorizationFailure (Azure says AuthenticationFailed).
    assert "HTTP 403 Authorization" in first or "HTTP 403 Authentication" in first
    assert "this replica cannot write DNS" in first
    assert ctl.registry.get_sample_value(lease_errors) == 1
    assert ctl.ready()[0], "one failed attempt is not yet a reason to be unready"

    # The same problem on every tick is not repeated at ERROR until the backoff has passed ...
    for _ in range(3):
        clock.advance(lease.renew_every)
        await ctl._lease_tick()
    assert len(errors_logged(caplog)) == 1
    assert ctl.registry.get_sample_value(lease_errors) == 4

    # ... and past two lease durations without a lease, the replica is not ready, with the reason.
    clock.advance(2 * DURATION - 3 * lease.renew_every)
    await ctl._lease_tick()
    ready, why = ctl.ready()
    assert not ready
    assert why.startswith("lease: no lease for 30s (over 30s): ")
    assert "HTTP 403" in why

    clock.advance(REPORT_AGAIN_FIRST)
    await ctl._lease_tick()
    assert len(errors_logged(caplog)) == 2, "a lasting problem is said again after the backoff"
    clock.advance(REPORT_AGAIN_FIRST)
    await ctl._lease_tick()
    assert len(errors_logged(caplog)) == 2, "the gap doubles"
    clock.advance(REPORT_AGAIN_FIRST)
    await ctl._lease_tick()
    assert len(errors_logged(caplog)) == 3
    assert ctl.registry.get_sample_value(lease_errors) == 8

    doc = ctl.status()
    status = to_object(doc)
    assert status["leadership"]["held"] is False
    assert status["leadership"]["errors"] == 8
    assert "HTTP 403" in status["leadership"]["last_error"]
    lines = controller_lines(doc)
    assert lines[0].startswith("leadership: standby (azure-blob, ") and lines[0].endswith("not writing DNS")
    assert lines[1].startswith("lease: failing (8 failed attempt(s)): ")

    admin = AdminServer(ctl, HostPort("127.0.0.1", 0), clock=ctl.clock)
    await admin.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{admin.port}/readyz")
    finally:
        await admin.stop()
    assert response.status_code == 503
    assert response.text.startswith("not ready: lease: no lease for ")
    assert "HTTP 403" in response.text
    assert ACCOUNT_KEY not in response.text


async def test_a_connection_string_that_is_not_one_is_an_error_too(
    make_lease: MakeLease, blob_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dnsctl.lease")
    clock = ManualClock()
    lease = make_lease(blob_url, DURATION, connection_string="this is not a connection string", clock=clock)
    assert await lease.renew() is False
    assert lease.errors == 1
    (message,) = errors_logged(caplog)
    assert "is not a valid connection string" in message
    clock.advance(2 * DURATION)
    await lease.renew()
    trouble = lease.trouble()
    assert trouble is not None and "is not a valid connection string" in trouble


async def test_a_standby_that_sees_the_lease_held_elsewhere_has_no_error(
    make_lease: MakeLease, blob_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dnsctl.lease")
    clock = ManualClock()
    holder = make_lease(blob_url, DURATION)
    standby: AzureBlobLease = make_lease(blob_url, DURATION, clock=clock)
    assert await holder.renew() is True
    for _ in range(5):
        assert await standby.renew() is False
        clock.advance(DURATION)
    assert (standby.errors, standby.last_error, standby.trouble()) == (0, "", None)
    assert errors_logged(caplog) == []
    ctl = RunController(build_engine(lease_spec(blob_url)), MemoryTarget(), lease=standby)
    assert await ctl._read_stored()  # what start() does first: the stored state is read
    assert ctl.ready() == (True, "every profile has a decision; standby")


async def test_a_lease_that_answers_again_clears_the_error(
    make_lease: MakeLease, blob_url: str, azurite: Azurite, wrong_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dnsctl.lease")
    clock = ManualClock()
    lease = make_lease(blob_url, DURATION, connection_string=wrong_key, clock=clock)
    assert await lease.renew() is False
    clock.advance(3 * DURATION)
    await lease.renew()
    assert lease.trouble() is not None
    # The operator fixes the secret; the next attempt (here: a fresh client on the right key) works.
    lease._connection_string = azurite.connection_string
    await lease._close()
    assert await lease.renew() is True
    assert (lease.last_error, lease.trouble()) == ("", None)
    assert lease.errors == 2, "the counter keeps what happened"
    assert any("answers again after 45s of errors" in r.getMessage() for r in caplog.records)
