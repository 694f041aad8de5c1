"""The ARM surface over raw HTTP: paths, shapes, conditions, errors, paging, limits and the request budget."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
import pytest

from dnsctl.emulator import AzureEmulator, ZoneId
from tests.emulator.helpers import API, RESOURCE_GROUP, SUBSCRIPTION, ZONE, ZONE_ID
from tests.support.clock import ManualClock

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RATE = "x-ms-ratelimit-remaining-subscription-resource-requests"
BASE = ZONE_ID.arm_id


def cname_body(target: str, ttl: int = 30, **extra: Any) -> dict[str, Any]:
    return {"properties": {"ttl": ttl, "cnameRecord": {"cname": target}, **extra}}


def a_body(*addresses: str, ttl: int = 30) -> dict[str, Any]:
    return {"properties": {"ttl": ttl, "aRecords": [{"ipv4Address": a} for a in addresses]}}


def put(arm: httpx.Client, path: str, body: Any, **headers: str) -> httpx.Response:
    return arm.put(f"{BASE}/{path}?{API}", json=body, headers=headers)


# --- paths and shapes ------------------------------------------------------------------------------------


def test_path_segments_are_case_insensitive_and_names_come_back_lower_case(arm: httpx.Client) -> None:
    mixed = (
        f"/SUBSCRIPTIONS/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP.upper()}/Providers/microsoft.network"
        f"/PRIVATEDNSZONES/{ZONE.upper()}/cname/MyRegistry.EastUS.Geo"
    )
    created = arm.put(f"{mixed}?{API}", json=cname_body("target.example"))
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "myregistry.eastus.geo"
    assert body["type"] == "Microsoft.Network/privateDnsZones/CNAME"
    assert body["id"] == f"{BASE}/CNAME/myregistry.eastus.geo"
    assert body["properties"]["fqdn"] == f"myregistry.eastus.geo.{ZONE}."
    assert body["properties"]["isAutoRegistered"] is False
    assert "metadata" not in body["properties"]
    got = arm.get(f"{BASE}/CNAME/myregistry.eastus.geo?{API}")
    assert got.status_code == 200 and got.json() == body


def test_every_write_returns_a_new_guid_etag_in_body_and_unquoted_header(arm: httpx.Client) -> None:
    etags = []
    for status, target in ((201, "a.example"), (200, "b.example"), (200, "c.example")):
        response = put(arm, "CNAME/www", cname_body(target))
        assert response.status_code == status
        assert GUID.match(response.headers["etag"])
        assert response.json()["etag"] == response.headers["etag"]
        etags.append(response.headers["etag"])
    patched = arm.patch(f"{BASE}/CNAME/www?{API}", json={"properties": {"ttl": 60}})
    etags.append(patched.headers["etag"])
    assert len(set(etags)) == 4
    assert arm.get(f"{BASE}/CNAME/www?{API}").headers["etag"] == etags[-1]


def test_list_typed_set_created_without_records_shows_an_empty_array(arm: httpx.Client) -> None:
    a_set = put(arm, "A/empty", {"properties": {"ttl": 3600}}).json()
    assert a_set["properties"]["aRecords"] == []
    cname = put(arm, "CNAME/emptycname", {"properties": {"ttl": 3600}}).json()
    assert "cnameRecord" not in cname["properties"]


def test_property_names_are_read_case_insensitively(arm: httpx.Client) -> None:
    body = {"Properties": {"TTL": 120, "ARecords": [{"IPv4Address": "10.0.0.1"}], "Metadata": {"k": "v"}}}
    created = put(arm, "A/caps", body).json()
    assert created["properties"]["ttl"] == 120
    assert created["properties"]["aRecords"] == [{"ipv4Address": "10.0.0.1"}]
    assert created["properties"]["metadata"] == {"k": "v"}


def test_put_replaces_and_patch_merges(arm: httpx.Client) -> None:
    put(
        arm,
        "A/app",
        {"properties": {"ttl": 30, "metadata": {"a": "1"}, "aRecords": [{"ipv4Address": "10.0.0.1"}]}},
    )
    replaced = put(arm, "A/app", {"properties": {"ttl": 40}}).json()["properties"]
    assert replaced["ttl"] == 40 and replaced["aRecords"] == [] and "metadata" not in replaced
    put(
        arm,
        "A/app",
        {"properties": {"ttl": 30, "metadata": {"a": "1"}, "aRecords": [{"ipv4Address": "10.0.0.1"}]}},
    )
    patched = arm.patch(f"{BASE}/A/app?{API}", json={"properties": {"metadata": {"b": "2"}}})
    assert patched.status_code == 200
    properties = patched.json()["properties"]
    assert properties["metadata"] == {"b": "2"}
    assert properties["ttl"] == 30 and properties["aRecords"] == [{"ipv4Address": "10.0.0.1"}]


def test_patch_of_a_missing_record_set_is_an_unwrapped_404(arm: httpx.Client) -> None:
    response = arm.patch(f"{BASE}/A/nothing?{API}", json={"properties": {"ttl": 5}})
    assert response.status_code == 404
    assert response.json() == {
        "code": "NotFound",
        "message": f"The resource record 'nothing' does not exist in resource group '{RESOURCE_GROUP}' "
        f"of subscription '{SUBSCRIPTION}'.",
    }


def test_delete_answers_200_then_204(arm: httpx.Client) -> None:
    put(arm, "A/old", a_body("10.0.0.1"))
    first = arm.delete(f"{BASE}/A/old?{API}")
    second = arm.delete(f"{BASE}/A/old?{API}")
    assert (first.status_code, first.content) == (200, b"")
    assert (second.status_code, second.content) == (204, b"")
    assert arm.get(f"{BASE}/A/old?{API}").status_code == 404


def test_soa_exists_at_the_apex_of_every_zone(arm: httpx.Client, emulator: AzureEmulator) -> None:
    soa = arm.get(f"{BASE}/SOA/@?{API}")
    assert soa.status_code == 200
    body = soa.json()
    assert body["name"] == "@" and body["id"] == f"{BASE}/SOA/@"
    assert body["properties"]["fqdn"] == f"{ZONE}."
    assert body["properties"]["ttl"] == 3600
    assert body["properties"]["soaRecord"] == {
        "host": "azureprivatedns.net",
        "email": "azureprivatedns-hostmaster.microsoft.com",
        "serialNumber": 1,
        "refreshTime": 3600,
        "retryTime": 300,
        "expireTime": 2419200,
        "minimumTtl": 300,
    }
    assert arm.delete(f"{BASE}/SOA/@?{API}").status_code == 400
    patched = arm.patch(f"{BASE}/SOA/@?{API}", json={"properties": {"soaRecord": {"minimumTtl": 10}}}).json()
    assert patched["properties"]["soaRecord"]["minimumTtl"] == 10
    assert patched["properties"]["soaRecord"]["host"] == "azureprivatedns.net"
    other = emulator.add_zone("second.example")
    assert arm.get(f"{other.arm_id}/soa/@?{API}").status_code == 200


def test_zone_get_counts_record_sets(arm: httpx.Client) -> None:
    zone = arm.get(f"{BASE}?{API}")
    assert zone.status_code == 200
    body = zone.json()
    assert body["name"] == ZONE and body["location"] == "global"
    assert body["type"] == "Microsoft.Network/privateDnsZones"
    assert GUID.match(body["etag"]) and zone.headers["etag"] == body["etag"]
    assert body["properties"]["numberOfRecordSets"] == 1  # the SOA
    assert body["properties"]["maxNumberOfRecordSets"] == 25000
    assert body["properties"]["provisioningState"] == "Succeeded"
    put(arm, "A/x", a_body("10.0.0.1"))
    assert arm.get(f"{BASE}?{API}").json()["properties"]["numberOfRecordSets"] == 2
    assert arm.put(f"{BASE}?{API}", json={"location": "global"}).status_code == 405


# --- conditions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quote", ['"{}"', "{}"], ids=["quoted-sdk", "bare-cli"])
def test_if_match_accepts_quoted_and_bare_etags(arm: httpx.Client, quote: str) -> None:
    etag = put(arm, "CNAME/www", cname_body("a.example")).headers["etag"]
    ok = put(arm, "CNAME/www", cname_body("b.example"), **{"If-Match": quote.format(etag)})
    assert ok.status_code == 200
    stale = put(arm, "CNAME/www", cname_body("c.example"), **{"If-Match": quote.format(etag)})
    assert stale.status_code == 412
    assert stale.json() == {
        "code": "PreconditionFailed",
        "message": "The Record set www has been modified (etag mismatch).",
    }
    assert arm.get(f"{BASE}/CNAME/www?{API}").json()["properties"]["cnameRecord"]["cname"] == "b.example"


def test_if_match_star_needs_an_existing_set(arm: httpx.Client) -> None:
    missing = put(arm, "A/new", a_body("10.0.0.1"), **{"If-Match": "*"})
    assert missing.status_code == 412 and missing.json()["code"] == "PreconditionFailed"
    assert arm.get(f"{BASE}/A/new?{API}").status_code == 404
    put(arm, "A/new", a_body("10.0.0.1"))
    assert put(arm, "A/new", a_body("10.0.0.2"), **{"If-Match": "*"}).status_code == 200


def test_if_none_match_star_refuses_to_overwrite(arm: httpx.Client) -> None:
    assert put(arm, "A/once", a_body("10.0.0.1"), **{"If-None-Match": "*"}).status_code == 201
    again = put(arm, "A/once", a_body("10.0.0.2"), **{"If-None-Match": "*"})
    assert again.status_code == 412
    assert again.json() == {
        "code": "PreconditionFailed",
        "message": "The Record set once exists already and hence cannot be created again.",
    }


def test_conditional_writes_are_atomic_compare_and_swap(emulator: AzureEmulator) -> None:
    """Writers that all read the same etag race; exactly one wins, the others get 412."""
    etag = emulator.seed_record_set(ZONE_ID, "CNAME", "race", {"cnameRecord": {"cname": "start"}})["etag"]
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def writer(i: int) -> None:
        with httpx.Client(base_url=emulator.base_url, headers={"Authorization": "Bearer t"}) as client:
            barrier.wait(timeout=10)
            response = put(client, "CNAME/race", cname_body(f"w{i}.example"), **{"If-Match": f'"{etag}"'})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] + [412] * 7
    final = emulator.record_set(ZONE_ID, "CNAME", "race")
    assert final is not None and final["properties"]["cnameRecord"]["cname"] != "start"


def test_conditional_delete(arm: httpx.Client) -> None:
    etag = put(arm, "A/del", a_body("10.0.0.1")).headers["etag"]
    assert arm.delete(f"{BASE}/A/del?{API}", headers={"If-Match": '"not-it"'}).status_code == 412
    assert arm.delete(f"{BASE}/A/del?{API}", headers={"If-Match": f'"{etag}"'}).status_code == 200


# --- refusals --------------------------------------------------------------------------------------------


def test_cname_cannot_share_a_name_with_another_type_either_way(arm: httpx.Client) -> None:
    put(arm, "TXT/shared", {"properties": {"ttl": 30, "txtRecords": [{"value": ["v=1"]}]}})
    conflict = put(arm, "CNAME/shared", cname_body("x.example"))
    assert conflict.status_code == 409 and conflict.json()["code"] == "Conflict"
    put(arm, "CNAME/alias", cname_body("x.example"))
    reverse = put(arm, "A/alias", a_body("10.0.0.1"))
    assert reverse.status_code == 409 and reverse.json()["code"] == "Conflict"
    # replacing the CNAME itself is no conflict
    assert put(arm, "CNAME/alias", cname_body("y.example")).status_code == 200


def test_cname_at_the_apex_is_refused(arm: httpx.Client) -> None:
    response = put(arm, "CNAME/@", cname_body("x.example"))
    assert response.status_code == 400 and response.json()["code"] == "BadRequest"


def test_cname_holds_one_record(arm: httpx.Client) -> None:
    body = {"properties": {"ttl": 30, "cnameRecord": [{"cname": "a.example"}, {"cname": "b.example"}]}}
    response = put(arm, "CNAME/two", body)
    assert response.status_code == 400
    assert "only one record" in response.json()["message"]


@pytest.mark.parametrize(
    "properties",
    [
        {"aRecords": [{"ipv4Address": "10.0.0.1"}]},  # no ttl
        {"ttl": 0, "aRecords": []},
        {"ttl": 2_147_483_648, "aRecords": []},
        {"ttl": "60", "aRecords": []},
        {"ttl": 60, "aRecords": [{"ipv4Address": "not-an-ip"}]},
        {"ttl": 60, "aRecords": [{"ipv4Address": f"10.0.0.{i}"} for i in range(21)]},
        {"ttl": 60, "metadata": {"k": 1}},
        {"ttl": 60, "cnameRecord": {"cname": "wrong-type.example"}},
    ],
    ids=[
        "no-ttl",
        "ttl-0",
        "ttl-too-big",
        "ttl-string",
        "bad-ip",
        "21-records",
        "metadata-int",
        "other-type",
    ],
)
def test_invalid_record_sets_are_bad_requests(arm: httpx.Client, properties: dict[str, Any]) -> None:
    response = put(arm, "A/bad", {"properties": properties})
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert arm.get(f"{BASE}/A/bad?{API}").status_code == 404


def test_ttl_limits_are_inclusive(arm: httpx.Client) -> None:
    assert put(arm, "A/low", {"properties": {"ttl": 1}}).status_code == 201
    assert put(arm, "A/high", {"properties": {"ttl": 2_147_483_647}}).status_code == 201


def test_malformed_json_is_a_wrapped_400(arm: httpx.Client) -> None:
    response = arm.put(
        f"{BASE}/A/x?{API}", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"


def test_zone_record_set_limit() -> None:
    with (
        AzureEmulator(max_record_sets=3) as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"}) as client,
    ):
        zone = emu.add_zone("small.example")
        statuses = [
            client.put(f"{zone.arm_id}/A/h{i}?{API}", json=a_body("10.0.0.1")).status_code for i in range(3)
        ]
        assert statuses == [201, 201, 400]  # the SOA is one of the three


# --- missing things --------------------------------------------------------------------------------------


def test_missing_zone_errors_are_wrapped(arm: httpx.Client) -> None:
    missing = ZoneId(SUBSCRIPTION, RESOURCE_GROUP, "absent.example")
    zone = arm.get(f"{missing.arm_id}?{API}")
    assert zone.status_code == 404
    assert zone.json() == {
        "error": {
            "code": "ResourceNotFound",
            "message": "The Resource 'Microsoft.Network/privateDnsZones/absent.example' under resource "
            f"group '{RESOURCE_GROUP}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        }
    }
    write = arm.put(f"{missing.arm_id}/A/x?{API}", json=a_body("10.0.0.1"))
    assert write.status_code == 404
    assert write.json() == {
        "error": {
            "code": "ParentResourceNotFound",
            "message": "Failed to perform 'write' on resource(s) of type 'privateDnsZones/A', because the "
            f"parent resource '{missing.arm_id}' could not be found.",
        }
    }
    assert write.headers["x-ms-failure-cause"] == "gateway"
    assert arm.get(f"{missing.arm_id}/ALL?{API}").json()["error"]["code"] == "ParentResourceNotFound"


def test_record_set_in_another_resource_group_is_not_found(arm: httpx.Client) -> None:
    elsewhere = ZoneId(SUBSCRIPTION, "other-rg", ZONE)
    assert arm.get(f"{elsewhere.arm_id}/SOA/@?{API}").status_code == 404


def test_api_version_is_required_and_checked(arm: httpx.Client) -> None:
    assert arm.get(f"{BASE}/SOA/@").json()["error"]["code"] == "MissingApiVersionParameter"
    wrong = arm.get(f"{BASE}/SOA/@?api-version=1999-01-01")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert arm.get(f"{BASE}/SOA/@?api-version=2018-09-01").status_code == 200


def test_unknown_type_and_unknown_paths(arm: httpx.Client) -> None:
    ns = arm.get(f"{BASE}/NS/@?{API}")
    assert ns.status_code == 400 and ns.json()["error"]["code"] == "InvalidResourceType"
    assert arm.get(f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}?{API}").status_code == 404


# --- lists -----------------------------------------------------------------------------------------------


def test_lists_by_type_and_all_with_absolute_next_links(arm: httpx.Client, emulator: AzureEmulator) -> None:
    for i in range(5):
        put(arm, f"A/h{i}", a_body(f"10.0.0.{i}"))
    put(arm, "CNAME/alias", cname_body("h0.example"))
    seen: list[str] = []
    url: str | None = f"{BASE}/A?{API}&$top=2"
    pages = 0
    while url is not None and pages < 10:
        page = arm.get(url).json()
        seen += [item["name"] for item in page["value"]]
        url = page.get("nextLink")
        if url is not None:
            assert url.startswith(emulator.base_url + BASE + "/A?")
        pages += 1
    assert seen == [f"h{i}" for i in range(5)] and pages == 3
    everything = arm.get(f"{BASE}/aLL?{API}").json()
    assert "nextLink" not in everything
    assert [(i["type"].rsplit("/", 1)[1], i["name"]) for i in everything["value"]] == [
        ("SOA", "@"),
        ("CNAME", "alias"),
        *[("A", f"h{i}") for i in range(5)],
    ]
    assert arm.get(f"{BASE}/ALL?{API}").json() == arm.get(f"{BASE}/all?{API}").json()


def test_default_page_size_is_100(emulator: AzureEmulator, arm: httpx.Client) -> None:
    for i in range(120):
        emulator.seed_record_set(ZONE_ID, "A", f"n{i:03d}", {"aRecords": [{"ipv4Address": "10.0.0.1"}]})
    first = arm.get(f"{BASE}/A?{API}").json()
    assert len(first["value"]) == 100
    second = arm.get(first["nextLink"]).json()
    assert len(second["value"]) == 20 and "nextLink" not in second


def test_next_link_uses_the_host_the_client_used(emulator: AzureEmulator) -> None:
    for i in range(3):
        emulator.seed_record_set(ZONE_ID, "A", f"n{i}", {"aRecords": []})
    url = f"http://localhost:{emulator.port}{BASE}/A?{API}&$top=1"
    page = httpx.get(url, headers={"Authorization": "Bearer t"}).json()
    assert page["nextLink"].startswith(f"http://localhost:{emulator.port}/")


def test_record_set_name_suffix_filter(arm: httpx.Client) -> None:
    for name in ("myregistry.eastus.geo", "myregistry.westeurope.geo", "myregistry.eastus.data", "geo"):
        put(arm, f"A/{name}", a_body("10.0.0.1"))
    names = [i["name"] for i in arm.get(f"{BASE}/A?{API}&$recordsetnamesuffix=geo").json()["value"]]
    assert names == ["myregistry.eastus.geo", "myregistry.westeurope.geo"]


def test_bad_paging_parameters(arm: httpx.Client) -> None:
    assert arm.get(f"{BASE}/A?{API}&$top=0").status_code == 400
    assert arm.get(f"{BASE}/A?{API}&$top=x").status_code == 400
    assert arm.get(f"{BASE}/A?{API}&$skipToken=%%%").status_code == 400


# --- authentication and budget ---------------------------------------------------------------------------


def test_requests_without_a_bearer_token_are_401(emulator: AzureEmulator) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = httpx.get(f"{emulator.base_url}{BASE}/SOA/@?{API}", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AuthenticationFailed"
        assert "WWW-Authenticate" in response.headers
    assert (
        httpx.get(f"{emulator.base_url}{BASE}/SOA/@?{API}", headers={"Authorization": "Bearer x"}).status_code
        == 200
    )


def test_auth_can_be_turned_off() -> None:
    with AzureEmulator(require_auth=False) as emu:
        zone = emu.add_zone("open.example")
        assert httpx.get(f"{emu.base_url}{zone.arm_id}?{API}").status_code == 200


def test_rate_limit_header_counts_reads_and_writes_separately(arm: httpx.Client) -> None:
    reads = [int(arm.get(f"{BASE}/SOA/@?{API}").headers[RATE]) for _ in range(3)]
    writes = [int(put(arm, f"A/w{i}", a_body("10.0.0.1")).headers[RATE]) for i in range(2)]
    assert reads == [249, 248, 247]
    assert writes == [799, 798]
    errors = arm.get(f"{BASE}/A/missing?{API}")
    assert errors.status_code == 404 and errors.headers[RATE] == "246"


def test_reads_and_writes_say_their_own_remaining_budget_as_arm_does(arm: httpx.Client) -> None:
    read = arm.get(f"{BASE}/SOA/@?{API}")
    write = put(arm, "A/own", a_body("10.0.0.1"))
    assert read.headers["x-ms-ratelimit-remaining-subscription-reads"] == "249"
    assert "x-ms-ratelimit-remaining-subscription-writes" not in read.headers
    assert write.headers["x-ms-ratelimit-remaining-subscription-writes"] == "799"
    assert "x-ms-ratelimit-remaining-subscription-reads" not in write.headers


def test_exhausted_budget_is_429_with_retry_after_until_the_window_resets() -> None:
    with (
        AzureEmulator(read_budget=2, write_budget=1, budget_window=300) as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"}) as client,
    ):
        zone = emu.add_zone("budget.example")
        statuses = [client.get(f"{zone.arm_id}?{API}").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        throttled = client.get(f"{zone.arm_id}?{API}")
        assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"
        assert 1 <= int(throttled.headers["Retry-After"]) <= 300
        assert throttled.headers[RATE] == "0"
        # writes have their own budget
        assert client.put(f"{zone.arm_id}/A/x?{API}", json=a_body("10.0.0.1")).status_code == 201
        assert client.put(f"{zone.arm_id}/A/y?{API}", json=a_body("10.0.0.1")).status_code == 429
        assert [r.fault for r in emu.request_log()] == [None, None, "budget", "budget", None, "budget"]
        # other subscriptions have their own budget
        other = emu.add_zone("other-sub/rg/budget.example")
        assert client.get(f"{other.arm_id}?{API}").status_code == 200
        emu.reset_rate_limits()
        assert client.get(f"{zone.arm_id}?{API}").status_code == 200


def test_budget_window_resets_by_itself() -> None:
    clock = ManualClock()  # the emulator's budget window runs on it
    with (
        AzureEmulator(read_budget=1, budget_window=0.2, clock=clock) as emu,
        httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"}) as client,
    ):
        zone = emu.add_zone("window.example")
        assert client.get(f"{zone.arm_id}?{API}").status_code == 200
        throttled = client.get(f"{zone.arm_id}?{API}")
        assert throttled.status_code == 429
        clock.advance(0.19)
        assert client.get(f"{zone.arm_id}?{API}").status_code == 429, "not before the window ends"
        clock.advance(0.01)
        assert client.get(f"{zone.arm_id}?{API}").status_code == 200
