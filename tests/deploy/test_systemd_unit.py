"""The systemd unit for `dnsctl serve`: port 53 through one capability, and a hardened sandbox."""

from __future__ import annotations

import shlex

import pytest
import yaml

from tests.deploy import kit

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> key -> every value given (systemd allows a key to repeat)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("#", ";")) or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{line!r} is not KEY=VALUE"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(kit.SYSTEMD_UNIT.read_text(encoding="utf-8"))["Service"]


def last(service: dict[str, list[str]], key: str) -> str:
    assert key in service, f"{key}= is not set"
    return service[key][-1]


def test_runs_dnsctl_serve_on_the_documented_config(service: dict[str, list[str]]) -> None:
    argv = shlex.split(last(service, "ExecStart"))
    assert argv[0].startswith("/") and argv[0].endswith("/dnsctl")
    assert argv[1] == "serve"
    assert argv[argv.index("-c") + 1] == "/etc/dnsctl/dnsctl.yaml"
    checks = [shlex.split(cmd) for cmd in service.get("ExecStartPre", [])]
    assert [argv[0], "validate", "-c", "/etc/dnsctl/dnsctl.yaml"] in checks


def test_binds_port_53_with_only_cap_net_bind_service(service: dict[str, list[str]]) -> None:
    assert last(service, "AmbientCapabilities").split() == ["CAP_NET_BIND_SERVICE"]
    assert last(service, "CapabilityBoundingSet").split() == ["CAP_NET_BIND_SERVICE"]
    # The example config is what needs the capability: it listens on port 53.
    config = yaml.safe_load(kit.SYSTEMD_CONFIG.read_text(encoding="utf-8"))
    assert any(listen.endswith(":53") for listen in config["resolver"]["listen"])


def test_runs_as_an_unprivileged_user(service: dict[str, list[str]]) -> None:
    dynamic = service.get("DynamicUser", ["no"])[-1] in ("yes", "true", "1")
    user = service.get("User", [""])[-1]
    assert dynamic or user not in ("", "root", "0")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
    ],
)
def test_hardening(service: dict[str, list[str]], key: str, value: str) -> None:
    assert last(service, key) == value


def test_restricts_address_families_to_ip_and_unix(service: dict[str, list[str]]) -> None:
    assert set(last(service, "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}


def test_writes_state_only_where_systemd_gives_it_room(service: dict[str, list[str]]) -> None:
    # ProtectSystem=strict makes /var read-only: the state file must sit in the StateDirectory.
    argv = shlex.split(last(service, "ExecStart"))
    if "--state-file" in argv:
        state = argv[argv.index("--state-file") + 1]
        assert state.startswith(f"/var/lib/{last(service, 'StateDirectory')}/")


def test_is_enabled_for_boot() -> None:
    unit = parse_unit(kit.SYSTEMD_UNIT.read_text(encoding="utf-8"))
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][-1].split()
