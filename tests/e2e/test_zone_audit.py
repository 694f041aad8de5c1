"""`dnsctl audit` against the emulator: every replica's records a pull needs, read once, written never."""

from __future__ import annotations

from pathlib import Path

from dnsctl.emulator import AzureEmulator, ZoneId
from tests.e2e.conftest import Replicas
from tests.e2e.harness import RG, SUB, ZONE_ID, dnsctl, profile_config, write_config


def a_record(emulator: AzureEmulator, name: str, ip: str) -> None:
    emulator.seed_record_set(ZONE_ID, "A", name, {"ttl": 300, "aRecords": [{"ipv4Address": ip}]})


def config(tmp_path: Path, emulator: AzureEmulator) -> Path:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    return write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(443, str(ca))])


def test_a_zone_missing_one_regions_data_record_exits_1_naming_it(
    tmp_path: Path, emulator: AzureEmulator
) -> None:
    a_record(emulator, "myregistry.eastus.geo", "127.0.0.2")
    a_record(emulator, "myregistry.westeurope.geo", "127.0.0.3")
    a_record(emulator, "myregistry.eastus.data", "10.1.0.6")
    path = config(tmp_path, emulator)
    emulator.reset_request_log()

    r = dnsctl("audit", "-c", str(path))
    assert r.code == 1, r.stderr
    missing = [line for line in r.stdout.splitlines() if "MISSING" in line]
    assert missing == [
        "  MISSING  myregistry: westeurope: data endpoint myregistry.westeurope.data.azurecr.io: missing: no "
        "record myregistry.westeurope.data in zone privatelink.azurecr.io"
    ], r.stdout
    assert "4 record(s) a pull needs in privatelink.azurecr.io: 1 missing or wrong" in r.stdout
    # Read-only, one read of the zone.
    log = emulator.request_log()
    assert [q.method for q in log] == ["GET"], log
    assert all(q.kind == "read" for q in log)

    a_record(emulator, "myregistry.westeurope.data", "10.2.0.6")
    ok = dnsctl("audit", "-c", str(path), "--json")
    assert ok.code == 0, ok.stdout + ok.stderr
    doc = ok.json()
    assert doc["complete"] is True and len(doc["records"]) == 4


def test_a_regional_record_pointing_where_no_probe_goes_is_listed(
    tmp_path: Path, emulator: AzureEmulator
) -> None:
    a_record(emulator, "myregistry.eastus.geo", "127.0.0.2")
    a_record(emulator, "myregistry.westeurope.geo", "10.9.9.9")  # not the address the probes use
    a_record(emulator, "myregistry.eastus.data", "10.1.0.6")
    a_record(emulator, "myregistry.westeurope.data", "10.2.0.6")
    r = dnsctl("audit", "-c", str(config(tmp_path, emulator)))
    assert r.code == 1
    assert (
        "myregistry: westeurope: regional endpoint myregistry.westeurope.geo.azurecr.io: "
        "myregistry.westeurope.geo in privatelink.azurecr.io points at 10.9.9.9, which no probe reaches "
        "(probed: 127.0.0.3)"
    ) in r.stdout


def test_an_unreadable_zone_is_an_error_not_a_traceback(tmp_path: Path, emulator: AzureEmulator) -> None:
    path = config(tmp_path, emulator)
    emulator.remove_zone(ZONE_ID)
    r = dnsctl("audit", "-c", str(path))
    assert r.code == 1
    assert "zone privatelink.azurecr.io was not found" in r.stderr and "Traceback" not in r.stderr


def test_check_audit_adds_the_section_and_fails_on_a_missing_record(
    tmp_path: Path, emulator: AzureEmulator, replicas: Replicas
) -> None:
    a_record(emulator, "myregistry.eastus.geo", "127.0.0.2")
    a_record(emulator, "myregistry.westeurope.geo", "127.0.0.3")
    a_record(emulator, "myregistry.eastus.data", "10.1.0.6")
    path = write_config(tmp_path / "dnsctl.yaml", emulator, [profile_config(replicas.port, replicas.ca_file)])
    plain = dnsctl("check", "-c", str(path))
    assert plain.code == 0, plain.stdout + plain.stderr  # both replicas answer
    r = dnsctl("check", "-c", str(path), "--audit")
    assert r.code == 1
    assert "MISSING  myregistry: westeurope: data endpoint myregistry.westeurope.data.azurecr.io" in r.stdout
    a_record(emulator, "myregistry.westeurope.data", "10.2.0.6")
    assert dnsctl("check", "-c", str(path), "--audit").code == 0


def test_a_zone_given_with_zone_is_audited_too(tmp_path: Path, emulator: AzureEmulator) -> None:
    # The global name lives in a zone of its own; the private link zone is named on the command line.
    emulator.add_zone(ZoneId(SUB, RG, "corp.example"))
    a_record(emulator, "myregistry.eastus.geo", "127.0.0.2")
    a_record(emulator, "myregistry.westeurope.geo", "127.0.0.3")
    a_record(emulator, "myregistry.westeurope.data", "10.2.0.6")
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    profile = profile_config(443, str(ca), zone="corp.example")
    path = write_config(tmp_path / "dnsctl.yaml", emulator, [profile])
    nothing = dnsctl("audit", "-c", str(path))
    assert nothing.code == 2 and "nothing to audit" in nothing.stderr and "--zone" in nothing.stderr
    r = dnsctl("audit", "-c", str(path), "--zone", f"{SUB}/{RG}/privatelink.azurecr.io")
    assert r.code == 1, r.stderr
    assert "MISSING  myregistry: eastus: data endpoint myregistry.eastus.data.azurecr.io" in r.stdout
    bad = dnsctl("audit", "-c", str(path), "--zone", "privatelink.azurecr.io")
    assert bad.code == 2 and "expected SUBSCRIPTION/RESOURCE_GROUP/ZONE" in bad.stderr
    assert "Traceback" not in bad.stderr + r.stderr + nothing.stderr
