"""The Azure Private DNS target: the only module that talks to the Azure SDK.

Reads list every record set of a zone once per pass (one call per zone, pages followed); writes
are conditional on the etag read (compare-and-swap) or on absence. SDK and identity exceptions are
translated here into dnsctl's outcomes and errors, with what to fix where it is known.

Waits are bounded: a throttled call waits for Retry-After only up to `azure.max_retry_after` (a longer
one fails the call at once), and the calls of one pass end by `azure.deadline` after the pass began.
With a write guard (the lease), every write attempt, including the SDK's own retries, starts only if
it can end within the guard's window and is cut off at its end, and no wait for a retry outlasts it.

Writes are paced to the subscription's budget: every answer's `x-ms-ratelimit-remaining-subscription-
writes` (and `-reads`) is remembered, and once Azure says no more than `WRITE_RESERVE` writes are left,
the pass's remaining writes are not sent but returned with `retry_in` (`budget_wait` seconds): the
caller writes them later from the same read. The caller orders the writes (failovers first).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient
from azure.mgmt.privatedns.models import RecordSet

from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.core.plan import Action, Change, Published, ReadRecord, RecordValue
from dnsctl.core.publication import RecordType
from dnsctl.errors import LeaseLapsedError, TargetError
from dnsctl.process.clock import Clock
from dnsctl.targets.azure_auth import is_loopback_http, make_credential
from dnsctl.targets.azure_records import record_properties, record_type_of, record_value
from dnsctl.targets.azure_retry import BoundedRetryPolicy, retry_after_seconds
from dnsctl.targets.base import NOT_HOLDER, ChangeResult, Outcome, WriteGuard, apply_in_order, may_write

log = logging.getLogger("dnsctl.azure")

ROLE_HINT = (
    "grant the identity the role 'Private DNS Zone Contributor' "
    "(b12aa53e-6015-4669-85d0-8515ebb3ae7f) on the zone"
)
ZoneKey = tuple[str, str, str]  # (subscription, resource group, zone)
REMAINING_HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"  # kind: reads | writes
# Writes left unspent in the subscription's budget (for an operator's action between passes).
WRITE_RESERVE = 5
# Seconds before writes held back for the budget are tried again (and the last count is forgotten).
BUDGET_WAIT = 60.0


class AzureTarget:
    def __init__(
        self,
        spec: DnsctlSpec,
        credential: AsyncTokenCredential | None = None,
        *,
        clock: Clock,
        retry_total: int = 4,
        retry_backoff: float = 0.8,
        budget_wait: float = BUDGET_WAIT,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.budget_wait = budget_wait
        # (subscription, "reads" | "writes") -> (what Azure last said is left, monotonic time it said so)
        self.remaining: dict[tuple[str, str], tuple[int, float]] = {}
        self._credential = credential
        self._clients: dict[str, PrivateDnsManagementClient] = {}
        self._call_kwargs: dict[str, Any] = {}
        if is_loopback_http(spec.azure.base_url):
            # Plain http to a loopback emulator only (config validation refuses anything else).
            self._call_kwargs["enforce_https"] = False
        self._retry: dict[str, Any] = {"retry_total": retry_total, "retry_backoff_factor": retry_backoff}
        self._profiles = {p.name: p for p in spec.profiles}
        self._ends_at: float | None = None  # monotonic time when the current pass must be over
        self._guard: WriteGuard | None = None  # while `apply` runs with one

    def begin_pass(self) -> None:
        # The budget starts with the pass's first call (see _left).
        self._ends_at = None

    def _left(self) -> float:
        now = self.clock.monotonic()
        if self._ends_at is None:
            self._ends_at = now + self.spec.azure.deadline
        return self._ends_at - now

    def _past_deadline(self) -> str:
        return (
            f"the pass ran past azure.deadline ({self.spec.azure.deadline:g}s) and stopped; "
            "Azure is slow or throttling"
        )

    def _throttle_hint(self, e: HttpResponseError) -> str:
        wait = retry_after_seconds(getattr(e.response, "headers", None), self.clock.now())
        if e.status_code == 429 and wait is not None and wait > self.spec.azure.max_retry_after:
            return (
                f"Azure asked to wait {wait:g}s (Retry-After), longer than azure.max_retry_after "
                f"({self.spec.azure.max_retry_after:g}s): the call failed instead of waiting"
            )
        return _status_hint(e.status_code)

    def _client(self, subscription: str) -> PrivateDnsManagementClient:
        client = self._clients.get(subscription)
        if client is None:
            if self._credential is None:
                self._credential = make_credential(self.spec.azure)
            client = PrivateDnsManagementClient(
                self._credential,
                subscription,
                base_url=self.spec.azure.base_url,
                retry_policy=BoundedRetryPolicy(
                    max_retry_after=self.spec.azure.max_retry_after,
                    clock=self.clock,
                    before_wait=self._before_wait,
                    **self._retry,
                ),
                raw_request_hook=self._before_send,  # every attempt, the SDK's retries included
                raw_response_hook=lambda response, sub=subscription: self._saw(sub, response),
            )
            self._clients[subscription] = client
        return client

    async def read(self, profiles: Sequence[ProfileSpec]) -> Mapping[str, Published]:
        zones: dict[ZoneKey, list[ProfileSpec]] = {}
        for p in profiles:
            az = p.azure
            if az is not None:
                zones.setdefault((az.subscription_id, az.resource_group, az.zone), []).append(p)
        out: dict[str, Published] = {}
        for (sub, rg, zone), members in zones.items():
            by_name = await self._list_zone(sub, rg, zone)
            for p in members:
                assert p.azure is not None
                found = by_name.get(p.azure.record.lower(), {})
                records = {
                    t: ReadRecord(v, rs.etag, dict(rs.properties.metadata or {}) if rs.properties else {})
                    for t, rs in found.items()
                    if (v := record_value(rs, t)) is not None
                }
                out[p.name] = Published(f"{zone}/{p.azure.record}", records)
        return out

    async def read_zone(self, sub: str, rg: str, zone: str) -> dict[str, dict[RecordType, RecordValue]]:
        """Every A and CNAME record set of a zone by lower-case relative name: one list, nothing written
        (`dnsctl audit`)."""
        sets = await self._list_zone(sub, rg, zone)
        return {
            n: {t: v for t, rs in by.items() if (v := record_value(rs, t)) is not None}
            for n, by in sets.items()
        }

    async def _list_zone(self, sub: str, rg: str, zone: str) -> dict[str, dict[RecordType, RecordSet]]:
        by_name: dict[str, dict[RecordType, RecordSet]] = {}
        try:
            async with asyncio.timeout(max(self._left(), 0.0)):
                pages = self._client(sub).record_sets.list(rg, zone, **self._call_kwargs)
                async for rs in pages:
                    rtype = record_type_of(rs)
                    if rtype is not None and rs.name is not None:
                        by_name.setdefault(rs.name.lower(), {})[rtype] = rs
        except TimeoutError:
            raise TargetError(f"reading zone {zone} did not finish: {self._past_deadline()}") from None
        except ResourceNotFoundError as e:
            raise TargetError(
                f"zone {zone} was not found in resource group {rg} of subscription {sub}",
                hint="check the profile's azure.subscription_id, resource_group and zone",
                status=e.status_code,
            ) from None
        except ClientAuthenticationError as e:
            raise TargetError(
                f"not allowed to read zone {zone}: {_brief(e)}", hint=ROLE_HINT, status=e.status_code
            ) from None
        except HttpResponseError as e:
            if e.status_code == 403:
                # A missing role assignment: ARM's AuthorizationFailed, which the SDK does not map.
                raise TargetError(
                    f"not allowed to read zone {zone}: HTTP 403: {_brief(e)}",
                    hint=ROLE_HINT,
                    status=e.status_code,
                ) from None
            raise TargetError(
                f"reading zone {zone} failed: HTTP {e.status_code}: {_brief(e)}",
                hint=self._throttle_hint(e),
                status=e.status_code,
            ) from None
        except AzureError as e:
            raise TargetError(f"reading zone {zone} failed: {_brief(e)}", hint=_credential_hint(e)) from None
        return by_name

    async def apply(self, changes: Sequence[Change], guard: WriteGuard | None = None) -> list[ChangeResult]:
        self._guard = guard
        try:
            return await apply_in_order(changes, self._apply_one)
        finally:
            self._guard = None

    def _before_send(self, request: PipelineRequest[Any]) -> None:
        if request.http_request.method in ("PUT", "PATCH", "DELETE") and not may_write(self._guard):
            raise LeaseLapsedError(NOT_HOLDER)

    def _saw(self, subscription: str, response: PipelineResponse[Any, Any]) -> None:
        """Remember what the answer says is left of the subscription's read and write budgets."""
        headers = response.http_response.headers
        for kind in ("reads", "writes"):
            value = headers.get(REMAINING_HEADER.format(kind=kind))
            if value is not None and value.strip().isdigit():
                self.remaining[(subscription, kind)] = (int(value), self.clock.monotonic())

    def writes_left(self, subscription: str) -> int | None:
        """What Azure last said is left of the subscription's write budget (None: unknown, or too old)."""
        seen = self.remaining.get((subscription, "writes"))
        if seen is None or self.clock.monotonic() - seen[1] >= self.budget_wait:
            return None
        return seen[0]

    def _before_wait(self, seconds: float) -> None:
        if not may_write(self._guard, seconds):
            raise LeaseLapsedError(f"{NOT_HOLDER} for the {seconds:g}s Azure asked to wait before a retry")

    async def _apply_one(self, c: Change) -> ChangeResult:
        """One change within the pass's deadline; the create half of a type switch is tried again
        until it lands or the deadline comes, because until then the name has no record at all."""
        tries = 0
        while True:
            left = self._left()
            if left <= 0:
                return ChangeResult(
                    c, Outcome.FAILED, error=f"not attempted: {self._past_deadline()}", retry_in=0.0
                )
            az = self._profiles[c.profile].azure
            budget = self.writes_left(az.subscription_id) if az is not None else None
            if budget is not None and budget <= WRITE_RESERVE:
                return ChangeResult(
                    c,
                    Outcome.FAILED,
                    error=(
                        f"deferred: Azure says {budget} write(s) are left in the subscription's budget "
                        f"(x-ms-ratelimit-remaining-subscription-writes), so it was not sent"
                    ),
                    hint=f"written from the same read in {self.budget_wait:g}s",
                    retry_in=self.budget_wait,
                )
            if not may_write(self._guard):
                return ChangeResult(c, Outcome.FAILED, error=NOT_HOLDER)
            window = self._guard.write_window() if self._guard is not None else left
            try:
                async with asyncio.timeout(min(left, window)):
                    result, transient = await self._attempt(c)
            except TimeoutError:
                if window < left:
                    return ChangeResult(c, Outcome.FAILED, error=f"stopped: {NOT_HOLDER} by the write's end")
                return ChangeResult(c, Outcome.FAILED, error=f"stopped: {self._past_deadline()}")
            except LeaseLapsedError as e:
                return ChangeResult(c, Outcome.FAILED, error=str(e))
            tries += 1
            if not (transient and c.type_switch and c.action is Action.CREATE):
                return result
            pause = min(2.0 ** (tries - 1), 10.0)
            if self._left() <= pause or not may_write(self._guard, pause):
                return ChangeResult(
                    c,
                    Outcome.FAILED,
                    error=f"{result.error} (tried {tries} times within azure.deadline)",
                    hint=f"{c.name} has no record until a later pass creates it",
                )
            log.warning(
                "%s: the create half of the type switch failed (%s); the name has no record: trying again "
                "in %.0fs",
                c.name,
                result.error,
                pause,
            )
            await self.clock.sleep(pause)

    async def _attempt(self, c: Change) -> tuple[ChangeResult, bool]:
        """The change's SDK call, and whether a failure is worth trying again (throttling, 5xx, network)."""
        profile = self._profiles[c.profile]
        az = profile.azure
        assert az is not None
        ops = self._client(az.subscription_id).record_sets
        try:
            if c.action is Action.DELETE:
                assert c.before is not None
                await ops.delete(
                    az.resource_group,
                    az.zone,
                    c.before.type.value,
                    az.record,
                    etag=c.etag,
                    match_condition=MatchConditions.IfNotModified,
                    **self._call_kwargs,
                )
                return ChangeResult(c, Outcome.APPLIED), False
            assert c.after is not None
            body = RecordSet(properties=record_properties(c.after, c.metadata))
            if c.action is Action.CREATE:
                rs = await ops.create_or_update(
                    az.resource_group,
                    az.zone,
                    c.after.type.value,
                    az.record,
                    body,
                    etag=None,
                    match_condition=MatchConditions.IfMissing,
                    **self._call_kwargs,
                )
            else:
                rs = await ops.create_or_update(
                    az.resource_group,
                    az.zone,
                    c.after.type.value,
                    az.record,
                    body,
                    etag=c.etag,
                    match_condition=MatchConditions.IfNotModified,
                    **self._call_kwargs,
                )
            return ChangeResult(c, Outcome.APPLIED, etag=rs.etag), False
        except (ResourceModifiedError, ResourceNotFoundError) as e:
            error = f"the record changed since it was read ({_brief(e)})"
            return ChangeResult(c, Outcome.CONFLICT, error=error), False
        except ResourceExistsError as e:
            if e.status_code == 412:
                error = "the record was created by someone else meanwhile"
                return ChangeResult(c, Outcome.CONFLICT, error=error), False
            hint = "another record type holds the name (a CNAME cannot share it)"
            return ChangeResult(
                c, Outcome.FAILED, error=f"HTTP {e.status_code}: {_brief(e)}", hint=hint
            ), False
        except ClientAuthenticationError as e:
            error = f"HTTP {e.status_code}: {_brief(e)}"
            return ChangeResult(c, Outcome.FAILED, error=error, hint=ROLE_HINT), False
        except HttpResponseError as e:
            if e.status_code == 412:
                return ChangeResult(c, Outcome.CONFLICT, error=_brief(e)), False
            transient = e.status_code is not None and (e.status_code in (408, 429) or e.status_code >= 500)
            error = f"HTTP {e.status_code}: {_brief(e)}"
            wait = (
                retry_after_seconds(getattr(e.response, "headers", None), self.clock.now())
                if e.status_code == 429
                else None
            )
            return ChangeResult(
                c, Outcome.FAILED, error=error, hint=self._throttle_hint(e), retry_in=wait
            ), transient
        except (ServiceRequestError, ServiceResponseError) as e:
            return ChangeResult(c, Outcome.FAILED, error=f"cannot reach Azure: {_brief(e)}"), True
        except AzureError as e:
            return ChangeResult(c, Outcome.FAILED, error=_brief(e), hint=_credential_hint(e)), False

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._credential is not None:
            await self._credential.close()


def _brief(e: AzureError) -> str:
    message = getattr(e, "message", None) or str(e)
    return message.strip().splitlines()[0][:300] if message else type(e).__name__


def _status_hint(status: int | None) -> str:
    if status == 403:
        return ROLE_HINT  # Azure's answer to a missing role assignment (AuthorizationFailed)
    if status == 429:
        return "Azure throttled the writes after retries; lower the reconcile frequency"
    if status is not None and status >= 500:
        return "Azure failed after retries; the record was left as it was"
    return ""


def _credential_hint(e: AzureError) -> str:
    if "credential" in type(e).__name__.lower() or "Credential" in str(e):
        return "check azure.credential and the identity's environment (AZURE_CLIENT_ID, AZURE_TENANT_ID, ...)"
    return ""
