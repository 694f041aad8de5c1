"""Broken files: one clear ConfigError listing every problem with its location, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dnsctl.config.load import config_path, load
from dnsctl.errors import ConfigError, DnsctlError
from tests.support.waits import run_process

from .documents import edited, problems, sourced, write

P = "profiles[0]"


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    # Library exceptions are translated, not chained: no traceback reaches the user.
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert isinstance(err, DnsctlError)
    return err


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    err = config_error(path)
    assert err.lines == [f"{path}: no such file (give one with -c FILE or DNSCTL_CONFIG)"]


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    err = config_error(tmp_path)
    assert len(err.lines) == 1 and err.lines[0].startswith(f"{tmp_path}: cannot read:")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"profiles: []\n# caf\xe9\n")
    (line,) = config_error(path).lines
    assert line == f"{path}:2: cannot read: not UTF-8 (byte 19)"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("profiles:\n  - name: a\n    fqdn: [unclosed\n", 4),
        ("admin:\n  listen: 127.0.0.1:9153\n\tbad: tab\n", 3),
        ("a: b\n  c: d\n", 2),
        ("profiles: [\n", 2),
    ],
)
def test_unreadable_yaml_names_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    (problem,) = config_error(path).lines
    assert problem.startswith(f"{path}: not valid YAML at line {line}, column ")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert config_error(path).lines == [
        f"{path}: the top level must be a mapping (profiles:, resolver:, ...)"
    ]


@pytest.mark.parametrize("key", ["1", "~", "true"])
def test_top_level_keys_that_are_not_names(tmp_path: Path, key: str) -> None:
    text = yaml.safe_dump(edited({}), sort_keys=False) + f"{key}: x\n"
    path = write(tmp_path, text)
    (problem,) = sourced(path)
    assert problem.source == f"{path}:{text.count(chr(10))}"
    assert problem.message.startswith("the key ") and problem.message.endswith(
        "is not a name (profiles:, resolver:, ...)"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"profiles": 5}, "profiles: Input should be a valid list (got 5)"),
        ({"admin": []}, "admin: Input should be a valid dictionary or instance of AdminModel (got [])"),
        (
            {f"{P}.ttl": "thirty"},
            f"{P}.ttl: Input should be a valid integer, unable to parse string as an integer",
        ),
        ({f"{P}.ttl": 0}, f"{P}.ttl: Input should be greater than or equal to 1 (got 0)"),
        (
            {f"{P}.endpoints[0].weight": -1},
            f"{P}.endpoints[0].weight: Input should be greater than or equal to 0",
        ),
        ({f"{P}.monitor.port": 70000}, f"{P}.monitor.port: Input should be less than or equal to 65535"),
        ({f"{P}.performance_margin": 1.0}, f"{P}.performance_margin: Input should be less than 1"),
        (
            {f"{P}.routing": "fastest"},
            f"{P}.routing: Input should be 'priority', 'weighted' or 'performance' (got 'fastest')",
        ),
        (
            {f"{P}.endpoints[0].override": "maybe"},
            f"{P}.endpoints[0].override: Input should be 'obey', 'up' or 'down'",
        ),
        ({f"{P}.monitor.verify_tls": "perhaps"}, f"{P}.monitor.verify_tls: Input should be a valid boolean"),
        (
            {f"{P}.monitor.headers": {"X-Count": [1]}},
            f"{P}.monitor.headers.X-Count: Input should be a valid string",
        ),
        (
            {f"{P}.endpoints[0].addresses": "10.1.0.5"},
            f"{P}.endpoints[0].addresses: Input should be a valid list",
        ),
        (
            {"azure.credential": "password"},
            "azure.credential: Input should be 'default', 'workload', 'managed',",
        ),
        (
            {"resolver.cache.max_entries": -5},
            "resolver.cache.max_entries: Input should be greater than or equal to 0",
        ),
    ],
)
def test_wrong_types_and_values_are_located(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    found = problems(write(tmp_path, edited(changes)))
    assert any(line.startswith(expected) for line in found), found


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (f"{P}.name", f"{P}.name: required"),
        (f"{P}.fqdn", f"{P}.fqdn: required"),
        (f"{P}.endpoints", f"{P}.endpoints: required"),
        (f"{P}.endpoints[1].priority", f"{P}.endpoints[1].priority: required"),
        (f"{P}.azure.zone", f"{P}.azure.zone: required"),
    ],
)
def test_missing_required_fields(tmp_path: Path, missing: str, expected: str) -> None:
    doc = edited({})
    node: Any = doc
    *parents, last = missing.replace("[", ".").replace("]", "").split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[last]
    assert expected in problems(write(tmp_path, doc))


@pytest.mark.parametrize(
    ("where", "typo", "suggestion"),
    [
        ("", "profile", "profiles"),
        ("", "resolvers", "resolver"),
        (f"{P}.", "when_all_dwn", "when_all_down"),
        (f"{P}.", "failback_hold_time", "failback_hold"),
        (f"{P}.monitor.", "intreval", "interval"),
        (f"{P}.monitor.", "expected_statuses", "expected_status"),
        (f"{P}.endpoints[0].", "weigth", "weight"),
        (f"{P}.endpoints[1].", "adresses", "addresses"),
        (f"{P}.azure.", "subscripton_id", "subscription_id"),
        ("resolver.cache.", "max_entires", "max_entries"),
        ("resolver.views[0].", "client", "clients"),
        ("resolver.zones[0].records[0].", "valeu", "value"),
        ("ha.", "leese", "lease"),
    ],
)
def test_unknown_keys_suggest_the_closest_name(
    tmp_path: Path, where: str, typo: str, suggestion: str
) -> None:
    found = problems(write(tmp_path, edited({f"{where}{typo}": 1})))
    assert f"{where}{typo}: unknown key; did you mean {suggestion!r}?" in found


def test_unknown_key_without_a_close_name_lists_the_valid_ones(tmp_path: Path) -> None:
    found = problems(write(tmp_path, edited({"admin.zzzzzz": 1})))
    assert found == ["admin.zzzzzz: unknown key; valid keys: listen"]


def test_type_errors_and_rule_problems_are_reported_together(tmp_path: Path) -> None:
    doc = edited(
        {
            f"{P}.ttl": "thirty",  # a type error: the profile as a whole does not validate
            f"{P}.monitor.fall": 0,  # ...but its monitor's rules are still checked
            f"{P}.endpoints[1].target": "bad target",  # ...and its endpoints'
            f"{P}.endpoints[0].weigth": 2,  # an unknown key
            "resolver.listen": ["localhost:53"],  # another section's rules
            "admin.listen": "nope",
            "ha.lease_duration": "2h",
            "azure.base_url": "ftp://x",
        }
    )
    found = problems(write(tmp_path, doc))
    expected_starts = [
        f"{P}.ttl: Input should be a valid integer",
        f"{P}.endpoints[0].weigth: unknown key; did you mean 'weight'?",
        f"{P}.monitor.fall: 0 must be at least 1",
        f"{P}.endpoints[1].target: 'bad target' is not a valid DNS name",
        "resolver.listen[0]: 'localhost:53': 'localhost' must be an IP address",
        "admin.listen: 'nope' needs a port",
        "ha.lease_duration: an Azure Blob lease lasts 15 to 60 whole seconds",
        "azure.base_url: 'ftp://x' is not an http(s) URL",
    ]
    for start in expected_starts:
        assert sum(line.startswith(start) for line in found) == 1, (start, found)
    # The view still names the profile that failed to validate: that is no extra problem.
    assert len(found) == len(expected_starts), found


def test_a_profile_that_does_not_validate_still_counts_for_the_views(tmp_path: Path) -> None:
    doc = edited({f"{P}.ttl": "thirty", f"{P}.endpoints[1]": {"target": "w.example", "priority": 2}})
    found = problems(write(tmp_path, doc))
    assert sorted(found) == sorted(
        [
            f"{P}.ttl: Input should be a valid integer, unable to parse string as an integer (got 'thirty')",
            f"{P}.endpoints[1].name: required",
            # westeurope lost its name above, so this one is true.
            "resolver.views[0].prefer.myregistry: profile 'myregistry' has no endpoint 'westeurope'",
        ]
    )


def test_every_problem_line_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, edited({f"{P}.monitor.fall": 0, "admin.listen": "x"}))
    err = config_error(path)
    assert len(err.problems) == 2
    assert all(line.startswith(f"{path}:") for line in err.lines)
    assert str(err) == "; ".join(err.lines)


def test_config_path_precedence(tmp_path: Path) -> None:
    assert config_path("given.yaml", {"DNSCTL_CONFIG": "env.yaml"}) == Path("given.yaml")
    assert config_path(None, {"DNSCTL_CONFIG": "env.yaml"}) == Path("env.yaml")
    assert config_path(None, {}) == Path("dnsctl.yaml")


def test_a_broken_file_gives_one_clean_error_in_a_fresh_interpreter(tmp_path: Path) -> None:
    # What a user running the loader sees: the message, and no traceback of a library.
    path = write(tmp_path, "profiles:\n  - name: a\n    fqdn: [oops\n")
    script = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from dnsctl.config.load import load",
            "from dnsctl.errors import ConfigError",
            "try:",
            "    load(Path(sys.argv[1]))",
            "except ConfigError as e:",
            "    print('\\n'.join(e.lines))",
            "    raise SystemExit(2)",
        ]
    )
    done = run_process([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout.startswith(f"{path}: not valid YAML at line 4")
    assert "Traceback" not in done.stdout + done.stderr
