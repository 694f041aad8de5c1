"""What the running program would refuse, `validate` refuses first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dnsctl.config.load import load
from dnsctl.config.rules import MAX_TXT_BYTES
from dnsctl.errors import ConfigError
from tests.support.waits import run_process

from .documents import edited, load_ok, problems, write

P = "profiles[0]"
ZONE = "resolver.zones[0]"
TOKEN_ENV = "DNSCTL_ADMIN_TOKEN"


@pytest.mark.parametrize("listen", ["0.0.0.0:9153", "10.0.0.4:9153", "[::]:9153"])
def test_admin_off_loopback_needs_the_token(tmp_path: Path, listen: str) -> None:
    path = write(tmp_path, edited({"admin.listen": listen}))
    (problem,) = problems(path)
    assert problem.startswith(f"admin.listen: {listen} is not loopback: set {TOKEN_ENV} so the admin API")
    load(path, {TOKEN_ENV: "a-token"})  # with the token it is fine


def test_commands_without_an_admin_api_do_not_need_the_token(tmp_path: Path) -> None:
    path = write(tmp_path, edited({"admin.listen": "0.0.0.0:9153"}))
    load(path, {}, serving=False)  # plan, reconcile, check
    with pytest.raises(ConfigError):
        load(path, {})  # validate, serve, run


@pytest.mark.parametrize("listen", ["127.0.0.1:9153", "[::1]:9153", "localhost:9153", "127.0.0.9:0"])
def test_admin_on_loopback_needs_no_token(tmp_path: Path, listen: str) -> None:
    load(write(tmp_path, edited({"admin.listen": listen})), {})


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [
        ("http://127.0.0.1:8080", True),
        ("https://localhost:8443/", True),
        ("http://[::1]:8080", True),
        ("https://management.azure.com", False),
        ("https://10.0.0.5", False),
    ],
)
def test_the_static_credential_is_for_a_loopback_emulator_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str, ok: bool
) -> None:
    monkeypatch.setenv("DNSCTL_AZURE_TOKEN", "emulator-token")
    found = problems(write(tmp_path, edited({"azure.credential": "static", "azure.base_url": base_url})))
    assert found == (
        []
        if ok
        else [
            "azure.credential: 'static' (a fixed token from DNSCTL_AZURE_TOKEN) is for a local emulator "
            "only: azure.base_url must be a loopback address"
        ]
    )


@pytest.mark.parametrize(
    "fallback", ["myregistry.azurecr.io", "MyRegistry.AzureCR.io.", " myregistry.azurecr.io"]
)
def test_a_fallback_to_the_profile_s_own_name_is_refused(tmp_path: Path, fallback: str) -> None:
    found = problems(write(tmp_path, edited({f"{P}.when_all_down": "fallback", f"{P}.fallback": fallback})))
    assert [line.split(":")[0] for line in found] == [f"{P}.fallback"]
    assert "is this profile's own fqdn: a CNAME to itself" in found[0]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("00000000-0000-0000-0000-000000000000", True),
        ("6F9619FF-8B86-D011-B42D-00C04FC964FF", True),
        ("not-a-guid", False),
        ("00000000000000000000000000000000", False),
        ("{00000000-0000-0000-0000-000000000000}", False),
    ],
)
def test_subscription_id_is_a_guid(tmp_path: Path, value: str, ok: bool) -> None:
    found = problems(write(tmp_path, edited({f"{P}.azure.subscription_id": value})))
    assert found == (
        []
        if ok
        else [
            f"{P}.azure.subscription_id: {value!r} is not a subscription id "
            "(a GUID like 00000000-0000-0000-0000-000000000000)"
        ]
    )


def _record(tmp_path: Path, record: dict[str, Any]) -> list[str]:
    return problems(write(tmp_path, edited({f"{ZONE}.records[1]": {"ttl": 60, **record}})))


def test_the_longest_txt_value_that_fits_in_a_dns_message_is_accepted(tmp_path: Path) -> None:
    spec = load_ok(
        write(
            tmp_path,
            edited({f"{ZONE}.records[1]": {"name": "t", "type": "TXT", "value": "x" * MAX_TXT_BYTES}}),
        )
    )
    value = spec.resolver.zones[0].records[1].value
    assert isinstance(value, str) and len(value) == MAX_TXT_BYTES


@pytest.mark.parametrize("size", [MAX_TXT_BYTES + 1, 65_535, 65_536, 200_000])
def test_a_txt_value_too_long_for_a_dns_message_is_refused(tmp_path: Path, size: int) -> None:
    assert _record(tmp_path, {"name": "t", "type": "TXT", "value": "x" * size}) == [
        f"{ZONE}.records[1].value: a TXT value of {size} bytes does not fit in a DNS message "
        f"(at most {MAX_TXT_BYTES}, sent as strings of 255)"
    ]


def test_txt_size_counts_bytes_not_characters(tmp_path: Path) -> None:
    value = "é" * (MAX_TXT_BYTES // 2 + 1)  # two bytes each in UTF-8
    (problem,) = _record(tmp_path, {"name": "t", "type": "TXT", "value": value})
    assert f"a TXT value of {len(value.encode())} bytes" in problem


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"name": "m", "type": "MX", "value": "65536 mail.lab.internal."},
            "numbers in a MX record are at most 65535",
        ),
        (
            {"name": "s", "type": "SRV", "value": "1 1 70000 h.lab.internal."},
            "numbers in a SRV record are at most 65535",
        ),
        (
            {"name": "elsewhere.example.", "type": "A", "value": "10.0.0.1"},
            "is outside the zone 'lab.internal'",
        ),
        (
            {
                "name": "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60,
                "type": "A",
                "value": "10.0.0.1",
            },
            "is longer than 253 characters with the zone's name",
        ),
    ],
)
def test_records_the_lab_zone_would_refuse(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    (problem,) = _record(tmp_path, record)
    assert message in problem


@pytest.mark.parametrize("name", ["www.lab.internal.", "lab.internal.", "sub.www"])
def test_absolute_names_inside_the_zone_are_fine(tmp_path: Path, name: str) -> None:
    assert _record(tmp_path, {"name": name, "type": "A", "value": "10.0.0.1"}) == []


def test_validate_checks_that_the_static_credential_has_its_token(tmp_path: Path) -> None:
    doc = edited({"azure.credential": "static", "azure.base_url": "http://127.0.0.1:8080"})
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        load(path, {}, validating=True)
    assert info.value.lines == [
        f"{path}:{_line(path, 'credential:')}: azure.credential: "
        "'static' reads its token from DNSCTL_AZURE_TOKEN, which is not set"
    ]
    load(path, {"DNSCTL_AZURE_TOKEN": "t"}, validating=True)
    load(path, {})  # a command that uses Azure refuses later, when it builds the credential
    del doc["profiles"][0]["azure"]  # nothing uses Azure: no token needed
    load(write(tmp_path, doc), {}, validating=True)


def _line(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_two_cnames_at_one_owner_are_refused(tmp_path: Path) -> None:
    doc = edited(
        {
            f"{ZONE}.records[1]": {"name": "www", "type": "CNAME", "value": "a.lab.internal."},
            f"{ZONE}.records[2]": {"name": "www.lab.internal.", "type": "CNAME", "value": "b.lab.internal."},
        }
    )
    assert problems(write(tmp_path, doc)) == [
        f"{ZONE}.records: a CNAME at 'www.lab.internal' cannot sit beside other records, another CNAME "
        "or at the apex"
    ]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://acct.blob.core.windows.net/leases/dnsctl", True),
        ("http://127.0.0.1:10000/devstoreaccount1/leases/dnsctl", True),
        ("http://127.0.0.1:10000/leases/dnsctl", False),  # an emulator names the account in the path
        ("https://acct.blob.core.windows.net/leases/dnsctl#x", False),
    ],
)
def test_blob_urls_as_the_lease_reads_them(tmp_path: Path, url: str, ok: bool) -> None:
    found = problems(write(tmp_path, edited({"ha.lease": "azure-blob", "ha.blob_url": url})))
    assert (found == []) is ok, found


def test_the_static_credential_without_azure_records_is_not_refused(tmp_path: Path) -> None:
    # Used only for a registry probe's token exchange, say: no Azure management endpoint is called.
    doc = edited({"azure.credential": "static"})
    del doc["profiles"][0]["azure"]
    load(write(tmp_path, doc), {})


def _validate(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    return run_process(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("credential", ["static", "default", "managed"])
def test_a_lease_over_plain_http_with_a_token_credential_is_refused_by_validate(
    tmp_path: Path, credential: str
) -> None:
    # The Storage SDK sends a token over https only: `run` would fail at its first lease call.
    doc = edited(
        {
            "azure.credential": credential,
            "azure.base_url": "http://127.0.0.1:8443",
            "ha.lease": "azure-blob",
            "ha.blob_url": "http://127.0.0.1:10000/devstoreaccount1/leases/dnsctl",
        }
    )
    path = write(tmp_path, doc)
    done = _validate(path, DNSCTL_AZURE_TOKEN="a-token-for-the-emulator")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (
        f"ha.blob_url: plain http needs an emulator's account key in DNSCTL_HA_CONNECTION_STRING, "
        f"which is not set: azure.credential ({credential}) gives a token, which is sent over https only"
    ) in done.stderr
    # With the emulator's account key the lease does not use the token: fine.
    key = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5"
    ok = _validate(path, DNSCTL_AZURE_TOKEN="a-token-for-the-emulator", DNSCTL_HA_CONNECTION_STRING=key)
    assert ok.returncode == 0, ok.stderr
    # And https needs no account key.
    https = write(
        tmp_path, {**doc, "ha": {**doc["ha"], "blob_url": "https://acct.blob.core.windows.net/leases/dnsctl"}}
    )
    assert _validate(https, DNSCTL_AZURE_TOKEN="t").returncode == 0


def test_registry_token_hosts_are_host_names_or_addresses(tmp_path: Path) -> None:
    registry = {"repository": "app", "token_hosts": ["Tokens.Example.", "::1", "https://evil.example/x"]}
    doc = edited({"profiles[0].monitor.protocol": "registry", "profiles[0].monitor.registry": registry})
    assert problems(write(tmp_path, doc)) == [
        "profiles[0].monitor.registry.token_hosts[2]: 'https://evil.example/x': a host name only "
        "(no scheme, port or path)"
    ]
    registry["token_hosts"] = ["Tokens.Example.", "::1"]
    spec = load_ok(write(tmp_path, doc))
    reg = spec.profiles[0].monitor.registry
    assert reg is not None and reg.token_hosts == ("tokens.example", "::1")
    # Not given: the registry's own host only.
    del registry["token_hosts"]
    reg = load_ok(write(tmp_path, doc)).profiles[0].monitor.registry
    assert reg is not None and reg.token_hosts == ()
