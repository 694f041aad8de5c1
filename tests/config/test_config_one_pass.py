"""One `validate` run lists every problem of a file: YAML, unknown keys, wrong types, the rules of every
part that parsed and the environment's overrides, each with its location and its source."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dnsctl.config.load import load
from dnsctl.errors import ConfigError, Problem
from tests.support.waits import run_process

FIXTURE = Path(__file__).parent / "fixtures" / "many_problems.yaml"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWhlcmU"
ENVIRONMENT = {
    "DNSCTL_RESOLVER__RATE_LIMIT": "x",  # not JSON
    "DNSCTL_ADMIN__LISTEN": "0.0.0.0:9153",  # off loopback without DNSCTL_ADMIN_TOKEN
    "DNSCTL_AZURE__TOKEN": "s3cr3t-in-a-misspelt-variable",  # no such key
    "DNSCTL_PROFILES__0__TTL": "5",  # lists are set whole
}

# (line in the fixture, or the variable; location; the message's start)
EXPECTED: list[tuple[int | str, str, str]] = [
    (
        8,
        "profiles[0].ttl",
        "Input should be a valid integer, unable to parse string as an integer (got 'thirty')",
    ),
    (15, "profiles[0].endpoints[0].weigth", "unknown key; did you mean 'weight'?"),
    (33, "profiles[1].monitor.expected_status[1]", "'700' is not a valid range of HTTP status codes"),
    (37, "profiles[1].endpoints[0].priority", "Input should be a valid integer"),
    (38, "profiles[1].endpoints[0].status", "Input should be 'enabled' or 'disabled' (got 'maybe')"),
    (43, "azure.tenant", "unknown key; valid keys: credential, base_url, client_id"),
    (49, "resolver.cache.max_entires", "unknown key; did you mean 'max_entries'?"),
    (50, "resolver.cache.serve_stale", "'forever' is not a duration"),
    (73, "safety.max_changes_per_run", "Input should be greater than or equal to 1 (got 0)"),
    (75, "isolation_guard.enabled", "Input should be a valid boolean"),
    (76, "resync_interval", "-5 is negative"),
    (66, "admin", "duplicate key (first at line 64); remove one"),
    (77, "(top level)", "the key 1 is not a name"),
    (6, "profiles[0].name", "'MyRegistry' must be lower-case letters, digits and '-'"),
    (7, "profiles[0].fqdn", "'bad..name' is not a valid DNS name"),
    (4, "profiles[0].monitor.timeout", "12s must be shorter than interval (10s)"),
    (13, "profiles[0].endpoints[0].target", "'bad target' is not a valid DNS name"),
    (16, "profiles[0].endpoints[0].addresses[0]", "'10.1.0.500' is not an IP address"),
    (17, "profiles[0].endpoints[1].name", "'eastus' is already used by endpoints[0]"),
    (19, "profiles[0].endpoints[1].priority", "1 is already used by endpoint 'eastus'"),
    (6, "profiles[0].fallback", "when_all_down is 'fallback' but no fallback target is set"),
    (24, "profiles[0].azure.record", "a CNAME cannot sit at the zone apex '@'"),
    (21, "profiles[0].azure.subscription_id", "'not-a-guid' is not a subscription id"),
    (31, "profiles[1].monitor.fall", "0 must be at least 1"),
    (29, "profiles[1].monitor.port", "protocol tcp needs a port"),
    (32, "profiles[1].monitor.rise", "-1 must be at least 1"),
    (27, "profiles[1].fallback", "'second.example.' is this profile's own fqdn"),
    (40, "azure.credential", "'static' (a fixed token from DNSCTL_AZURE_TOKEN) is for a local emulator only"),
    (40, "azure.credential", "'static' reads its token from DNSCTL_AZURE_TOKEN, which is not set"),
    (42, "azure.client_id", "(value hidden: it reads like a credential) is not a client id"),
    (45, "resolver.listen[0]", "'localhost:53': 'localhost' must be an IP address"),
    (46, "resolver.upstreams[0]", "'10.0.0.1:99999' has an invalid port"),
    (47, "resolver.allow[0]", "'10.0.0.0/33' is not an IP network"),
    (53, "resolver.views[0].clients", "at least one client network is required"),
    (54, "resolver.views[0].prefer.nosuch", "no profile named 'nosuch'"),
    (54, "resolver.views[0].prefer.second", "profile 'second' has no endpoint 'b'"),
    (58, "resolver.zones[0].records[0].value", "'10.0.0.999' is not an IPv4 address"),
    (59, "resolver.zones[0].records[1].value", "'10' is not 'PREFERENCE HOST'"),
    (
        60,
        "resolver.zones[0].records[2].value",
        "'70000 1 443 host.lab.internal.': numbers in a SRV record are at most",
    ),
    (61, "resolver.zones[0].records[3].type", "'SPF' is not one of A, AAAA, CNAME, TXT, MX, SRV"),
    (62, "resolver.zones[0].records[4].name", "'out.example.' is outside the zone 'lab.internal'"),
    (63, "resolver.zones[0].records[5].value", "a TXT value of 70000 bytes does not fit in a DNS message"),
    (70, "ha.blob_url", "no query string (a SAS token does not belong in the config)"),
    (71, "ha.lease_duration", "an Azure Blob lease lasts 15 to 60 whole seconds"),
    ("DNSCTL_RESOLVER__RATE_LIMIT", "resolver.rate_limit", "not valid JSON (Expecting value): a JSON object"),
    (
        "DNSCTL_PROFILES__0__TTL",
        "profiles",
        "a list is set whole, as JSON in DNSCTL_PROFILES, not item by item",
    ),
    ("DNSCTL_AZURE__TOKEN", "azure.token", "unknown key"),
    ("DNSCTL_ADMIN__LISTEN", "admin.listen", "0.0.0.0:9153 is not loopback: set DNSCTL_ADMIN_TOKEN"),
]


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "dnsctl.yaml"
    path.write_text(FIXTURE.read_text(encoding="utf-8").replace("LONG_TXT", "t" * 70_000), encoding="utf-8")
    return path


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load(path, ENVIRONMENT, validating=True)
    return info.value.problems


def _matches(problem: Problem, path: Path, expected: tuple[int | str, str, str]) -> bool:
    source, location, start = expected
    wanted = f"{path}:{source}" if isinstance(source, int) else source
    return (problem.source, problem.location) == (wanted, location) and problem.message.startswith(start)


def test_every_problem_is_listed_with_its_source(fixture_file: Path) -> None:
    found = _problems(fixture_file)
    missing = [e for e in EXPECTED if not any(_matches(p, fixture_file, e) for p in found)]
    unexpected = [str(p) for p in found if not any(_matches(p, fixture_file, e) for e in EXPECTED)]
    assert (missing, unexpected) == ([], [])
    assert len(found) == len(EXPECTED) >= 30


def test_the_file_s_problems_come_in_line_order_then_the_environment_s(fixture_file: Path) -> None:
    sources = [p.source for p in _problems(fixture_file)]
    lines = [int(s.rsplit(":", 1)[1]) for s in sources if s.startswith(str(fixture_file))]
    assert lines == sorted(lines)
    first_env = next(i for i, s in enumerate(sources) if s.startswith("DNSCTL_"))
    assert all(s.startswith("DNSCTL_") for s in sources[first_env:])


def test_no_secret_nor_long_value_is_quoted(fixture_file: Path) -> None:
    text = "\n".join(str(p) for p in _problems(fixture_file))
    assert TOKEN not in text and "eyJ" not in text
    assert "s3cr3t-in-a-misspelt-variable" not in text
    assert "sig=abc" not in text
    assert "t" * 81 not in text


def test_validate_lists_them_all_in_one_run_exit_2_no_traceback(fixture_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")} | ENVIRONMENT
    done = run_process(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(fixture_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"dnsctl: invalid configuration ({len(EXPECTED)} problem(s)):"
    assert len(lines) == 1 + len(EXPECTED)
    assert TOKEN not in done.stderr
