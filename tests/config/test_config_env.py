"""`DNSCTL_*` environment variables override the file ("__" separates levels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsctl.core.model import AzureCredentialKind, HostPort

from .documents import edited, load_ok, problems, write

SECRET = "s3cr3t-token-value"


def test_admin_listen_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, edited({"admin.listen": "127.0.0.1:9153"}))
    assert load_ok(path).admin.listen == HostPort("127.0.0.1", 9153)
    monkeypatch.setenv("DNSCTL_ADMIN__LISTEN", "127.0.0.2:9999")
    assert load_ok(path).admin.listen == HostPort("127.0.0.2", 9999)


def test_azure_credential_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, edited({"azure.credential": "default"}))
    monkeypatch.setenv("DNSCTL_AZURE__CREDENTIAL", "workload")
    spec = load_ok(path)
    assert spec.azure.credential is AzureCredentialKind.WORKLOAD
    assert spec.azure.base_url == "https://management.azure.com"  # the rest of the section stays


def test_an_override_keeps_the_sibling_keys_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, edited({"resolver.cache.max_entries": 500, "resolver.cache.serve_stale": "5m"}))
    monkeypatch.setenv("DNSCTL_RESOLVER__CACHE__SERVE_STALE", "2m")
    cache = load_ok(path).resolver.cache
    assert (cache.max_entries, cache.serve_stale) == (500, 120.0)


def test_list_and_number_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNSCTL_RESOLVER__LISTEN", '["127.0.0.9:53", "[::1]:5300"]')
    monkeypatch.setenv("DNSCTL_SAFETY__MAX_CHANGES_PER_RUN", "9")
    monkeypatch.setenv("DNSCTL_RESYNC_INTERVAL", "10m")
    spec = load_ok(write(tmp_path, edited({})))
    assert spec.resolver.listen == (HostPort("127.0.0.9", 53), HostPort("::1", 5300))
    assert spec.safety.max_changes_per_run == 9
    assert spec.resync_interval == 600.0


def test_a_bad_override_is_a_located_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, edited({}))
    monkeypatch.setenv("DNSCTL_ADMIN__LISTEN", "no-port")
    assert problems(path) == ["admin.listen: 'no-port' needs a port, like '127.0.0.1:5353' or '[::1]:5353'"]
    monkeypatch.setenv("DNSCTL_AZURE__CREDENTIAL", "password")
    assert any(line.startswith("azure.credential: Input should be 'default'") for line in problems(path))


def test_variables_that_are_no_settings_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The config path and the emulator token live in DNSCTL_* too; neither is a field of the file.
    monkeypatch.setenv("DNSCTL_CONFIG", str(tmp_path / "elsewhere.yaml"))
    monkeypatch.setenv("DNSCTL_AZURE_TOKEN", SECRET)
    spec = load_ok(write(tmp_path, edited({})))
    assert SECRET not in repr(spec)


def test_no_token_reaches_an_error_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNSCTL_AZURE_TOKEN", SECRET)
    monkeypatch.setenv("DNSCTL_AZURE__TOKEN", SECRET)  # a misspelt variable: unknown key, value not echoed
    found = problems(write(tmp_path, edited({"admin.listen": "bad"})))
    assert any(line.startswith("azure.token: unknown key") for line in found), found
    assert not any(SECRET in line for line in found)


def test_a_json_section_merges_into_the_file_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, edited({"resolver.cache.max_entries": 500, "resolver.cache.serve_stale": "5m"}))
    monkeypatch.setenv("DNSCTL_RESOLVER__CACHE", '{"max_entries": 7}')
    monkeypatch.setenv("DNSCTL_RESOLVER", '{"upstream_timeout": "3s"}')
    resolver = load_ok(path).resolver
    assert (resolver.cache.max_entries, resolver.cache.serve_stale, resolver.upstream_timeout) == (
        7,
        300.0,
        3.0,
    )
    assert resolver.listen == (HostPort("127.0.0.1", 5353),)  # the file's, untouched


def test_a_list_from_the_environment_replaces_the_file_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, edited({"resolver.upstreams": ["10.0.0.1", "10.0.0.2"]}))
    monkeypatch.setenv("DNSCTL_RESOLVER__UPSTREAMS", '["10.0.0.9"]')
    assert load_ok(path).resolver.upstreams == (HostPort("10.0.0.9", 53),)
