"""Webhook notifications: failover, failback, all-down, drift, isolation, lease loss.

Nothing here is in the way of a decision or a DNS write: `Notifier.submit` only appends to a
bounded queue per webhook (when full, the oldest waiting notification is dropped and counted) and
returns. One background task per webhook sends, with a per-request timeout and a bounded number
of attempts, backing off exponentially between them. Webhook URLs usually carry a token (in the
path or the query): they are registered as secrets, so no log line ever shows them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter

from dnsctl import __version__
from dnsctl.core.history import HistoryEntry
from dnsctl.core.model import NotifyFormat, NotifySpec, WebhookSpec
from dnsctl.core.state import RoundOutcome
from dnsctl.documents.jsonable import iso
from dnsctl.process import secrets
from dnsctl.process.clock import Clock

log = logging.getLogger("dnsctl.notify")

BODY_VERSION = 1
MAX_BACKOFF = 60.0


@dataclass(frozen=True, slots=True)
class Notification:
    event: str  # one of NOTIFY_EVENTS
    time: float
    message: str  # one line for people
    profile: str | None = None
    view: str | None = None
    old: str | None = None
    new: str | None = None
    reason: str = ""
    evidence: Mapping[str, str] = field(default_factory=dict)

    def doc(self) -> dict[str, Any]:
        """The generic JSON body (`format: json`), documented in the README."""
        return {
            "version": BODY_VERSION,
            "event": self.event,
            "time": iso(self.time),
            "profile": self.profile,
            "view": self.view,
            "from": self.old,
            "to": self.new,
            "reason": self.reason,
            "evidence": dict(self.evidence),
            "message": self.message,
            "source": f"dnsctl {__version__}",
        }


def body(n: Notification, fmt: NotifyFormat) -> dict[str, Any]:
    if fmt is NotifyFormat.SLACK:
        return {"text": f"dnsctl: {n.message}"}
    if fmt is NotifyFormat.TEAMS:
        lines = [n.message, *(f"- {k}: {v}" for k, v in n.evidence.items())]
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": f"dnsctl {n.event}",
            "title": f"dnsctl {n.event}" + (f": {n.profile}" if n.profile else ""),
            "text": "\n\n".join(lines),
        }
    return n.doc()


def from_history(h: HistoryEntry) -> Notification | None:
    """The notification a decision change is worth, if any (failover, failback, all-down)."""
    if h.kind not in ("failover", "failback", "all-down"):
        return None
    where = f"{h.profile} (view {h.view})" if h.view else h.profile
    return Notification(
        event=h.kind,
        time=h.time,
        message=f"{where}: {h.kind} {h.old or '-'} -> {h.new}: {h.reason}",
        profile=h.profile,
        view=h.view,
        old=h.old,
        new=h.new,
        reason=h.reason,
        evidence=dict(h.evidence),
    )


def from_outcome(outcome: RoundOutcome) -> list[Notification]:
    """The notifications of one outcome's decision changes: the history entries the step just made."""
    out: list[Notification] = []
    per_profile = collections.Counter(c.profile for c in outcome.changes)
    for profile, count in per_profile.items():
        st = outcome.states.get(profile)
        if st is None:
            continue
        for h in st.history[-count:]:
            n = from_history(h)
            if n is not None:
                out.append(n)
    return out


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["event"]
        self.sent = Counter(
            "dnsctl_notifications_sent_total", "Webhook notifications delivered", labels, registry=registry
        )
        self.failed = Counter(
            "dnsctl_notifications_failed_total",
            "Webhook notifications given up after every attempt failed",
            labels,
            registry=registry,
        )
        self.dropped = Counter(
            "dnsctl_notifications_dropped_total",
            "Webhook notifications dropped unsent because the queue was full (the oldest go first)",
            labels,
            registry=registry,
        )


def _label(url: str) -> str:
    """The webhook as a log line may name it: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}"


def register_secrets(url: str) -> None:
    """Mask the URL, and its path and query (where a token usually is), in every log line."""
    parts = urlsplit(url)
    found = [url]
    if parts.path not in ("", "/"):
        found.append(parts.path)
    if parts.query:
        found.append(parts.query)
    secrets.KNOWN.add(*found)


class _Hook:
    def __init__(self, spec: WebhookSpec, url: str, size: int) -> None:
        self.spec = spec
        self.url = url
        self.label = _label(url)
        self.queue: collections.deque[Notification] = collections.deque()
        self.size = size
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()  # set while nothing is waiting or being sent
        self.task: asyncio.Task[None] | None = None


class Notifier:
    def __init__(
        self,
        spec: NotifySpec,
        registry: CollectorRegistry,
        *,
        clock: Clock,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.spec = spec
        self.clock = clock
        self.metrics = NotifyMetrics(registry)
        self.hooks: list[_Hook] = []
        for i, w in enumerate(spec.webhooks):
            url = w.url if w.url is not None else env.get(w.url_env or "", "")
            if not url:
                log.error("notify.webhooks[%d]: %s is not set: this webhook is not called", i, w.url_env)
                continue
            register_secrets(url)
            self.hooks.append(_Hook(w, url, spec.queue_size))
        self._client: httpx.AsyncClient | None = None
        self._transport = transport

    def submit(self, n: Notification) -> None:
        """Queue `n` for every webhook that wants its event; never waits."""
        for hook in self.hooks:
            if n.event not in hook.spec.events:
                continue
            if len(hook.queue) >= hook.size:
                old = hook.queue.popleft()
                self.metrics.dropped.labels(old.event).inc()
                log.warning("notify %s: queue full, dropped the oldest (%s)", hook.label, old.event)
            hook.queue.append(n)
            hook.idle.clear()
            hook.wake.set()
            self._ensure_sender(hook)

    def _ensure_sender(self, hook: _Hook) -> None:
        if hook.task is None or hook.task.done():
            hook.task = asyncio.get_running_loop().create_task(self._sender(hook), name="dnsctl-notify")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.spec.timeout),
                transport=self._transport,
                follow_redirects=False,
                headers={"User-Agent": f"dnsctl/{__version__}"},
            )
        return self._client

    async def _sender(self, hook: _Hook) -> None:
        while True:
            if not hook.queue:
                hook.wake.clear()
                hook.idle.set()
                await hook.wake.wait()
                continue
            hook.idle.clear()
            n = hook.queue.popleft()
            await self._deliver(hook, n)

    async def _deliver(self, hook: _Hook, n: Notification) -> None:
        payload = body(n, hook.spec.format)
        delay = self.spec.backoff
        for attempt in range(1, self.spec.attempts + 1):
            problem = await self._post(hook, payload)
            if problem is None:
                self.metrics.sent.labels(n.event).inc()
                log.info("notify %s: %s sent", hook.label, n.event)
                return
            if attempt == self.spec.attempts:
                break
            log.warning(
                "notify %s: %s not delivered (%s); try %d of %d in %.1fs",
                hook.label,
                n.event,
                problem,
                attempt + 1,
                self.spec.attempts,
                delay,
            )
            await self.clock.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
        self.metrics.failed.labels(n.event).inc()
        log.error("notify %s: %s given up after %d attempt(s)", hook.label, n.event, self.spec.attempts)

    async def _post(self, hook: _Hook, payload: dict[str, Any]) -> str | None:
        """None when delivered, else what went wrong (never the URL)."""
        try:
            # The whole exchange is bounded, not only each read: a receiver trickling bytes cannot hold it.
            async with asyncio.timeout(self.spec.timeout):
                r = await self._http().post(hook.url, json=payload)
        except TimeoutError:
            return f"no answer within {self.spec.timeout:g}s"
        except httpx.HTTPError as e:
            return type(e).__name__
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}"

    async def close(self, grace: float = 2.0) -> None:
        """Give waiting notifications a moment to leave, then stop the senders."""
        running = [h for h in self.hooks if h.task is not None and not h.task.done()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                for h in running:
                    await h.idle.wait()
        for h in running:
            assert h.task is not None
            h.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await h.task
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def isolation(time: float, active: bool) -> Notification:
    if active:
        message = "isolation guard: every endpoint of every profile is failing; decisions are frozen"
    else:
        message = "isolation guard released: probes answer again"
    return Notification(
        event="isolation", time=time, message=message, reason=message, new="frozen" if active else "resumed"
    )


def drift(profile: str, record: str, found: str, expected: str, owned: bool, time: float) -> Notification:
    if owned:
        message = f"{profile}: drift: {record} was changed outside dnsctl ({found}, expected {expected})"
    else:
        message = f"{profile}: drift: {record} is no longer managed by dnsctl ({found}); reporting only"
    return Notification(
        event="drift", time=time, message=message, profile=profile, old=expected, new=found, reason=message
    )


def lease_lost(time: float) -> Notification:
    message = "lost the lease: this replica stops writing DNS"
    return Notification(event="lease-lost", time=time, message=message, reason=message)
