"""AzureBlobLease against a real Azurite: one writer at a time, hand-over, expiry, and the safety window."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from azure.storage.blob.aio import BlobServiceClient

from dnsctl.config.values import parse_blob_url
from dnsctl.controller.blob_lease import CONNECTION_STRING_ENV, AzureBlobLease
from dnsctl.core.model import AzureCredentialKind, AzureSpec
from dnsctl.process.clock import SystemClock
from dnsctl.targets.azure_auth import TOKEN_ENV
from tests.ha.azurite import ACCOUNT_KEY, Azurite
from tests.ha.conftest import MakeLease, lease_spec
from tests.ha.tcp_proxy import TcpProxy
from tests.support.clock import ManualClock

# Bounds for the waits on Azurite's own lease clock; a test fails when one is reached.
POLL = 0.2
WAIT_LIMIT = 40.0


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_LIMIT:g} s waiting until {what}")
        await asyncio.sleep(POLL)


async def lease_state(azurite: Azurite, blob_url: str) -> tuple[str, int]:
    """The blob's lease state at the service, and its size, read with the SDK on the side."""
    loc = parse_blob_url(blob_url)
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        props = await service.get_blob_client(loc.container, loc.blob).get_blob_properties()
        return str(props.lease.state), int(props.size)


def fake_jwt(
    audience: str, issuer: str = "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"
) -> str:
    """An unsigned token with the claims Azurite's OAuth 'basic' level checks (not the signature)."""

    def part(doc: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"aud": audience, "iss": issuer, "iat": now - 60, "nbf": now - 60, "exp": now + 3600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


async def test_only_one_of_two_replicas_holds_the_lease(
    make_lease: MakeLease, blob_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dnsctl.lease")
    a, b = make_lease(blob_url), make_lease(blob_url)
    # Both start at once on a blob that does not exist yet: both create it, one wins the lease.
    await asyncio.gather(a.start(), b.start())
    assert sorted([a.held, b.held]) == [False, True]
    holder, standby = (a, b) if a.held else (b, a)
    assert holder.held_now() and not standby.held_now()

    assert await holder.renew() is True
    assert await standby.renew() is False
    assert holder.held_now() and not standby.held_now()
    assert holder.lease_id != standby.lease_id
    # Being a standby is normal: it is not reported as a problem on every tick.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("held by another replica" in r.getMessage() for r in caplog.records)


async def test_creates_container_and_empty_blob_then_leases_it(
    make_lease: MakeLease, blob_url: str, azurite: Azurite
) -> None:
    lease = make_lease(blob_url)
    await lease.start()
    assert lease.held
    assert await lease_state(azurite, blob_url) == ("leased", 0)

    await lease.release()
    assert not lease.held and not lease.held_now()
    assert await lease_state(azurite, blob_url) == ("available", 0)


async def test_release_hands_over_at_the_next_renew(make_lease: MakeLease, blob_url: str) -> None:
    holder, standby = make_lease(blob_url), make_lease(blob_url)
    await holder.start()
    await standby.start()
    assert holder.held and not standby.held

    await holder.release()
    assert not holder.held and not holder.held_now()
    # No waiting for the 15 s expiry: the released lease is free at once.
    assert await standby.renew() is True
    assert standby.held_now()
    assert await holder.renew() is False


async def test_held_now_ends_a_third_of_the_duration_before_the_lease_can_expire(
    make_lease: MakeLease, blob_url: str
) -> None:
    clock = ManualClock()
    lease = make_lease(blob_url, 30, clock=clock)
    assert (lease.duration, lease.renew_every, lease.margin) == (30, 10.0, 10.0)
    assert await lease.renew() is True

    clock.advance(19.9)
    assert lease.held_now()
    clock.advance(0.1)  # 20 s since the acquire was sent; the service keeps it until 30 s at the earliest
    assert not lease.held_now()
    assert lease.held, "still the holder as far as it knows, but no longer trusted for writes"

    assert await lease.renew() is True
    assert lease.held_now(), "a successful renew opens a new window"
    clock.advance(19.9)
    assert lease.held_now()


async def test_cut_off_holder_stops_writing_at_once_and_recovers_its_own_lease(
    make_lease: MakeLease, blob_url: str, azurite: Azurite
) -> None:
    async with TcpProxy("127.0.0.1", azurite.port) as proxy:
        # The holder's only path to the storage service goes through the proxy.
        via_proxy = azurite.connection_string.replace(f":{azurite.port}/", f":{proxy.port}/")
        holder = make_lease(blob_url, connection_string=via_proxy)
        standby = make_lease(blob_url)
        await holder.start()
        await standby.start()
        assert holder.held_now() and not standby.held_now()
        assert proxy.connections > 0

        proxy.cut()
        assert await holder.renew() is False
        assert not holder.held and not holder.held_now()
        # The service still keeps the holder's lease: the holder stopped before anyone else could write.
        assert await standby.renew() is False

        proxy.restore()
        assert await holder.renew() is True, "re-acquires its own, still active lease with the same id"
        assert holder.held_now()
        assert await standby.renew() is False
        await holder.release()


async def test_stalled_holder_stops_writing_before_expiry_and_the_standby_takes_over(
    make_lease: MakeLease, blob_url: str
) -> None:
    holder, standby = make_lease(blob_url, 15), make_lease(blob_url, 15)
    assert await holder.renew() is True
    assert await standby.renew() is False

    # The holder stalls or dies: nobody calls its renew() any more.
    async def holder_distrusts() -> bool:
        return not holder.held_now()

    await wait_until(holder_distrusts, "the stalled holder stops trusting its lease")
    assert holder.held
    # At that moment the service has not let the lease go: no second writer, not even for an instant.
    assert await standby.renew() is False

    await wait_until(standby.renew, "the standby acquires the expired lease")
    assert standby.held_now()
    # The old holder wakes up: its renew is refused, it stays a standby.
    assert await holder.renew() is False
    assert not holder.held_now()


async def test_connection_string_from_the_environment_never_reaches_a_log(
    make_lease: MakeLease,
    blob_url: str,
    azurite: Azurite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the Azure SDK's included
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    lease = AzureBlobLease(lease_spec(blob_url), clock=SystemClock())
    assert await lease.renew() is True
    wrong_key = base64.b64encode(b"not the account key, but a key all the same").decode()
    impostor = make_lease(
        blob_url, connection_string=azurite.connection_string.replace(ACCOUNT_KEY, wrong_key)
    )
    assert await impostor.renew() is False
    await lease.release()

    text = "\n".join(r.getMessage() + (caplog.text if r.exc_info else "") for r in caplog.records)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("HTTP 403" in m for m in problems), problems
    for secret in (ACCOUNT_KEY, wrong_key, "AccountKey=", "SharedKey devstoreaccount1:"):
        assert secret not in text


async def test_bearer_token_credential_over_tls(
    make_lease: MakeLease,
    azurite_oauth: Azurite,
    ca_path: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a connection string the lease uses the DNS target's credential (here: a static token)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv(CONNECTION_STRING_ENV, raising=False)
    static = AzureSpec(credential=AzureCredentialKind.STATIC)
    url = azurite_oauth.blob_url("ha-oauth", "leader")
    tls = {"connection_verify": ca_path}

    wrong_audience = fake_jwt("https://management.azure.com")
    monkeypatch.setenv(TOKEN_ENV, wrong_audience)
    refused = make_lease(url, azure=static, connection_string=None, client_options=tls)
    assert await refused.renew() is False

    token = fake_jwt("https://storage.azure.com")
    monkeypatch.setenv(TOKEN_ENV, token)
    lease = make_lease(url, azure=static, connection_string=None, client_options=tls)
    assert await lease.renew() is True
    assert lease.held_now()
    await lease.release()

    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("AuthenticationFailed" in m and "azure.credential" in m for m in problems), problems
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in text and wrong_audience not in text


async def test_a_token_credential_over_plain_http_is_a_lease_error_not_a_traceback(
    make_lease: MakeLease, blob_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `validate` refuses this configuration; `run` without validating says the same, and stays up.
    monkeypatch.delenv(CONNECTION_STRING_ENV, raising=False)
    monkeypatch.setenv(TOKEN_ENV, fake_jwt("https://storage.azure.com"))
    static = AzureSpec(credential=AzureCredentialKind.STATIC)
    lease = make_lease(blob_url, azure=static, connection_string=None)
    assert blob_url.startswith("http://")
    assert await lease.renew() is False
    assert not lease.held_now()
    assert "plain http needs an emulator's account key in DNSCTL_HA_CONNECTION_STRING" in lease.last_error
