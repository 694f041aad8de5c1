"""Shared constants and fakes for the emulator tests."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken

from dnsctl.emulator import ZoneId

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "rg-dns"
ZONE = "privatelink.azurecr.io"
ZONE_ID = ZoneId(SUBSCRIPTION, RESOURCE_GROUP, ZONE)
API = "api-version=2024-06-01"
FAR_FUTURE = 4_102_444_800  # 2100-01-01


class FakeCredential:
    """An AsyncTokenCredential that hands out a fixed token; the emulator only checks that one is sent."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", FAR_FUTURE)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FakeCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class SyncFakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", FAR_FUTURE)


def zone_path(zone: ZoneId = ZONE_ID) -> str:
    return zone.arm_id
