"""The Azure credential dnsctl uses, chosen by `azure.credential` (azure-identity), and the fixed token an
emulator takes."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from dnsctl.core.model import AzureCredentialKind, AzureSpec
from dnsctl.errors import TargetError

TOKEN_ENV = "DNSCTL_AZURE_TOKEN"


class StaticTokenCredential:
    """A fixed bearer token from DNSCTL_AZURE_TOKEN: for emulators and tests, never for Azure itself."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, 2**31 - 1)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def make_credential(spec: AzureSpec) -> AsyncTokenCredential:
    kind = spec.credential
    if kind is AzureCredentialKind.STATIC:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise TargetError(f"azure.credential is 'static' but {TOKEN_ENV} is not set", transient=False)
        return StaticTokenCredential(token)
    from azure.identity.aio import (
        AzureCliCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    if kind is AzureCredentialKind.WORKLOAD:
        return (
            WorkloadIdentityCredential(client_id=spec.client_id)
            if spec.client_id
            else WorkloadIdentityCredential()
        )
    if kind is AzureCredentialKind.MANAGED:
        return (
            ManagedIdentityCredential(client_id=spec.client_id)
            if spec.client_id
            else ManagedIdentityCredential()
        )
    if kind is AzureCredentialKind.CLI:
        return AzureCliCredential()
    if spec.client_id:
        return DefaultAzureCredential(managed_identity_client_id=spec.client_id)
    return DefaultAzureCredential()


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
