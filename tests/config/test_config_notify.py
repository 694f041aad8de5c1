"""The `notify:` section: a valid one becomes the spec; each mistake is named at its place, and a webhook
URL (which carries a token) is never quoted back."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsctl.core.model import NOTIFY_EVENTS, NotifyFormat

from .documents import base, load_ok, problems, write

SECRET_URL = "https://hooks.slack.com/services/T0AAAA/B0BBBB/s3cretTokenValue99"


def with_notify(notify: dict[str, object]) -> dict[str, object]:
    doc = base()
    doc["notify"] = notify
    return doc


def test_a_notify_section_becomes_the_spec(tmp_path: Path) -> None:
    spec = load_ok(
        write(
            tmp_path,
            with_notify(
                {
                    "timeout": "2s",
                    "attempts": 3,
                    "webhooks": [
                        {"url": SECRET_URL, "format": "slack", "events": ["failover", "failover", "drift"]},
                        {"url_env": "DNSCTL_TEAMS_WEBHOOK", "format": "teams"},
                    ],
                }
            ),
        )
    )
    first, second = spec.notify.webhooks
    assert (first.url, first.format, first.events) == (SECRET_URL, NotifyFormat.SLACK, ("failover", "drift"))
    assert (second.url, second.url_env, second.events) == (None, "DNSCTL_TEAMS_WEBHOOK", NOTIFY_EVENTS)
    assert (spec.notify.timeout, spec.notify.attempts, spec.notify.queue_size) == (2.0, 3, 100)


@pytest.mark.parametrize(
    ("hook", "where", "says"),
    [
        ({"url": SECRET_URL, "url_env": "X"}, "notify.webhooks[0]", "exactly one of url"),
        ({"format": "json"}, "notify.webhooks[0]", "exactly one of url"),
        ({"url": "ftp://example.net/x"}, "notify.webhooks[0].url", "http:// or https://"),
        ({"url_env": "not a name"}, "notify.webhooks[0].url_env", "not an environment variable name"),
        ({"url": SECRET_URL, "events": ["reboot"]}, "notify.webhooks[0].events[0]", "is not an event"),
        ({"url": SECRET_URL, "events": []}, "notify.webhooks[0].events", "at least one event"),
    ],
)
def test_each_mistake_is_named_at_its_place(
    tmp_path: Path, hook: dict[str, object], where: str, says: str
) -> None:
    found = problems(write(tmp_path, with_notify({"webhooks": [hook]})))
    assert any(where in p and says in p for p in found), found
    assert not any("s3cretTokenValue99" in p for p in found)


def test_a_bad_timeout_is_refused(tmp_path: Path) -> None:
    found = problems(write(tmp_path, with_notify({"timeout": "0s", "webhooks": []})))
    assert any("notify.timeout" in p for p in found), found


def test_validate_says_when_the_url_variable_is_not_set(tmp_path: Path) -> None:
    from dnsctl.config.load import load
    from dnsctl.errors import ConfigError

    path = write(tmp_path, with_notify({"webhooks": [{"url_env": "DNSCTL_HOOK_FOR_TEST"}]}))
    with pytest.raises(ConfigError) as e:
        load(path, {}, validating=True)
    assert any(
        "notify.webhooks[0].url_env" in p and "DNSCTL_HOOK_FOR_TEST is not set" in p for p in e.value.lines
    )
    assert load(path, {"DNSCTL_HOOK_FOR_TEST": SECRET_URL}, validating=True).notify.webhooks[0].url is None
