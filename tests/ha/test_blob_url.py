"""Where the lease lives: blob URLs of Azure and of emulators, and the lease durations Azure accepts."""

from __future__ import annotations

import pytest

from dnsctl.controller.blob_lease import BlobLocation, lease_seconds, parse_blob_url
from dnsctl.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://acct.blob.core.windows.net/dnsctl/leader",
            BlobLocation("https://acct.blob.core.windows.net", "dnsctl", "leader"),
        ),
        (
            "https://acct.blob.core.windows.net/dnsctl/prod/eastus/leader",
            BlobLocation("https://acct.blob.core.windows.net", "dnsctl", "prod/eastus/leader"),
        ),
        (
            "https://acct.privatelink.blob.core.windows.net/dnsctl/leader%20one",
            BlobLocation("https://acct.privatelink.blob.core.windows.net", "dnsctl", "leader one"),
        ),
        (
            "http://127.0.0.1:10000/devstoreaccount1/dnsctl/leader",
            BlobLocation("http://127.0.0.1:10000/devstoreaccount1", "dnsctl", "leader"),
        ),
        (
            "http://localhost:10000/devstoreaccount1/dnsctl/a/b",
            BlobLocation("http://localhost:10000/devstoreaccount1", "dnsctl", "a/b"),
        ),
        (
            "https://[::1]:10000/devstoreaccount1/c/b",
            BlobLocation("https://[::1]:10000/devstoreaccount1", "c", "b"),
        ),
    ],
)
def test_blob_urls_split_into_account_container_and_blob(url: str, expected: BlobLocation) -> None:
    assert parse_blob_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://acct.blob.core.windows.net/c/b",
        "https://acct.blob.core.windows.net/only-container",
        "https://acct.blob.core.windows.net/",
        "http://127.0.0.1:10000/devstoreaccount1/only-container",
        "https:///c/b",
    ],
)
def test_urls_without_a_container_and_a_blob_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"ha\.blob_url"):
        parse_blob_url(url)


def test_a_sas_token_in_the_url_is_refused_without_being_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_blob_url("https://acct.blob.core.windows.net/c/b?sv=2024&sig=SECRETSIGNATURE")
    assert "SECRETSIGNATURE" not in str(caught.value)


@pytest.mark.parametrize(("duration", "seconds"), [(15.0, 15), (30.0, 30), (60.0, 60)])
def test_lease_durations_azure_accepts(duration: float, seconds: int) -> None:
    assert lease_seconds(duration) == seconds


@pytest.mark.parametrize("duration", [14.0, 61.0, 15.5, 0.0, -1.0])
def test_lease_durations_azure_refuses(duration: float) -> None:
    with pytest.raises(ConfigError, match="15 to 60 whole seconds"):
        lease_seconds(duration)
