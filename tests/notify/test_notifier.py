"""The notifier against a real loopback receiver: the documented bodies, retries with backoff up to
the attempt limit, a bounded queue that drops the oldest, event filters, and URLs masked in logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from dnsctl.controller.notify import Notification, Notifier, from_history
from dnsctl.core.history import HistoryEntry
from dnsctl.core.model import NotifyFormat, NotifySpec, WebhookSpec
from dnsctl.process import secrets
from tests.support.clock import ManualClock
from tests.support.webhook_receiver import WebhookReceiver

FAILOVER = HistoryEntry(
    1_700_000_000.0,
    "myregistry",
    None,
    "eastus",
    "westeurope",
    "failover",
    "eastus Degraded after 3 failures (http-status 503); westeurope is next by priority",
    (("eastus", "Degraded: http-status 503"), ("westeurope", "Online")),
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def notifier(
    url: str, fmt: NotifyFormat = NotifyFormat.JSON, **kw: object
) -> tuple[Notifier, CollectorRegistry]:
    registry = CollectorRegistry()
    events = kw.pop("events", None)
    hook = WebhookSpec(url=url, format=fmt, **({"events": events} if events else {}))  # type: ignore[arg-type]
    spec = NotifySpec(webhooks=(hook,), **kw)  # type: ignore[arg-type]
    return Notifier(spec, registry, clock=ManualClock()), registry


def count(registry: CollectorRegistry, name: str, event: str = "failover") -> float:
    return registry.get_sample_value(name, {"event": event}) or 0.0


async def test_a_failover_is_posted_once_with_the_documented_json_body(receiver: WebhookReceiver) -> None:
    n, registry = notifier(receiver.url())
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    await n.close(grace=30)
    assert receiver.bodies() == [
        {
            "version": 1,
            "event": "failover",
            "time": "2023-11-14T22:13:20Z",
            "profile": "myregistry",
            "view": None,
            "from": "eastus",
            "to": "westeurope",
            "reason": FAILOVER.reason,
            "evidence": {"eastus": "Degraded: http-status 503", "westeurope": "Online"},
            "message": f"myregistry: failover eastus -> westeurope: {FAILOVER.reason}",
            "source": receiver.bodies()[0]["source"],
        }
    ]
    assert receiver.bodies()[0]["source"].startswith("dnsctl ")
    assert count(registry, "dnsctl_notifications_sent_total") == 1


@pytest.mark.parametrize("fmt", [NotifyFormat.SLACK, NotifyFormat.TEAMS])
async def test_slack_and_teams_get_a_text_body(receiver: WebhookReceiver, fmt: NotifyFormat) -> None:
    n, _ = notifier(receiver.url(), fmt)
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    await n.close(grace=30)
    (got,) = receiver.bodies()
    if fmt is NotifyFormat.SLACK:
        assert got == {"text": f"dnsctl: {note.message}"}
    else:
        assert got["@type"] == "MessageCard" and got["title"] == "dnsctl failover: myregistry"
        assert note.message in got["text"] and "eastus: Degraded: http-status 503" in got["text"]


async def test_a_failing_webhook_is_tried_attempts_times_then_given_up(receiver: WebhookReceiver) -> None:
    receiver.behaviour = "500"
    n, registry = notifier(receiver.url(), attempts=3, backoff=2.0)
    clock = n.clock
    assert isinstance(clock, ManualClock)
    start = clock.now()
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    await n.close(grace=30)
    assert receiver.attempts == 3
    assert clock.now() - start == 2.0 + 4.0, "backed off exponentially between the attempts"
    assert count(registry, "dnsctl_notifications_failed_total") == 1
    assert count(registry, "dnsctl_notifications_sent_total") == 0


async def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    with WebhookReceiver("hang", hang_seconds=30) as receiver:
        n, registry = notifier(receiver.url(), queue_size=2, timeout=0.2, attempts=1)
        for i in range(5):
            n.submit(Notification("drift", float(i), f"drift {i}"))
        assert [x.message for x in n.hooks[0].queue] == ["drift 3", "drift 4"]
        assert count(registry, "dnsctl_notifications_dropped_total", "drift") == 3
        await n.close(grace=0.1)


async def test_only_the_events_a_webhook_asked_for_are_sent(receiver: WebhookReceiver) -> None:
    n, _ = notifier(receiver.url(), events=("drift",))
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    n.submit(Notification("drift", 1.0, "drift!"))
    await n.close(grace=30)
    assert [b["event"] for b in receiver.bodies()] == ["drift"]


async def test_the_webhook_url_and_its_token_never_reach_a_log_line(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.behaviour = "500"
    token = "T0KEN-in-the-path-4f9a"
    url = receiver.url(f"/services/{token}?sig=query-s1gnature-77")
    n, _ = notifier(url, attempts=2, backoff=0.0)
    caplog.set_level(logging.DEBUG, logger="dnsctl.notify")
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    await n.close(grace=30)
    assert receiver.received[0].path == f"/services/{token}?sig=query-s1gnature-77", "sent to the real URL"
    text = caplog.text
    assert "given up" in text and "http://127.0.0.1" in text
    assert token not in text and "query-s1gnature-77" not in text
    masked = secrets.mask(f"posting to {url} failed")
    assert token not in masked and "query-s1gnature-77" not in masked


async def test_a_retry_waits_for_its_backoff_on_the_notifiers_clock(receiver: WebhookReceiver) -> None:
    receiver.behaviour = "500"
    spec = NotifySpec(webhooks=(WebhookSpec(url=receiver.url()),), attempts=3, backoff=2.0)
    clock = ManualClock(auto_advance=False)  # sleep() returns only when the test moves time
    registry = CollectorRegistry()
    n = Notifier(spec, registry, clock=clock)
    note = from_history(FAILOVER)
    assert note is not None
    n.submit(note)
    await clock.wait_for_sleepers(1)
    assert (receiver.attempts, clock.slept) == (1, [2.0])
    clock.advance(1.9)
    for _ in range(10):
        await asyncio.sleep(0)
    assert (receiver.attempts, clock.sleepers) == (1, 1), "no try before its backoff has passed"
    clock.advance(0.1)
    await clock.wait_for_sleepers(1)
    assert (receiver.attempts, clock.slept) == (2, [2.0, 4.0])
    clock.advance(4.0)
    await n.close(grace=30)
    assert receiver.attempts == 3
    assert count(registry, "dnsctl_notifications_failed_total") == 1
