"""The real azure-mgmt-privatedns SDK (2.0.0) against the emulator over https (trustme CA)."""

from __future__ import annotations

from typing import TypeVar

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.mgmt.privatedns import PrivateDnsManagementClient as SyncClient
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient
from azure.mgmt.privatedns.models import ARecord, CnameRecord, RecordSet, RecordSetProperties

from dnsctl.emulator import AzureEmulator
from tests.emulator.helpers import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    ZONE,
    ZONE_ID,
    FakeCredential,
    SyncFakeCredential,
)

T = TypeVar("T")


def cname(target: str, *, ttl: int = 30, metadata: dict[str, str] | None = None) -> RecordSet:
    return RecordSet(
        properties=RecordSetProperties(ttl=ttl, metadata=metadata, cname_record=CnameRecord(cname=target))
    )


def a_set(*addresses: str, ttl: int = 30) -> RecordSet:
    return RecordSet(
        properties=RecordSetProperties(ttl=ttl, a_records=[ARecord(ipv4_address=a) for a in addresses])
    )


def present(value: T | None) -> T:
    assert value is not None
    return value


def cname_of(rs: RecordSet) -> str | None:
    return present(present(rs.properties).cname_record).cname


def writes(emu: AzureEmulator) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in emu.request_log() if r.kind == "write"]


async def test_create_if_missing_then_again_is_resource_exists(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    created = await sdk.record_sets.create_or_update(
        RESOURCE_GROUP,
        ZONE,
        "CNAME",
        "MyRegistry",
        cname("myregistry.eastus.geo.azurecr.io"),
        etag=None,
        match_condition=MatchConditions.IfMissing,
    )
    assert created.name == "myregistry"
    assert created.type == "Microsoft.Network/privateDnsZones/CNAME"
    assert present(created.properties).fqdn == f"myregistry.{ZONE}."
    assert cname_of(created) == "myregistry.eastus.geo.azurecr.io"
    assert created.etag
    with pytest.raises(ResourceExistsError) as raised:
        await sdk.record_sets.create_or_update(
            RESOURCE_GROUP,
            ZONE,
            "CNAME",
            "myregistry",
            cname("elsewhere.example"),
            etag=None,
            match_condition=MatchConditions.IfMissing,
        )
    assert raised.value.status_code == 412
    assert writes(tls_emulator) == [("PUT", 201), ("PUT", 412)]
    first_put = tls_emulator.request_log()[0]
    assert first_put.if_none_match == "*"
    stored = tls_emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert stored is not None
    assert stored["properties"]["cnameRecord"]["cname"] == "myregistry.eastus.geo.azurecr.io"


async def test_update_if_not_modified_gives_new_etag_and_stale_etag_fails(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    await sdk.record_sets.create_or_update(
        RESOURCE_GROUP, ZONE, "CNAME", "myregistry", cname("eastus.example")
    )
    read = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    updated = await sdk.record_sets.create_or_update(
        RESOURCE_GROUP,
        ZONE,
        "CNAME",
        "myregistry",
        cname("westeurope.example"),
        etag=read.etag,
        match_condition=MatchConditions.IfNotModified,
    )
    assert updated.etag != read.etag
    assert cname_of(updated) == "westeurope.example"
    # the SDK quotes the etag it sends
    assert tls_emulator.request_log()[-1].if_match == f'"{read.etag}"'
    with pytest.raises(ResourceModifiedError) as raised:
        await sdk.record_sets.create_or_update(
            RESOURCE_GROUP,
            ZONE,
            "CNAME",
            "myregistry",
            cname("stale.example"),
            etag=read.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    assert raised.value.status_code == 412
    assert "has been modified (etag mismatch)" in str(raised.value)
    after = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    assert cname_of(after) == "westeurope.example"
    assert after.etag == updated.etag


async def test_list_by_type_and_all_follow_next_link(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    for i in range(5):
        await sdk.record_sets.create_or_update(
            RESOURCE_GROUP, ZONE, "A", f"host{i}", a_set(f"10.0.0.{i + 1}")
        )
    tls_emulator.reset_request_log()
    names = [rs.name async for rs in sdk.record_sets.list_by_type(RESOURCE_GROUP, ZONE, "A", top=2)]
    assert names == [f"host{i}" for i in range(5)]
    pages = [r for r in tls_emulator.request_log() if r.method == "GET"]
    assert len(pages) == 3
    assert all(p.status == 200 for p in pages)
    assert "$skipToken" in pages[1].query and pages[1].query["$top"] == "2"
    tls_emulator.reset_request_log()
    everything = [(rs.type, rs.name) async for rs in sdk.record_sets.list(RESOURCE_GROUP, ZONE, top=2)]
    # ALL includes the apex SOA every zone holds
    assert everything[0] == ("Microsoft.Network/privateDnsZones/SOA", "@")
    assert [name for _, name in everything[1:]] == [f"host{i}" for i in range(5)]
    all_pages = tls_emulator.request_log()
    assert len(all_pages) == 3
    assert all_pages[0].path.endswith("/aLL")  # what the 2.0.0 SDK sends


async def test_metadata_round_trip(sdk: PrivateDnsManagementClient) -> None:
    metadata = {"dnsctl-owner": "profile/acr", "dnsctl-health": '{"eastus":"Online"}'}
    await sdk.record_sets.create_or_update(
        RESOURCE_GROUP, ZONE, "CNAME", "myregistry", cname("a.example", metadata=metadata)
    )
    read = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    assert present(read.properties).metadata == metadata
    patched = await sdk.record_sets.update(
        RESOURCE_GROUP,
        ZONE,
        "CNAME",
        "myregistry",
        RecordSet(properties=RecordSetProperties(metadata={"dnsctl-owner": "other"})),
        etag=read.etag,
        match_condition=MatchConditions.IfNotModified,
    )
    # PATCH replaces the metadata map and keeps what it does not name
    assert present(patched.properties).metadata == {"dnsctl-owner": "other"}
    assert cname_of(patched) == "a.example"
    assert present(patched.properties).ttl == 30


async def test_missing_zone_and_missing_record_set(sdk: PrivateDnsManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as zone_get:
        await sdk.private_zones.get(RESOURCE_GROUP, "nowhere.example")
    assert zone_get.value.error is not None and zone_get.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as put:
        await sdk.record_sets.create_or_update(RESOURCE_GROUP, "nowhere.example", "A", "x", a_set("10.0.0.1"))
    assert put.value.error is not None and put.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as get:
        await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "absent")
    assert get.value.status_code == 404
    assert "The resource record 'absent' does not exist" in str(get.value)
    zone = await sdk.private_zones.get(RESOURCE_GROUP, ZONE)
    assert zone.name == ZONE and present(zone.properties).number_of_record_sets == 1


async def test_cname_conflicts_both_ways(sdk: PrivateDnsManagementClient) -> None:
    await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "both", a_set("10.0.0.1"))
    with pytest.raises(ResourceExistsError) as cname_on_a:
        await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "CNAME", "both", cname("x.example"))
    assert cname_on_a.value.status_code == 409
    await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "CNAME", "alias", cname("x.example"))
    with pytest.raises(ResourceExistsError) as a_on_cname:
        await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "alias", a_set("10.0.0.2"))
    assert a_on_cname.value.status_code == 409
    with pytest.raises(HttpResponseError) as apex:
        await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "CNAME", "@", cname("x.example"))
    assert apex.value.status_code == 400


async def test_switch_a_to_cname_is_delete_then_create(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "myregistry", a_set("10.1.0.4"))
    await sdk.record_sets.delete(RESOURCE_GROUP, ZONE, "A", "myregistry")
    await sdk.record_sets.delete(RESOURCE_GROUP, ZONE, "A", "myregistry")  # nothing left: 204, no error
    created = await sdk.record_sets.create_or_update(
        RESOURCE_GROUP, ZONE, "CNAME", "myregistry", cname("x.example")
    )
    assert cname_of(created) == "x.example"
    assert writes(tls_emulator) == [("PUT", 201), ("DELETE", 200), ("DELETE", 204), ("PUT", 201)]


async def test_delete_if_not_modified_with_stale_etag_fails(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    first = await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "gone", a_set("10.0.0.1"))
    await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "gone", a_set("10.0.0.2"))
    with pytest.raises(ResourceModifiedError):
        await sdk.record_sets.delete(
            RESOURCE_GROUP, ZONE, "A", "gone", etag=first.etag, match_condition=MatchConditions.IfNotModified
        )
    assert tls_emulator.record_set(ZONE_ID, "A", "gone") is not None


async def test_throttle_retry_after_is_honoured(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "CNAME", "myregistry", cname("x.example"))
    tls_emulator.reset_request_log()
    tls_emulator.inject_throttle(1, retry_after=1, applies_to="read")
    read = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    assert cname_of(read) == "x.example"
    log = tls_emulator.request_log()
    assert [(r.status, r.fault) for r in log] == [(429, "throttle"), (200, None)]
    # a lower bound only: the retry cannot come before the Retry-After the emulator asked for
    assert log[1].at - log[0].at >= 1.0


async def test_server_errors_are_retried(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    tls_emulator.inject_error(1, status=503, applies_to="write")
    created = await sdk.record_sets.create_or_update(RESOURCE_GROUP, ZONE, "A", "retry", a_set("10.0.0.9"))
    assert present(present(created.properties).a_records)[0].ipv4_address == "10.0.0.9"
    assert writes(tls_emulator) == [("PUT", 503), ("PUT", 201)]


async def test_concurrent_writer_gives_resource_modified(
    sdk: PrivateDnsManagementClient, tls_emulator: AzureEmulator
) -> None:
    await sdk.record_sets.create_or_update(
        RESOURCE_GROUP, ZONE, "CNAME", "myregistry", cname("eastus.example")
    )
    read = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    tls_emulator.inject_concurrent_write(
        ZONE_ID, "CNAME", "myregistry", properties={"cnameRecord": {"cname": "someone-else.example"}}
    )
    with pytest.raises(ResourceModifiedError):
        await sdk.record_sets.create_or_update(
            RESOURCE_GROUP,
            ZONE,
            "CNAME",
            "myregistry",
            cname("westeurope.example"),
            etag=read.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    reread = await sdk.record_sets.get(RESOURCE_GROUP, ZONE, "CNAME", "myregistry")
    assert reread.etag != read.etag
    assert cname_of(reread) == "someone-else.example"
    # the injection is spent: a write conditional on the fresh etag goes through
    done = await sdk.record_sets.create_or_update(
        RESOURCE_GROUP,
        ZONE,
        "CNAME",
        "myregistry",
        cname("westeurope.example"),
        etag=reread.etag,
        match_condition=MatchConditions.IfNotModified,
    )
    assert cname_of(done) == "westeurope.example"


def test_sync_client_over_https(tls_emulator: AzureEmulator, ca_path: str) -> None:
    client = SyncClient(
        SyncFakeCredential(),
        SUBSCRIPTION,
        base_url=tls_emulator.base_url,
        connection_verify=ca_path,
    )
    with client:
        created = client.record_sets.create_or_update(
            RESOURCE_GROUP, ZONE, "A", "sync", a_set("10.0.0.7"), match_condition=MatchConditions.IfMissing
        )
        assert created.name == "sync"
        soa = client.record_sets.get(RESOURCE_GROUP, ZONE, "SOA", "@")
        assert present(present(soa.properties).soa_record).host == "azureprivatedns.net"
        assert present(soa.properties).fqdn == f"{ZONE}."


async def test_plain_http_with_enforce_https_off(emulator: AzureEmulator) -> None:
    client = PrivateDnsManagementClient(FakeCredential(), SUBSCRIPTION, base_url=emulator.base_url)
    async with client:
        created = await client.record_sets.create_or_update(
            RESOURCE_GROUP, ZONE, "A", "plain", a_set("10.0.0.3"), enforce_https=False
        )
        listed = [rs.name async for rs in client.record_sets.list(RESOURCE_GROUP, ZONE, enforce_https=False)]
    assert created.name == "plain" and listed == ["@", "plain"]
    assert all(r.status in (200, 201) for r in emulator.request_log())
