"""Fault injection, the request log, the operator API in-process and over `/_emulator`, and lifecycle."""

from __future__ import annotations

import threading

import httpx
import pytest

from dnsctl.emulator import AzureEmulator
from dnsctl.emulator.control_client import EmulatorControl
from tests.emulator.helpers import API, ZONE_ID
from tests.support.clock import ManualClock

BASE = ZONE_ID.arm_id
A_BODY = {"properties": {"ttl": 30, "aRecords": [{"ipv4Address": "10.0.0.1"}]}}


def test_injected_errors_match_kind_path_and_count(emulator: AzureEmulator, arm: httpx.Client) -> None:
    emulator.inject_error(2, status=503, applies_to="write", path_contains="/a/flaky")
    assert arm.get(f"{BASE}/SOA/@?{API}").status_code == 200  # a read: untouched
    assert arm.put(f"{BASE}/A/steady?{API}", json=A_BODY).status_code == 201  # another path: untouched
    statuses = [arm.put(f"{BASE}/A/flaky?{API}", json=A_BODY).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    failed = [r for r in emulator.request_log() if r.fault == "error"]
    assert [(r.method, r.status) for r in failed] == [("PUT", 503), ("PUT", 503)]
    assert emulator.pending_faults()["answers"] == []


def test_injected_throttle_carries_retry_after(emulator: AzureEmulator, arm: httpx.Client) -> None:
    emulator.inject_throttle(1, retry_after=7, applies_to="read")
    emulator.inject_throttle(1, retry_after=0.5, applies_to="read")
    first, second = arm.get(f"{BASE}?{API}"), arm.get(f"{BASE}?{API}")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert (second.status_code, second.headers["Retry-After"]) == (429, "0.5")
    assert first.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert "x-ms-ratelimit-remaining-subscription-resource-requests" in first.headers
    assert arm.get(f"{BASE}?{API}").status_code == 200


def test_injected_faults_do_not_touch_the_store(emulator: AzureEmulator, arm: httpx.Client) -> None:
    emulator.inject_error(1, status=500, applies_to="any")
    assert arm.put(f"{BASE}/A/x?{API}", json=A_BODY).status_code == 500
    assert emulator.record_set(ZONE_ID, "A", "x") is None


def test_latency_delays_answers() -> None:
    # The emulator waits on its clock: a manual one shows the wait without real time passing.
    clock = ManualClock()
    with (
        AzureEmulator(clock=clock) as emulator,
        httpx.Client(base_url=emulator.base_url, headers={"Authorization": "Bearer test"}, timeout=10) as arm,
    ):
        emulator.add_zone(ZONE_ID)
        emulator.set_latency(0.2)
        started = clock.monotonic()
        assert arm.get(f"{BASE}?{API}").status_code == 200
        assert clock.monotonic() - started == pytest.approx(0.2)
        emulator.set_latency(0)
        started = clock.monotonic()
        assert arm.get(f"{BASE}?{API}").status_code == 200
        assert clock.monotonic() == started
        with pytest.raises(ValueError):
            emulator.set_latency(-1)


def test_a_reset_after_apply_lands_the_write_and_loses_the_answer(
    emulator: AzureEmulator, arm: httpx.Client
) -> None:
    emulator.inject_reset_after_apply(1, applies_to="write", path_contains="/a/lost")
    assert arm.get(f"{BASE}/SOA/@?{API}").status_code == 200  # a read: answered
    with pytest.raises(httpx.TransportError):
        arm.put(f"{BASE}/A/lost?{API}", json=A_BODY)
    stored = emulator.record_set(ZONE_ID, "A", "lost")
    assert stored is not None and stored["properties"]["aRecords"] == [{"ipv4Address": "10.0.0.1"}]
    (logged,) = [r for r in emulator.request_log() if r.fault == "reset"]
    assert (logged.method, logged.status) == ("PUT", 201)
    # Used up: the next write is answered, conditional on the etag the lost answer carried.
    again = arm.put(f"{BASE}/A/lost?{API}", json=A_BODY, headers={"If-Match": f'"{stored["etag"]}"'})
    assert again.status_code == 200
    assert emulator.pending_faults()["resets"] == []


def test_concurrent_writer_races_a_create_only_write(emulator: AzureEmulator, arm: httpx.Client) -> None:
    emulator.inject_concurrent_write(
        ZONE_ID, "CNAME", "myregistry", properties={"ttl": 5, "cnameRecord": {"cname": "them"}}
    )
    raced = arm.put(
        f"{BASE}/CNAME/myregistry?{API}",
        json={"properties": {"ttl": 30, "cnameRecord": {"cname": "us"}}},
        headers={"If-None-Match": "*"},
    )
    assert raced.status_code == 412
    stored = emulator.record_set(ZONE_ID, "CNAME", "myregistry")
    assert stored is not None and stored["properties"]["cnameRecord"] == {"cname": "them"}


def test_concurrent_writer_bumps_the_etag_before_a_conditional_delete(
    emulator: AzureEmulator, arm: httpx.Client
) -> None:
    etag = arm.put(f"{BASE}/A/x?{API}", json=A_BODY).headers["etag"]
    emulator.inject_concurrent_write(ZONE_ID, "A", "X")
    refused = arm.delete(f"{BASE}/A/x?{API}", headers={"If-Match": f'"{etag}"'})
    assert refused.status_code == 412
    stored = emulator.record_set(ZONE_ID, "A", "x")
    assert stored is not None and stored["etag"] != etag
    assert stored["properties"]["aRecords"] == [{"ipv4Address": "10.0.0.1"}]
    # an unconditional write is not refused by a race: the writer changed the set, ours wins after it
    emulator.inject_concurrent_write(ZONE_ID, "A", "x", properties={"ttl": 99})
    assert arm.put(f"{BASE}/A/x?{API}", json=A_BODY).status_code == 200
    assert emulator.record_set(ZONE_ID, "A", "x")["properties"]["ttl"] == 30  # type: ignore[index]


def test_request_log_records_conditions_and_never_the_token(
    emulator: AzureEmulator, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-token-value"
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {secret}"}) as client:
        client.put(f"{BASE}/A/x?{API}", json=A_BODY, headers={"If-None-Match": "*"})
        client.get(f"{BASE}/A/x?{API}")
        client.delete(f"{BASE}/A/x?{API}", headers={"If-Match": '"abc"'})
    log = emulator.request_log()
    assert [(r.method, r.status, r.kind) for r in log] == [
        ("PUT", 201, "write"),
        ("GET", 200, "read"),
        ("DELETE", 412, "write"),
    ]
    assert log[0].if_none_match == "*" and log[2].if_match == '"abc"'
    assert log[1].query == {"api-version": "2024-06-01"}
    assert log[0].path == f"{BASE}/A/x"
    assert secret not in repr(log) and secret not in repr(emulator.snapshot())
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err
    emulator.reset_request_log()
    assert emulator.request_log() == []


def test_operator_api_errors(emulator: AzureEmulator) -> None:
    with pytest.raises(KeyError):
        emulator.seed_record_set("absent.example", "A", "x", {})
    with pytest.raises(ValueError):
        emulator.seed_record_set(ZONE_ID, "NS", "x", {})
    with pytest.raises(ValueError):
        emulator.seed_record_set(ZONE_ID, "A", "x", {"aRecords": [{"ipv4Address": "nope"}]})
    with pytest.raises(ValueError):
        emulator.inject_error(status=200)
    with pytest.raises(ValueError):
        emulator.add_zone("a/b")
    assert emulator.remove_zone(ZONE_ID) and not emulator.remove_zone(ZONE_ID)
    assert emulator.zones() == []


def test_seeding_bypasses_the_cname_rule_and_keeps_the_soa(emulator: AzureEmulator) -> None:
    emulator.seed_record_set(ZONE_ID, "A", "both", {"aRecords": []})
    emulator.seed_record_set(
        ZONE_ID, "CNAME", "both", {"cnameRecord": {"cname": "x"}, "metadata": {"k": "v"}}
    )
    names = [(rs["type"].rsplit("/", 1)[1], rs["name"]) for rs in emulator.record_sets(ZONE_ID)]
    assert names == [("SOA", "@"), ("A", "both"), ("CNAME", "both")]
    soa = emulator.seed_record_set(ZONE_ID, "SOA", "@", {"metadata": {"k": "v"}})
    assert soa["properties"]["soaRecord"]["host"] == "azureprivatedns.net"
    assert soa["properties"]["metadata"] == {"k": "v"}


def test_control_api_drives_everything(emulator: AzureEmulator) -> None:
    token = {"Authorization": "Bearer t"}
    with (
        EmulatorControl(emulator.base_url) as control,
        httpx.Client(base_url=emulator.base_url, headers=token) as arm,
    ):
        assert control.add_zone("sub-2/rg-2/Lab.Example", tags={"env": "test"}) == "sub-2/rg-2/lab.example"
        lab = "sub-2/rg-2/lab.example"
        lab_path = (
            "/subscriptions/sub-2/resourceGroups/rg-2/providers/Microsoft.Network/privateDnsZones/lab.example"
        )
        assert arm.get(f"{lab_path}?{API}").json()["tags"] == {"env": "test"}
        seeded = control.seed_record_set(
            lab, "A", "web", {"ttl": 60, "aRecords": [{"ipv4Address": "10.9.9.9"}]}
        )
        assert seeded["name"] == "web"
        assert control.record_set(lab, "A", "web")["etag"] == seeded["etag"]
        assert control.record_set(lab, "A", "nothing") is None
        zones = {z["name"] for z in control.snapshot()["zones"]}
        assert zones == {"lab.example", ZONE_ID.name}

        control.inject_throttle(1, retry_after=3, applies_to="read")
        control.inject_error(1, status=502, applies_to="write")
        throttled = arm.get(f"{lab_path}/A/web?{API}")
        failed = arm.put(f"{lab_path}/A/web?{API}", json=A_BODY)
        assert (throttled.status_code, throttled.headers["Retry-After"], failed.status_code) == (
            429,
            "3",
            502,
        )

        control.inject_concurrent_write(lab, "A", "web")
        refused = arm.put(f"{lab_path}/A/web?{API}", json=A_BODY, headers={"If-Match": seeded["etag"]})
        assert refused.status_code == 412

        control.set_latency(0.0)
        log = control.request_log()
        assert [(r["method"], r["status"], r["fault"]) for r in log] == [
            ("GET", 200, None),
            ("GET", 429, "throttle"),
            ("PUT", 502, "error"),
            ("PUT", 412, None),
        ]
        control.reset_request_log()
        assert control.request_log() == []
        control.inject_error(1)
        control.reset()
        assert arm.get(f"{lab_path}?{API}").status_code == 200
        assert control.remove_zone(lab) is True
        assert arm.get(f"{lab_path}?{API}").status_code == 404


def test_control_api_injects_a_reset_after_apply(emulator: AzureEmulator) -> None:
    with EmulatorControl(emulator.base_url) as control:
        control.inject_reset_after_apply(2)
        assert emulator.pending_faults()["resets"] == [
            {"times": 2, "applies_to": "write", "path_contains": None}
        ]


def test_control_api_rejects_bad_input(emulator: AzureEmulator) -> None:
    with httpx.Client(base_url=emulator.base_url + "/_emulator") as control:
        assert control.get("/health").json() == {"ok": True}
        assert control.post("/zones", json={"zone": ""}).status_code == 400
        assert control.post("/zones", content=b"[1]").status_code == 400
        assert control.post("/zones", content=b"{nope").status_code == 400
        assert control.post("/faults", json={"status": 500, "appliesTo": "sometimes"}).status_code == 400
        assert control.put("/recordsets/absent.example/x/y/A/x", json={}).status_code == 404
        assert control.get("/nothing-here").status_code == 404
        assert control.get("/faults").json()["answers"] == []


def test_stop_does_not_wait_for_idle_keep_alive_connections() -> None:
    emu = AzureEmulator().start()
    zone = emu.add_zone("keepalive.example")
    client = httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer t"})
    try:
        assert client.get(f"{zone.arm_id}?{API}").status_code == 200  # leaves a pooled connection open
        stopper = threading.Thread(target=emu.stop)
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive()
        with pytest.raises(httpx.TransportError):
            client.get(f"{zone.arm_id}?{API}")
    finally:
        client.close()
        emu.stop()  # idempotent


def test_start_twice_is_refused_and_port_needs_a_running_server() -> None:
    emu = AzureEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.port
    with emu:
        with pytest.raises(RuntimeError):
            emu.start()
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
