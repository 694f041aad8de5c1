"""Fidelity against the reference data in ../shared/azure (present only on the project's build machine).

1. Every recorded live session (`test_*.yaml`, vcrpy) is replayed request by request; status codes and
   bodies must match once etags and subscription ids are normalised.
2. Every `RecordSet*.json` / `PrivateZoneGet.json` spec example is played and its response compared
   field by field with the emulator's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from dnsctl.emulator import AzureEmulator, ZoneId

SHARED = Path(__file__).parents[2].parent / "shared" / "azure"
pytestmark = pytest.mark.skipif(not SHARED.exists(), reason="reference recordings not present")

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ZONE_PATH = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/privateDnsZones/([^/]+)(/.*)?$",
    re.IGNORECASE,
)
RATE = "x-ms-ratelimit-remaining-subscription-resource-requests"


def _files(pattern: str) -> list[Path]:
    return sorted(SHARED.glob(pattern)) if SHARED.exists() else []


def normalise(value: Any) -> Any:
    """Etags become `<etag>` (when GUIDs) and subscription ids `<sub>`: the only values that must differ."""
    if isinstance(value, dict):
        return {
            k: "<etag>" if k == "etag" and isinstance(v, str) and GUID.match(v) else normalise(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"/subscriptions/[^/]+", "/subscriptions/<sub>", value)
    return value


# --- 1. recorded live sessions ---------------------------------------------------------------------------


@pytest.mark.parametrize("recording", _files("test_*.yaml"), ids=lambda p: p.stem)
def test_recorded_session_replays_identically(recording: Path) -> None:
    interactions = yaml.safe_load(recording.read_text())["interactions"]
    compared = 0
    with (
        AzureEmulator() as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer r"}) as client,
    ):
        etags: dict[str, str] = {}  # recorded etag -> the emulator's etag for the same state
        for number, interaction in enumerate(interactions):
            request, recorded = interaction["request"], interaction["response"]
            url = urlsplit(request["uri"])
            match = ZONE_PATH.match(url.path)
            if match is None:
                continue  # resource-group reads and zone-creation polling: not Private DNS record sets
            if match.group(4) is None and request["method"] == "PUT":
                # zones are made by the operator API, not by ARM calls
                emu.add_zone(ZoneId(match.group(1), match.group(2), match.group(3)))
                continue
            headers = {"Content-Type": "application/json"}
            for name, values in request["headers"].items():
                if name.lower() in ("if-match", "if-none-match"):
                    headers[name] = etags.get(values[0], values[0])
            body = request["body"]
            for old, new in etags.items():
                body = body.replace(old, new) if body else body
            answer = client.request(
                request["method"],
                f"{url.path}?{url.query}",
                content=body.encode() if body else None,
                headers=headers,
            )
            where = f"{recording.stem} #{number} {request['method']} {url.path}"
            assert answer.status_code == recorded["status"]["code"], f"{where}: {answer.text}"
            text = recorded["body"]["string"]
            if not text:
                assert answer.content == b"", where
            else:
                expected, actual = json.loads(text), answer.json()
                assert normalise(actual) == normalise(expected), where
                if isinstance(expected, dict) and "etag" in expected:
                    etags[expected["etag"]] = actual["etag"]
            recorded_headers = {k.lower() for k in recorded["headers"]}
            if "etag" in recorded_headers:
                assert GUID.match(answer.headers["etag"]), where
            if RATE in recorded_headers:
                assert int(answer.headers[RATE]) >= 0, where
            compared += 1
    assert compared >= 1


# --- 2. spec examples ------------------------------------------------------------------------------------


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SHARED / name).read_text())
    return loaded


@contextmanager
def example_zone(
    params: dict[str, Any], tags: dict[str, str] | None = None
) -> Iterator[tuple[AzureEmulator, httpx.Client, ZoneId]]:
    zone = ZoneId(params["subscriptionId"], params["resourceGroupName"], params["privateZoneName"])
    with (
        AzureEmulator() as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer x"}) as client,
    ):
        emu.add_zone(zone, tags=tags)
        yield emu, client, zone


def record_url(zone: ZoneId, params: dict[str, Any], *, list_type: str | None = None) -> str:
    suffix = list_type or f"{params['recordType']}/{params['relativeRecordSetName']}"
    return f"{zone.arm_id}/{suffix}?api-version={params['api-version']}"


@pytest.mark.parametrize("name", ["RecordSetAGet.json", "RecordSetCNAMEGet.json"])
def test_spec_example_get(name: str) -> None:
    spec = example(name)
    params, expected = spec["parameters"], spec["responses"]["200"]["body"]
    with example_zone(params) as (emu, client, zone):
        emu.seed_record_set(
            zone, params["recordType"], params["relativeRecordSetName"], expected["properties"]
        )
        answer = client.get(record_url(zone, params))
    assert answer.status_code == 200
    assert normalise(answer.json()) == normalise(expected)


def test_spec_example_soa_get() -> None:
    spec = example("RecordSetSOAGet.json")
    params, expected = spec["parameters"], spec["responses"]["200"]["body"]
    with example_zone(params) as (_, client, zone):
        patched = client.patch(
            record_url(zone, params), json={"properties": {"metadata": {"key1": "value1"}}}
        )
        assert patched.status_code == 200
        answer = client.get(record_url(zone, params))
    assert normalise(answer.json()) == normalise(expected)


@pytest.mark.parametrize("name", ["RecordSetAPut.json", "RecordSetCNAMEPut.json"])
def test_spec_example_put_creates_then_replaces(name: str) -> None:
    spec = example(name)
    params = spec["parameters"]
    with example_zone(params) as (_, client, zone):
        created = client.put(record_url(zone, params), json=params["parameters"])
        replaced = client.put(record_url(zone, params), json=params["parameters"])
    assert created.status_code == 201
    assert normalise(created.json()) == normalise(spec["responses"]["201"]["body"])
    assert replaced.status_code == 200
    assert normalise(replaced.json()) == normalise(spec["responses"]["200"]["body"])


@pytest.mark.parametrize("name", ["RecordSetAPatch.json", "RecordSetCNAMEPatch.json"])
def test_spec_example_patch(name: str) -> None:
    spec = example(name)
    params = spec["parameters"]
    before = example(name.replace("Patch", "Put"))["parameters"]["parameters"]["properties"]
    with example_zone(params) as (emu, client, zone):
        emu.seed_record_set(zone, params["recordType"], params["relativeRecordSetName"], before)
        answer = client.patch(record_url(zone, params), json=params["parameters"])
    assert answer.status_code == 200
    assert normalise(answer.json()) == normalise(spec["responses"]["200"]["body"])


@pytest.mark.parametrize("name", ["RecordSetADelete.json", "RecordSetCNAMEDelete.json"])
def test_spec_example_delete(name: str) -> None:
    spec = example(name)
    params = spec["parameters"]
    with example_zone(params) as (emu, client, zone):
        emu.seed_record_set(zone, params["recordType"], params["relativeRecordSetName"], {"ttl": 3600})
        first, second = client.delete(record_url(zone, params)), client.delete(record_url(zone, params))
    assert [first.status_code, second.status_code] == [200, 204]
    assert sorted(spec["responses"]) == ["200", "204"]
    assert first.content == second.content == b""


@pytest.mark.parametrize(
    ("name", "list_type"),
    [("RecordSetAList.json", "A"), ("RecordSetCNAMEList.json", "CNAME"), ("RecordSetALLList.json", "ALL")],
)
def test_spec_example_lists(name: str, list_type: str) -> None:
    spec = example(name)
    params, expected = spec["parameters"], spec["responses"]["200"]["body"]["value"]
    with example_zone(params) as (emu, client, zone):
        for item in expected:
            emu.seed_record_set(zone, item["type"].rsplit("/", 1)[1], item["name"], item["properties"])
        answer = client.get(record_url(zone, params, list_type=list_type))
    assert answer.status_code == 200
    values = answer.json()["value"]
    if list_type == "ALL":
        # the example omits the apex SOA that every live zone holds and lists
        assert values[0]["name"] == "@" and values[0]["type"].endswith("/SOA")
        values = values[1:]
    assert normalise(values) == normalise(expected)


def test_spec_example_zone_get() -> None:
    spec = example("PrivateZoneGet.json")
    params, expected = spec["parameters"], spec["responses"]["200"]["body"]
    with example_zone(params, tags=expected.get("tags")) as (_, client, zone):
        answer = client.get(f"{zone.arm_id}?api-version={params['api-version']}")
    assert answer.status_code == 200
    # limits differ: the example is synthetic, the emulator reports what the live service does
    limits = {
        "maxNumberOfRecordSets",
        "maxNumberOfVirtualNetworkLinks",
        "maxNumberOfVirtualNetworkLinksWithRegistration",
    }
    assert_same_fields(answer.json(), expected, loose=limits | {"etag"})


def assert_same_fields(actual: Any, expected: Any, *, loose: set[str], where: str = "") -> None:
    """Same keys and types everywhere; same values except under `loose` keys."""
    assert type(actual) is type(expected), where
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key, value in expected.items():
            if key in loose:
                assert type(actual[key]) is type(value), f"{where}.{key}"
            else:
                assert_same_fields(actual[key], value, loose=loose, where=f"{where}.{key}")
    else:
        assert actual == expected, where
