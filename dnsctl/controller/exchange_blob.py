"""The verdict exchange on Azure Blob Storage: one blob per vantage (`PREFIX/VANTAGE.json`), and one
per site for its decision (`PREFIX/SITE.decision.json`, read by node agents).

Each vantage writes only its own blob, conditional on the ETag it last saw (a second process of the
same site, a standby, is noticed and the ETag re-read); everyone reads every blob. The credential is
the lease's: `azure.credential`, or an emulator's connection string in
DNSCTL_EXCHANGE_CONNECTION_STRING (else DNSCTL_HA_CONNECTION_STRING). No key, token or connection
string is ever logged. Storage exceptions are translated here into ExchangeError.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import ContainerClient

from dnsctl.controller.exchange import (
    MAX_REPORT_BYTES,
    DecisionRead,
    ExchangeRead,
    decision_name,
    decode,
    decode_decision,
    encode,
    encode_decision,
)
from dnsctl.core.mirror import SiteDecision
from dnsctl.core.model import AzureSpec
from dnsctl.core.quorum import VantageReport
from dnsctl.core.sites import ExchangeSpec
from dnsctl.errors import DnsctlError, ExchangeError
from dnsctl.process import secrets
from dnsctl.process.logs import redact

CONNECTION_STRING_ENV = "DNSCTL_EXCHANGE_CONNECTION_STRING"
LEASE_CONNECTION_STRING_ENV = "DNSCTL_HA_CONNECTION_STRING"
IO_TIMEOUT = 10


class BlobExchange:
    kind = "azure-blob"

    def __init__(
        self,
        spec: ExchangeSpec,
        vantages: tuple[str, ...],
        *,
        azure: AzureSpec | None = None,
        connection_string: str | None = None,
        credential: AsyncTokenCredential | None = None,
    ) -> None:
        assert spec.location is not None  # parsed from exchange.url by dnsctl.config
        self.account_url, self.container, self.prefix = spec.location
        self.vantages = vantages
        self._azure = azure or AzureSpec()
        self._connection_string = (
            connection_string
            or os.environ.get(CONNECTION_STRING_ENV)
            or os.environ.get(LEASE_CONNECTION_STRING_ENV)
            or None
        )
        secrets.KNOWN.add(self._connection_string or "")
        self._credential = credential
        self._own_credential = False
        self._client: ContainerClient | None = None
        self._etags: dict[str, str] = {}
        self._created = False

    def blob_of(self, vantage: str) -> str:
        return f"{self.prefix}/{vantage}.json" if self.prefix else f"{vantage}.json"

    async def publish(self, report: VantageReport) -> None:
        await self._put(self.blob_of(report.vantage), encode(report).encode())

    async def publish_decision(self, decision: SiteDecision) -> None:
        await self._put(self._decision_blob(decision.site), encode_decision(decision).encode())

    def _decision_blob(self, site: str) -> str:
        return f"{self.prefix}/{decision_name(site)}" if self.prefix else decision_name(site)

    async def read_decision(self, site: str) -> DecisionRead:
        """One ranged read of the site's decision blob (nothing past the size limit is fetched)."""
        name = self._decision_blob(site)
        try:
            client = await self._container_client(create=False)  # a node agent only reads
            try:
                stream = await client.get_blob_client(name).download_blob(
                    offset=0, length=MAX_REPORT_BYTES + 1
                )
                data = await stream.readall()
            except ResourceNotFoundError:
                return DecisionRead()
        except AzureError as e:
            raise ExchangeError(f"cannot read {self.container}/{name}: {_brief(e)}") from None
        if len(data) > MAX_REPORT_BYTES:
            return DecisionRead(problem=f"{name} is larger than {MAX_REPORT_BYTES} bytes")
        try:
            return DecisionRead(decode_decision(data, site))
        except ValueError as e:
            return DecisionRead(problem=f"{name}: {e}")

    async def _put(self, name: str, data: bytes) -> None:
        """Replace blob `name`, conditional on the ETag last seen (re-read once when someone else wrote)."""
        try:
            client = await self._container_client()
            blob = client.get_blob_client(name)
            for _ in range(2):
                etag = self._etags.get(name)
                try:
                    if etag is None:
                        result = await blob.upload_blob(data, overwrite=False)
                    else:
                        result = await blob.upload_blob(
                            data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
                        )
                except (ResourceExistsError, ResourceModifiedError):
                    # Written by someone else since (a standby of this site, or a restart): re-read, retry.
                    props = await blob.get_blob_properties()
                    self._etags[name] = str(props.etag)
                    continue
                self._etags[name] = str(result["etag"])
                return
            raise ExchangeError(f"{self.container}/{name}: written by another process at every attempt")
        except AzureError as e:
            raise ExchangeError(f"cannot write {self.container}/{name}: {_brief(e)}") from None

    async def read(self) -> ExchangeRead:
        reports: dict[str, VantageReport] = {}
        problems: dict[str, str] = {}
        try:
            client = await self._container_client()
            for vantage in self.vantages:
                name = self.blob_of(vantage)
                try:
                    stream = await client.get_blob_client(name).download_blob(
                        offset=0, length=MAX_REPORT_BYTES + 1
                    )
                    data = await stream.readall()
                except ResourceNotFoundError:
                    continue  # never heard: stale
                if len(data) > MAX_REPORT_BYTES:
                    problems[vantage] = f"{name} is larger than {MAX_REPORT_BYTES} bytes"
                    continue
                try:
                    reports[vantage] = decode(data, vantage)
                except ValueError as e:
                    problems[vantage] = f"{name}: {e}"
        except AzureError as e:
            raise ExchangeError(f"cannot read {self.container}/{self.prefix}: {_brief(e)}") from None
        return ExchangeRead(reports, problems)

    async def _container_client(self, *, create: bool = True) -> ContainerClient:
        if self._client is None:
            options: dict[str, Any] = {
                "retry_total": 0,
                "connection_timeout": IO_TIMEOUT,
                "read_timeout": IO_TIMEOUT,
            }
            if self._connection_string:
                try:
                    self._client = ContainerClient.from_connection_string(
                        self._connection_string, self.container, **options
                    )
                except ValueError:
                    raise ExchangeError("the exchange's connection string is not valid") from None
            else:
                if self.account_url.startswith("http:"):
                    raise ExchangeError(
                        f"exchange.url: plain http needs an emulator's account key in {CONNECTION_STRING_ENV}"
                    )
                self._client = ContainerClient(
                    self.account_url, self.container, credential=self._token_credential(), **options
                )
        if create and not self._created:
            with contextlib.suppress(ResourceExistsError):
                await self._client.create_container()
            self._created = True
        return self._client

    def _token_credential(self) -> AsyncTokenCredential:
        if self._credential is None:
            from dnsctl.targets.azure_auth import make_credential

            try:
                self._credential = make_credential(self._azure)
            except DnsctlError as e:
                raise ExchangeError(f"no Azure credential for the exchange: {e}") from None
            self._own_credential = True
        return self._credential

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        if self._own_credential and self._credential is not None:
            credential, self._credential = self._credential, None
            self._own_credential = False
            await credential.close()


def _brief(e: AzureError) -> str:
    message = getattr(e, "message", None) or str(e)
    first = message.strip().splitlines()[0][:200] if message and message.strip() else type(e).__name__
    return redact(first)
