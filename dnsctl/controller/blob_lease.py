"""Leadership through an Azure Blob lease: the only module that talks to the Azure Storage SDK.

Two replicas of `dnsctl run` share one blob; whoever holds its lease writes DNS. The holder renews
every duration/3 and trusts its lease only for duration - duration/3 after the moment it *sent* its
last successful acquire or renew: the service starts the lease clock no earlier than that, so a
holder that is cut off or stalled stops writing at least duration/3 (>= 5 s) before the service can
give the lease to another replica. `write_window` is what is left of that trust: the DNS target
checks it before every write attempt and every wait for a retry, and cuts a write off at its end, so
the margin only has to cover a request already on its way when it is cut off. Storage exceptions
are translated here; no key, token or connection string is ever logged.

The holder names itself (identity and admin address) in the blob's metadata when it acquires the
lease, so that a standby can tell an operator where to send an action.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Mapping
from enum import Enum
from typing import Any, TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobClient, BlobLeaseClient, ContainerClient

from dnsctl.controller.lease import identity
from dnsctl.core.model import DnsctlSpec, HostPort
from dnsctl.errors import DnsctlError, LeaseError
from dnsctl.process import secrets
from dnsctl.process.clock import Clock
from dnsctl.process.logs import redact

log = logging.getLogger("dnsctl.lease")

CONNECTION_STRING_ENV = "DNSCTL_HA_CONNECTION_STRING"
ROLE_HINT = (
    "grant the identity 'Storage Blob Data Contributor' on the storage account "
    "(or on the container, if it exists already)"
)
CREDENTIAL_HINT = f"check the identity behind azure.credential (or {CONNECTION_STRING_ENV}, when set)"
_AUTHENTICATION_CODES = frozenset(
    {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
)
# Held by another replica: the normal answer for a standby, not an error.
_TAKEN_CODES = frozenset(
    {"LeaseAlreadyPresent", "LeaseIdMismatchWithLeaseOperation", "LeaseNotPresentWithLeaseOperation"}
)
# A lease that keeps failing is reported at ERROR again after these gaps (doubling), or when it changes.
REPORT_AGAIN_FIRST, REPORT_AGAIN_MAX = 60.0, 900.0
# The blob metadata key under which the holder names itself (identity and admin address).
HOLDER_KEY = "dnsctlholder"
# Readiness is withdrawn once the lease could not be held for this many lease durations.
UNREADY_AFTER_DURATIONS = 2
T = TypeVar("T")


class AzureBlobLease:
    """The `Lease` of a replica of `dnsctl run`, kept on an Azure blob (created empty if missing).

    `credential` and `client_options` (extra Azure SDK client keywords, e.g. `connection_verify`)
    are seams for tests; by default the credential is the DNS target's (`azure.credential`), or the
    account connection string in DNSCTL_HA_CONNECTION_STRING when set (emulators and tests only).
    """

    kind = "azure-blob"

    def __init__(
        self,
        spec: DnsctlSpec,
        *,
        credential: AsyncTokenCredential | None = None,
        connection_string: str | None = None,
        client_options: Mapping[str, Any] | None = None,
        clock: Clock,
    ) -> None:
        if spec.ha.blob is None:  # the configuration sets it whenever ha.lease is azure-blob
            raise LeaseError("ha.lease azure-blob: no blob to lease (ha.blob_url)")
        self.location = spec.ha.blob
        self.duration = spec.ha.lease_duration
        self.renew_every = self.duration / 3
        # Trusted for duration - margin after sending; see the module docstring.
        self.margin = self.duration / 3
        self.identity = identity()
        self.lease_id = str(uuid.uuid4())
        self.holder = f"{self.identity} (admin {_admin_address(spec)})"
        self._azure = spec.azure
        self._credential = credential
        self._own_credential = False
        self._connection_string = connection_string or os.environ.get(CONNECTION_STRING_ENV) or None
        secrets.KNOWN.add(self._connection_string or "")  # and the account key inside: masked in logs
        # One bounded attempt per tick: a retry is the next tick, so no SDK retries and short timeouts.
        self._op_timeout = self.renew_every
        io_timeout = max(1, int(self.renew_every / 2))
        self._client_options: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": io_timeout,
            "read_timeout": io_timeout,
            **(client_options or {}),
        }
        self._now = clock.monotonic
        self._container: ContainerClient | None = None
        self._blob: BlobClient | None = None
        self._lock = asyncio.Lock()
        self._held = False
        self._valid_from: float | None = None  # when the last successful acquire/renew was sent
        self.errors = 0  # failed attempts, not counting "held by another replica" (dnsctl_lease_errors_total)
        self.last_error = ""  # the current problem; empty once an attempt works or finds the lease taken
        self._failing_since: float | None = None
        self._report_gap = REPORT_AGAIN_FIRST
        self._report_next = 0.0

    @property
    def held(self) -> bool:
        return self._held

    def held_now(self) -> bool:
        return self.write_window() > 0

    def write_window(self) -> float:
        """Seconds a write may still take: it must end `margin` before the service could give the
        lease to another replica (`duration` after the last successful acquire or renew was sent)."""
        if not self._held or self._valid_from is None:
            return 0.0
        return max(0.0, self._valid_from + self.duration - self.margin - self._now())

    def failing_for(self) -> float:
        """Seconds since this replica last could hold (or see another replica hold) the lease."""
        return 0.0 if self._failing_since is None else self._now() - self._failing_since

    def trouble(self) -> str | None:
        """Why this replica is not ready: it has not been able to hold the lease for two durations.

        A standby that finds the lease held by another replica has no trouble; one that cannot reach
        the service or is refused by it could not take over, and with a shared configuration neither
        can the other replica.
        """
        limit = UNREADY_AFTER_DURATIONS * self.duration
        if self._failing_since is None or self.failing_for() < limit:
            return None
        return f"no lease for {self.failing_for():.0f}s (over {limit}s): {self.last_error}"

    async def start(self) -> None:
        await self.renew()

    async def renew(self) -> bool:
        """Renew the lease if held, else try to acquire it; any failure means not held."""
        async with self._lock:
            sent = self._now()
            try:
                async with asyncio.timeout(self._op_timeout):
                    if self._held:
                        await self._call("renew", self._lease().renew())
                    else:
                        await self._acquire()
            except LeaseError as e:
                self._lost(e)
            except TimeoutError:
                self._lost(LeaseError(f"{self.location}: no answer within {self._op_timeout:g} s"))
            else:
                newly = not self._held
                if newly:
                    log.info("acquired the lease on %s as %s", self.location, self.identity)
                self._held = True
                self._valid_from = sent
                self._recovered()
                if newly:
                    await self._name_holder()
            return self._held

    async def _name_holder(self) -> None:
        """Name this replica in the blob's metadata (best effort: the lease is held either way)."""
        try:
            async with asyncio.timeout(self._op_timeout):
                await self._call(
                    "name the holder",
                    self._blob_client().set_blob_metadata({HOLDER_KEY: self.holder}, lease=self.lease_id),
                )
        except (LeaseError, TimeoutError) as e:
            log.debug("could not name the holder on %s: %s", self.location, e)

    async def leader(self) -> str | None:
        """The holder as it named itself on the blob, if the blob is leased; None when unknown."""
        if self._held:
            return self.holder
        try:
            async with self._lock, asyncio.timeout(self._op_timeout):
                props = await self._call("read the holder", self._blob_client().get_blob_properties())
        except (LeaseError, TimeoutError):
            return None
        if str(getattr(props.lease, "state", "")) != "leased":
            return None
        holder = (props.metadata or {}).get(HOLDER_KEY)
        return str(holder) if holder else None

    async def release(self) -> None:
        """Release the lease if it may still be ours, so that a standby takes over at its next renew."""
        async with self._lock:
            maybe_ours = self._valid_from is not None and self._now() - self._valid_from < self.duration
            self._held = False
            self._valid_from = None
            try:
                if maybe_ours:
                    async with asyncio.timeout(self._op_timeout):
                        await self._call("release", self._lease().release())
                    log.info("released the lease on %s", self.location)
            except LeaseError as e:
                if not e.taken:
                    log.warning(
                        "could not release the lease on %s (%s); it expires by itself", self.location, e
                    )
            except TimeoutError:
                log.warning("could not release the lease on %s in time; it expires by itself", self.location)
            finally:
                await self._close()

    async def _acquire(self) -> None:
        try:
            await self._call("acquire", self._lease().acquire(lease_duration=self.duration))
        except LeaseError as e:
            if not isinstance(e.__cause__, ResourceNotFoundError):
                raise
            await self._create_blob()
            await self._call("acquire", self._lease().acquire(lease_duration=self.duration))

    async def _create_blob(self) -> None:
        try:
            await self._call("create container", self._container_client().create_container())
        except LeaseError as e:
            if not isinstance(e.__cause__, ResourceExistsError):
                raise
        try:
            await self._call("create blob", self._blob_client().upload_blob(b"", overwrite=False))
        except LeaseError as e:
            # Created meanwhile by the other replica (409), or already leased by it (412): both fine.
            if not isinstance(e.__cause__, ResourceExistsError) and _status(e) != 412:
                raise
        else:
            log.info("created the lease blob %s", self.location)

    async def _call(self, what: str, operation: Awaitable[T]) -> T:
        """Await one SDK call, translating its exceptions into LeaseError (without secrets)."""
        try:
            return await operation
        except HttpResponseError as e:
            code = _error_code(e)
            raise LeaseError(
                f"{what} on {self.location} failed: HTTP {e.status_code} {code}: {_brief(e)}",
                taken=code in _TAKEN_CODES,
                hint=_hint(e.status_code, code),
            ) from e
        except AzureError as e:
            raise LeaseError(f"{what} on {self.location} failed: {_brief(e)}") from e

    def _lost(self, e: LeaseError) -> None:
        was = self._held
        self._held = False
        if e.taken:
            if was:
                log.warning("the lease on %s was taken by another replica", self.location)
            else:
                log.debug("the lease on %s is held by another replica", self.location)
            self._recovered()
            return
        problem = f"{e}; {e.hint}" if e.hint else str(e)
        now = self._now()
        self.errors += 1
        if self._failing_since is None:
            self._failing_since = now
        # Every failed tick would say the same: say it at once, then again after a growing gap
        # (so that it stays visible in a log window), or as soon as it changes.
        if problem != self.last_error or now >= self._report_next:
            if problem == self.last_error:
                self._report_gap = min(self._report_gap * 2, REPORT_AGAIN_MAX)
            else:
                self._report_gap = REPORT_AGAIN_FIRST
            self._report_next = now + self._report_gap
            log.error(
                "lease not held: %s (failing for %.0fs, %d failed attempt(s); this replica cannot write DNS)",
                problem,
                now - self._failing_since,
                self.errors,
            )
        else:
            log.debug("lease not held: %s", problem)
        self.last_error = problem

    def _recovered(self) -> None:
        if self._failing_since is not None:
            log.warning(
                "the lease on %s answers again after %.0fs of errors", self.location, self.failing_for()
            )
        self._failing_since = None
        self.last_error = ""
        self._report_gap = REPORT_AGAIN_FIRST
        self._report_next = 0.0

    def _lease(self) -> BlobLeaseClient:
        return BlobLeaseClient(self._blob_client(), lease_id=self.lease_id)

    def _blob_client(self) -> BlobClient:
        if self._blob is None:
            self._blob = self._container_client().get_blob_client(self.location.blob)
        return self._blob

    def _container_client(self) -> ContainerClient:
        """One container client per connection; the blob client shares its transport."""
        if self._container is None:
            loc = self.location
            if self._connection_string:
                try:
                    self._container = ContainerClient.from_connection_string(
                        self._connection_string, loc.container, **self._client_options
                    )
                except ValueError:
                    # The SDK's message quotes nothing secret, but say it in our words anyway.
                    raise LeaseError(f"{CONNECTION_STRING_ENV} is not a valid connection string") from None
            else:
                if loc.account_url.startswith("http:"):
                    # The Storage SDK sends a token over https only (it raises at the first call).
                    raise LeaseError(
                        "ha.blob_url: plain http needs an emulator's account key in "
                        f"{CONNECTION_STRING_ENV}, which is not set: azure.credential gives a token, "
                        "which is sent over https only"
                    )
                self._container = ContainerClient(
                    loc.account_url,
                    loc.container,
                    credential=self._token_credential(),
                    **self._client_options,
                )
        return self._container

    def _token_credential(self) -> AsyncTokenCredential:
        if self._credential is None:
            from dnsctl.targets.azure_auth import make_credential

            try:
                self._credential = make_credential(self._azure)
            except DnsctlError as e:
                raise LeaseError(f"no Azure credential for the lease: {e}") from None
            self._own_credential = True
        return self._credential

    async def _close(self) -> None:
        container, self._container, self._blob = self._container, None, None
        if container is not None:
            await container.close()
        if self._own_credential and self._credential is not None:
            credential, self._credential = self._credential, None
            self._own_credential = False
            await credential.close()


def _admin_address(spec: DnsctlSpec) -> str:
    listen = spec.admin.listen
    try:
        unspecified = ipaddress.ip_address(listen.host).is_unspecified
    except ValueError:
        unspecified = False
    host = socket.gethostname() if unspecified else listen.host
    return str(HostPort(host, listen.port))


def _error_code(e: HttpResponseError) -> str:
    # The storage SDK sets a StorageErrorCode, or the raw x-ms-error-code string, or nothing.
    code = getattr(e, "error_code", None)
    return str(code.value) if isinstance(code, Enum) else str(code or "")


def _hint(status: int | None, code: str) -> str:
    if status == 401 or code in _AUTHENTICATION_CODES:
        return CREDENTIAL_HINT
    if status == 403:
        return ROLE_HINT
    return ""


def _brief(e: AzureError) -> str:
    message = getattr(e, "message", None) or str(e)
    first = message.strip().splitlines()[0][:200] if message and message.strip() else type(e).__name__
    return redact(first)


def _status(e: LeaseError) -> int | None:
    cause = e.__cause__
    return cause.status_code if isinstance(cause, HttpResponseError) else None
