"""Whatever a file or the environment holds, loading it gives a spec or a ConfigError, never another
exception: a valid document with random values put at random places, and random overrides."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dnsctl.config.load import load
from dnsctl.errors import ConfigError

from .documents import base, put

# Every place of the valid document, and some that are not there (unknown keys, list items past the end).
PLACES = [
    "profiles",
    "profiles[0]",
    "profiles[0].name",
    "profiles[0].fqdn",
    "profiles[0].ttl",
    "profiles[0].fallback",
    "profiles[0].when_all_down",
    "profiles[0].monitor",
    "profiles[0].monitor.interval",
    "profiles[0].monitor.timeout",
    "profiles[0].monitor.expected_status",
    "profiles[0].monitor.headers",
    "profiles[0].monitor.port",
    "profiles[0].monitor.protocol",
    "profiles[0].endpoints",
    "profiles[0].endpoints[0]",
    "profiles[0].endpoints[0].name",
    "profiles[0].endpoints[0].priority",
    "profiles[0].endpoints[0].addresses",
    "profiles[0].endpoints[2]",
    "profiles[0].azure",
    "profiles[0].azure.subscription_id",
    "profiles[0].azure.record_type",
    "profiles[1]",
    "azure",
    "azure.credential",
    "azure.base_url",
    "azure.client_id",
    "resolver",
    "resolver.listen",
    "resolver.allow",
    "resolver.views",
    "resolver.views[0].prefer",
    "resolver.views[0].clients",
    "resolver.zones",
    "resolver.zones[0].records",
    "resolver.zones[0].records[0]",
    "resolver.zones[0].records[0].value",
    "resolver.zones[0].records[0].type",
    "admin",
    "admin.listen",
    "ha",
    "ha.lease",
    "ha.blob_url",
    "ha.lease_duration",
    "resync_interval",
    "sites",
    "exchange",
    "quorum",
    "unknown",
    "x-anything",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["", "@", "10s", "0", "-1", "fallback", "static", "A", "TXT", "127.0.0.1:0", "0.0.0.0:1"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)
VARIABLES = [
    "DNSCTL_PROFILES",
    "DNSCTL_RESOLVER",
    "DNSCTL_RESOLVER__UPSTREAMS",
    "DNSCTL_RESOLVER__CACHE__MAX_ENTRIES",
    "DNSCTL_ADMIN__LISTEN",
    "DNSCTL_AZURE__CREDENTIAL",
    "DNSCTL_AZURE__NOPE",
    "DNSCTL_PROFILES__0__TTL",
    "DNSCTL_RESOLVER__VIEWS__0",
    "DNSCTL_RESYNC_INTERVAL",
]
overrides = st.dictionaries(
    st.sampled_from(VARIABLES),
    st.one_of(st.text(max_size=30), values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip())),
    max_size=3,
)


def _doc(changes: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = base()
    for place, value in changes:
        # A place below a value an earlier change replaced has nowhere to go: skipped.
        with contextlib.suppress(Exception):  # the builder's own trouble, not the loader's
            put(doc, place, value)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# A mapping given as a list once reached the rules as a list of its values (a dict of lists).
@example(changes=[("resolver.views[0].prefer", [])], environ={})
@example(changes=[("resolver.views[0].prefer", ["a", "b"])], environ={})
@given(
    changes=st.lists(st.tuples(st.sampled_from(PLACES), values), min_size=1, max_size=4),
    environ=overrides,
)
def test_loading_gives_a_spec_or_a_config_error(
    tmp_path: Path, changes: list[tuple[str, Any]], environ: dict[str, str]
) -> None:
    path = tmp_path / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(_doc(changes), sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        load(path, environ)
    except ConfigError as e:
        assert e.problems
        for p in e.problems:
            assert p.message and re.fullmatch(rf"{re.escape(str(path))}(:\d+)?|DNSCTL_\w+", p.source), p
