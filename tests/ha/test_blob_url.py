"""Where the lease lives: blob URLs of Azure and of emulators, and the lease durations Azure accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsctl.config.values import parse_blob_url
from dnsctl.core.model import BlobLocation
from tests.config.documents import edited, load_ok, problems, write


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
def test_urls_without_a_container_and_a_blob_are_refused(tmp_path: Path, url: str) -> None:
    found = problems(write(tmp_path, edited({"ha.lease": "azure-blob", "ha.blob_url": url})))
    assert len(found) == 1 and found[0].startswith("ha.blob_url: "), found
    assert "is not a blob URL like" in found[0]


def test_a_sas_token_in_the_url_is_refused_without_being_echoed(tmp_path: Path) -> None:
    url = "https://acct.blob.core.windows.net/c/b?sv=2024&sig=SECRETSIGNATURE"
    found = problems(write(tmp_path, edited({"ha.lease": "azure-blob", "ha.blob_url": url})))
    assert found == [
        "ha.blob_url: no query string (a SAS token does not belong in the config): use azure.credential"
    ]
    with pytest.raises(ValueError) as caught:
        parse_blob_url(url)
    assert "SECRETSIGNATURE" not in str(caught.value)


def test_the_lease_gets_the_parsed_location(tmp_path: Path) -> None:
    url = "https://acct.blob.core.windows.net/dnsctl/leader"
    spec = load_ok(write(tmp_path, edited({"ha.lease": "azure-blob", "ha.blob_url": url})))
    assert spec.ha.blob == BlobLocation("https://acct.blob.core.windows.net", "dnsctl", "leader")


@pytest.mark.parametrize(("duration", "seconds"), [("15s", 15), (30, 30), ("1m", 60)])
def test_lease_durations_azure_accepts(tmp_path: Path, duration: object, seconds: int) -> None:
    spec = load_ok(write(tmp_path, edited({"ha.lease_duration": duration})))
    assert spec.ha.lease_duration == seconds
    assert isinstance(spec.ha.lease_duration, int)


@pytest.mark.parametrize("duration", ["14s", "61s", "15.5s", 0])
def test_lease_durations_azure_refuses(tmp_path: Path, duration: object) -> None:
    found = problems(write(tmp_path, edited({"ha.lease_duration": duration})))
    assert found == ["ha.lease_duration: an Azure Blob lease lasts 15 to 60 whole seconds"]
