"""A local emulator of the Azure Private DNS REST API, for tests and demos (never used in production)."""

from dnsctl.emulator.azure_privatedns import API_VERSION, AzureEmulator
from dnsctl.emulator.requestlog import LoggedRequest
from dnsctl.emulator.store import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, ZoneId

__all__ = [
    "API_VERSION",
    "DEFAULT_RESOURCE_GROUP",
    "DEFAULT_SUBSCRIPTION",
    "AzureEmulator",
    "LoggedRequest",
    "ZoneId",
]
