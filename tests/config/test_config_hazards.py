"""Hostile or careless input is a located problem, never a traceback, a hang or a quoted secret: YAML's
hazards (size, depth, aliases, duplicate keys) and the environment's (bad JSON, huge values)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dnsctl.config.document import MAX_ALIAS_EXPANSION, MAX_BYTES, MAX_DEPTH
from dnsctl.config.load import load
from dnsctl.errors import ConfigError, Problem
from tests.support.waits import run_process

from .documents import edited, load_ok, sourced, write
from .documents import problems as problems_of

BASE_TEXT = yaml.safe_dump(edited({}), sort_keys=False)


def refused(path: Path, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load(path, environ or {})
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return err.problems


def test_a_duplicate_key_is_a_problem_at_its_own_line(tmp_path: Path) -> None:
    # The second block would have moved the admin API off loopback, silently.
    text = BASE_TEXT + "admin:\n  listen: 0.0.0.0:9153\n"
    path = write(tmp_path, text)
    first = BASE_TEXT.splitlines().index("admin:") + 1
    (problem,) = refused(path)
    assert problem == Problem(
        "admin", f"duplicate key (first at line {first}); remove one", f"{path}:{text.count(chr(10)) - 1}"
    )


def test_a_duplicate_key_deep_inside_is_located(tmp_path: Path) -> None:
    text = re.sub(r"( *)fqdn: myregistry.azurecr.io\n", r"\1fqdn: a.example\n\1fqdn: b.example\n", BASE_TEXT)
    (problem,) = refused(write(tmp_path, text))
    assert (problem.location, problem.message.split(" (")[0]) == ("profiles[0].fqdn", "duplicate key")


def test_a_file_over_one_mebibyte_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = write(tmp_path, BASE_TEXT + "# " + "x" * MAX_BYTES + "\n")
    assert [str(p) for p in refused(path)] == [f"{path}: larger than 1 MiB: not a configuration file"]


def test_dev_zero_is_refused() -> None:
    assert [str(p) for p in refused(Path("/dev/zero"))] == [
        "/dev/zero: larger than 1 MiB: not a configuration file"
    ]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused_before_anything_recurses(tmp_path: Path, depth: int) -> None:
    path = write(tmp_path, "profiles:\n  - " + "[" * depth + "]" * depth + "\n")
    (problem,) = refused(path)
    assert str(problem) == f"{path}:2: nested deeper than {MAX_DEPTH} levels"


def test_nesting_at_the_limit_is_only_a_type_problem(tmp_path: Path) -> None:
    depth = MAX_DEPTH - 2  # under `profiles:` and its list
    path = write(tmp_path, "profiles:\n  - " + "[" * depth + "]" * depth + "\n")
    assert [p.location for p in refused(path)] == ["profiles[0]"]


ANCHOR_BOMB = """\
x-a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
profiles:
  - name: bomb
    fqdn: bomb.example
    endpoints: [{name: a, target: a.example, priority: 1}]
    monitor:
      headers: {X-Bomb: *h}
"""


def test_an_anchor_bomb_fails_fast(tmp_path: Path) -> None:
    # 9^8 (43 million) strings if expanded; refused once aliases add MAX_ALIAS_EXPANSION values.
    (problem,) = refused(write(tmp_path, ANCHOR_BOMB))
    assert problem.message == f"aliases expand to more than {MAX_ALIAS_EXPANSION} values (an alias bomb?)"


def test_an_alias_into_itself_is_refused(tmp_path: Path) -> None:
    (problem,) = refused(write(tmp_path, "x-loop: &loop [1, *loop]\n"))
    assert problem.message == "an alias refers to the block that contains it"


def test_x_keys_hold_anchors_that_profiles_share(tmp_path: Path) -> None:
    text = """\
x-monitor: &monitor
  interval: 20s
  timeout: 2s
  fall: 5
x-unused: {anything: [goes]}
profiles:
  - name: one
    fqdn: one.example
    monitor: *monitor
    endpoints: [{name: a, target: a.example, priority: 1}]
  - name: two
    fqdn: two.example
    monitor:
      <<: *monitor
      fall: 2
    endpoints: [{name: a, target: a.example, priority: 1}]
"""
    spec = load_ok(write(tmp_path, text))
    one, two = (p.monitor for p in spec.profiles)
    assert (one.interval, one.timeout, one.fall) == (20.0, 2.0, 5)
    assert (two.interval, two.timeout, two.fall) == (20.0, 2.0, 2)  # the explicit key wins over the merge


def test_only_top_level_x_keys_are_ignored(tmp_path: Path) -> None:
    problems = refused(write(tmp_path, edited({"admin.x-note": "hello"})))
    assert [(p.location, p.message.split(";")[0]) for p in problems] == [("admin.x-note", "unknown key")]


def test_a_bad_json_override_is_blamed_on_its_variable(tmp_path: Path) -> None:
    (problem,) = refused(write(tmp_path, edited({})), {"DNSCTL_RESOLVER__UPSTREAMS": "x"})
    assert problem == Problem(
        "resolver.upstreams",
        "not valid JSON (Expecting value): a JSON list is expected",
        "DNSCTL_RESOLVER__UPSTREAMS",
    )


def test_a_bad_plain_override_is_blamed_on_its_variable_not_the_file(tmp_path: Path) -> None:
    (problem,) = refused(write(tmp_path, edited({})), {"DNSCTL_ADMIN__LISTEN": "no-port"})
    assert problem.source == "DNSCTL_ADMIN__LISTEN"
    assert problem.location == "admin.listen"


def test_a_type_problem_inside_a_json_override_is_blamed_on_its_variable(tmp_path: Path) -> None:
    value = '{"max_entries": "many", "serve_stale": "1m"}'
    (problem,) = refused(write(tmp_path, edited({})), {"DNSCTL_RESOLVER__CACHE": value})
    assert (problem.source, problem.location) == ("DNSCTL_RESOLVER__CACHE", "resolver.cache.max_entries")


def test_deeply_nested_json_in_an_override_is_refused(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    (problem,) = refused(write(tmp_path, edited({})), {"DNSCTL_RESOLVER__UPSTREAMS": deep})
    assert problem.source == "DNSCTL_RESOLVER__UPSTREAMS"
    assert problem.message in ("not a usable JSON list", f"nested deeper than {MAX_DEPTH} levels")


def test_a_ten_megabyte_value_is_not_echoed_whole(tmp_path: Path) -> None:
    huge = "9" * 10_000_000 + "x"
    (problem,) = refused(write(tmp_path, edited({})), {"DNSCTL_RESYNC_INTERVAL": huge})
    assert problem.source == "DNSCTL_RESYNC_INTERVAL"
    assert problem.message.endswith("is not a duration like '500ms', '10s', '2m' or '1h'")
    quoted = problem.message.split(" is not a duration")[0]
    assert len(quoted) <= 80 and quoted.startswith("'999")


def test_a_long_value_in_the_file_is_cut_to_80_characters(tmp_path: Path) -> None:
    (problem,) = sourced(write(tmp_path, edited({"profiles[0].fqdn": "a" * 900_000})))
    quoted = problem.message.split(" is longer than")[0]
    assert len(quoted) <= 80
    assert len(problem.message) < 150


def test_a_long_unknown_key_is_cut(tmp_path: Path) -> None:
    (problem,) = sourced(write(tmp_path, edited({"admin.k" + "e" * 5000: 1})))
    assert len(problem.location) <= len("admin.") + 40


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("azure.client_id", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWhlcmU"),
        ("ha.blob_url", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=bm90LWEtcmVhbC1rZXk="),
        ("azure.credential", "Zm9vYmFyYmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1A="),
        ("profiles[0].fqdn", "Bearer abc.def.ghi"),
        ("resolver.upstreams", ["sv=2024-01-01&sig=AbCdEf1234567890AbCdEf1234567890"]),
        ("admin", ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLWhlcmU"]),
        ("safety.max_changes_per_run", {"key": "Zm9vYmFyYmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1A="}),
    ],
)
def test_a_credential_given_in_the_wrong_field_is_not_echoed(
    tmp_path: Path, field: str, value: object
) -> None:
    found = sourced(write(tmp_path, edited({field: value, "ha.lease": "azure-blob"})))
    assert found, "the misplaced credential is a problem"
    secret = value if isinstance(value, str) else value[0] if isinstance(value, list) else value["key"]  # type: ignore[index]
    text = "\n".join(str(p) for p in found)
    for part in (secret, secret[:20], secret[-20:]):
        assert part not in text


def test_a_configured_secret_is_never_echoed_even_where_it_does_not_look_like_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "plain words token"
    monkeypatch.setenv("DNSCTL_ADMIN_TOKEN", token)
    found = sourced(write(tmp_path, edited({"profiles[0].fqdn": token})))
    assert found and token not in "\n".join(str(p) for p in found)


def test_one_bad_item_does_not_hide_the_rules_of_its_siblings(tmp_path: Path) -> None:
    doc = edited(
        {
            "resolver.listen": ["localhost:53", 5],
            "profiles[0].endpoints[0].addresses": ["10.0.0.300", {}],
            "profiles[0].monitor.expected_status": [[1]],
        }
    )
    found = sorted(problems_of(write(tmp_path, doc)))
    assert found == [
        "profiles[0].endpoints[0].addresses[0]: '10.0.0.300' is not an IP address",
        "profiles[0].endpoints[0].addresses[1]: Input should be a valid string (got {})",
        "profiles[0].monitor.expected_status[0]: Input should be a valid integer, or input should be a valid "
        "string (got [1])",
        "resolver.listen[0]: 'localhost:53': 'localhost' must be an IP address",
        "resolver.listen[1]: Input should be a valid string (got 5)",
    ]


def test_a_misspelt_section_in_a_variable_is_a_problem_not_ignored(tmp_path: Path) -> None:
    environ = {
        "DNSCTL_RESOLVR__LISTEN": '["127.0.0.1:53"]',
        "DNSCTL_CONFIG": "x.yaml",
        "DNSCTL_ADMIN_TOKEN": "t" * 20,
    }
    (problem,) = refused(write(tmp_path, edited({})), environ)
    assert problem.source == "DNSCTL_RESOLVR__LISTEN"
    assert problem.message == "no section 'resolvr' to override; did you mean DNSCTL_RESOLVER__...?"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSCTL_")}
    return run_process(
        [sys.executable, "-m", "dnsctl", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("where", ["value", "key"])
def test_an_integer_python_cannot_read_is_a_located_problem_not_a_traceback(
    tmp_path: Path, where: str
) -> None:
    # YAML reads 5,000 digits as an integer; Python refuses to convert more than 4,300 (ValueError).
    huge = "9" * 5000
    if where == "value":
        text = BASE_TEXT.replace("priority: 1\n", f"priority: {huge}\n", 1)
        location = "profiles[0].endpoints[0].priority: "
    else:
        text = BASE_TEXT + f"? {huge}\n: 1\n"  # an explicit key: a plain one is at most 1024 characters
        location = ""  # the key of the top-level mapping: the line says where
    assert huge in text
    path = write(tmp_path, text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if huge in row)
    done = _validate(path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "dnsctl: invalid configuration (1 problem(s)):",
        f"  {path}:{line}: {location}a number too long to read (more than 4300 digits)",
    ]


def test_a_date_that_does_not_exist_is_a_located_problem_not_a_traceback(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("fqdn: myregistry.azurecr.io\n", "fqdn: 2001-02-30\n", 1)
    path = write(tmp_path, text)
    done = _validate(path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "profiles[0].fqdn: cannot read this value: day is out of range for month" in done.stderr
