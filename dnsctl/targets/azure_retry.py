"""Waits of the Azure SDK's retries, bounded and taken on dnsctl's clock."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import AsyncRetryPolicy

from dnsctl.process.clock import Clock


def retry_after_seconds(headers: Mapping[str, str] | None, now: float) -> float | None:
    """The wait a response asks for (Retry-After in seconds or as an HTTP date, counted from `now`, the
    wall-clock time), None if it asks none."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.fromtimestamp(now, UTC)).total_seconds())


class BoundedRetryPolicy(AsyncRetryPolicy):  # type: ignore[type-arg]
    """azure-core's retry policy, except that a Retry-After longer than `max_retry_after` is not waited
    for: the response is returned as it is, so the call fails at once and the caller reports it."""

    def __init__(
        self,
        *,
        max_retry_after: float,
        clock: Clock,
        before_wait: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_retry_after = max_retry_after
        self.clock = clock
        self.before_wait = before_wait  # may raise to give up instead of waiting that long

    async def sleep(
        self, settings: dict[str, Any], transport: Any, response: PipelineResponse[Any, Any] | None = None
    ) -> None:
        # azure-core's own sleep (Retry-After if the response asks one, else the backoff), on our clock.
        wait = self.get_retry_after(response) if response is not None else None
        pause = wait if wait else self.get_backoff_time(settings)
        if self.before_wait is not None:
            self.before_wait(pause)
        if pause > 0:
            await self.clock.sleep(pause)

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        wait = retry_after_seconds(response.http_response.headers, self.clock.now())
        if wait is not None and wait > self.max_retry_after:
            return False
        return bool(super().is_retry(settings, response))
