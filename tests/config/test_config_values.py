"""The small value languages: durations, status ranges, DNS names, host:port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dnsctl.config.values import (
    format_duration,
    is_ip,
    normalize_fqdn,
    parse_duration,
    parse_host_port,
    parse_status_range,
)
from dnsctl.core.model import HostPort, StatusRange

from .documents import edited, load_ok, problems, write

MON = "profiles[0].monitor"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("250 ms", 0.25),
        (" 3s ", 3.0),
        ("0s", 0.0),
        ("90", 90.0),
        (10, 10.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad",
    ["10x", "1d", "s", "", "ten seconds", "-5s", "1e3", "10s 5ms", "5.s", True, False, None, [10], -1, -0.5,
     float("nan"), float("inf"), float("-inf")],
)  # fmt: skip
def test_bad_durations_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(bad)


@pytest.mark.parametrize("seconds", [0.5, 0.25, 1.0, 10.0, 90.0, 120.0, 3600.0, 7200.0, 1.5])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("field", "text", "seconds"),
    [
        ("interval", "2m", 120.0),
        ("interval", 30, 30.0),
        ("timeout", "500ms", 0.5),
        ("flap_hold", "1h", 3600.0),
    ],
)
def test_durations_in_the_file(tmp_path: Path, field: str, text: Any, seconds: float) -> None:
    spec = load_ok(write(tmp_path, edited({f"{MON}.{field}": text})))
    assert getattr(spec.profiles[0].monitor, field) == seconds


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        (f"{MON}.interval", "10x", "'10x' is not a duration like '500ms', '10s', '2m' or '1h'"),
        (f"{MON}.interval", True, "True is not a duration"),
        ("profiles[0].failback_hold", -1, "-1 is negative"),
        ("resync_interval", ".nan", None),
        ("profiles[0].startup_grace", ".inf", None),
    ],
)
def test_bad_durations_in_the_file(tmp_path: Path, path: str, text: Any, message: str | None) -> None:
    doc = write(tmp_path, edited({path: text}))
    if isinstance(text, str) and text.startswith("."):
        # YAML's own NaN and infinity: write them unquoted so that they parse as floats.
        doc.write_text(doc.read_text(encoding="utf-8").replace(f"'{text}'", text), encoding="utf-8")
    found = problems(doc)
    assert len(found) == 1 and found[0].startswith(f"{path}: "), found
    if message is not None:
        assert found[0] == f"{path}: {message}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("200-299", StatusRange(200, 299)),
        ("200 - 204", StatusRange(200, 204)),
        (401, StatusRange(401, 401)),
        ("401", StatusRange(401, 401)),
        ("100-599", StatusRange(100, 599)),
        ("301-301", StatusRange(301, 301)),
    ],
)
def test_status_ranges(value: object, expected: StatusRange) -> None:
    assert parse_status_range(value) == expected


@pytest.mark.parametrize(
    "bad", ["999", 999, "300-200", "99", 600, "2xx", "200-", "-200", "200-299-300", "", True, 200.0, "abc"]
)
def test_bad_status_ranges_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="status code"):
        parse_status_range(bad)


def test_status_range_membership_and_text() -> None:
    r = StatusRange(200, 299)
    assert 200 in r and 299 in r and 250 in r
    assert 199 not in r and 300 not in r and "250" not in r
    assert (str(r), str(StatusRange(401, 401))) == ("200-299", "401")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["200-299", 401], (StatusRange(200, 299), StatusRange(401, 401))),
        ([204], (StatusRange(204, 204),)),
        (["200-399", "418"], (StatusRange(200, 399), StatusRange(418, 418))),
    ],
)
def test_status_ranges_in_the_file(
    tmp_path: Path, values: list[Any], expected: tuple[StatusRange, ...]
) -> None:
    spec = load_ok(write(tmp_path, edited({f"{MON}.expected_status": values})))
    assert spec.profiles[0].monitor.expected_status == expected


@pytest.mark.parametrize("bad", ["999", "300-200", 42])
def test_bad_status_ranges_in_the_file(tmp_path: Path, bad: Any) -> None:
    found = problems(write(tmp_path, edited({f"{MON}.expected_status": ["200-299", bad]})))
    assert len(found) == 1 and found[0].startswith(f"{MON}.expected_status[1]: "), found
    assert repr(bad) in found[0]


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("MyRegistry.AzureCR.io.", "myregistry.azurecr.io"),
        ("  a.b ", "a.b"),
        ("_sip._tcp.lab", "_sip._tcp.lab"),
        ("x" * 63 + ".io", "x" * 63 + ".io"),
    ],
)
def test_normalize_fqdn(name: str, normal: str) -> None:
    assert normalize_fqdn(name) == normal


@pytest.mark.parametrize(
    "bad", ["", ".", "a..b", "-a.b", "a-.b", "a b", "x" * 64 + ".io", "é.io", ("a." * 127) + "bc"]
)
def test_bad_fqdns_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"DNS name|longer than 253"):
        normalize_fqdn(bad)


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        ("127.0.0.1:5353", None, HostPort("127.0.0.1", 5353)),
        ("[::1]:53", None, HostPort("::1", 53)),
        ("::1", 53, HostPort("::1", 53)),
        ("[fd00::1]", 53, HostPort("fd00::1", 53)),
        ("168.63.129.16", 53, HostPort("168.63.129.16", 53)),
        ("dns.lab.internal:5300", None, HostPort("dns.lab.internal", 5300)),
        ("127.0.0.1:0", None, HostPort("127.0.0.1", 0)),
    ],
)
def test_host_port(value: str, default: int | None, expected: HostPort) -> None:
    assert parse_host_port(value, default) == expected


@pytest.mark.parametrize(
    ("value", "default"),
    [
        ("127.0.0.1", None),
        (":53", None),
        ("127.0.0.1:65536", None),
        ("127.0.0.1:x", None),
        ("bad host:53", None),
    ],
)
def test_bad_host_port(value: str, default: int | None) -> None:
    with pytest.raises(ValueError, match=r"port|host"):
        parse_host_port(value, default)


def test_host_port_text() -> None:
    assert str(HostPort("::1", 53)) == "[::1]:53"
    assert str(HostPort("127.0.0.1", 5353)) == "127.0.0.1:5353"
    assert parse_host_port(str(HostPort("::1", 53)), None) == HostPort("::1", 53)


@pytest.mark.parametrize(
    ("value", "ip"), [("10.0.0.1", True), ("::1", True), ("10.0.0.256", False), ("host", False)]
)
def test_is_ip(value: str, ip: bool) -> None:
    assert is_ip(value) is ip
