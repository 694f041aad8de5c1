"""Every cross-field rule reports its own problem at its own location, and only that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .documents import base, edited, load_ok, problems, write

ALT = {
    "name": "second",
    "fqdn": "second.example",
    "endpoints": [{"name": "a", "target": "a.example", "priority": 1}],
}
NO_VIEWS: dict[str, Any] = {"resolver.views": []}
P = "profiles[0]"
EP0, EP1 = f"{P}.endpoints[0]", f"{P}.endpoints[1]"
MON = f"{P}.monitor"
ZONE = "resolver.zones[0]"
REC0 = f"{ZONE}.records[0]"


def _profile_copy(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = base()["profiles"][0]
    doc.update(changes)
    return doc


# (id, changes to the valid base document, every problem expected)
RULES: list[tuple[str, dict[str, Any], list[str]]] = [
    # --- profiles
    (
        "duplicate profile name",
        {"profiles[1]": _profile_copy(fqdn="other.example")},
        ["profiles[1].name: 'myregistry' is already used by profiles[0]"],
    ),
    (
        "duplicate fqdn, compared normalised",
        {"profiles[1]": {**ALT, "fqdn": "MyRegistry.AzureCR.io."}},
        ["profiles[1].fqdn: 'MyRegistry.AzureCR.io.' is already steered by profile 'myregistry'"],
    ),
    (
        "profile name not a slug",
        {f"{P}.name": "My_Registry", **NO_VIEWS},
        [f"{P}.name: 'My_Registry' must be lower-case letters, digits and '-'"],
    ),
    (
        "profile fqdn",
        {f"{P}.fqdn": "bad..name"},
        [f"{P}.fqdn: 'bad..name' is not a valid DNS name (bad label '')"],
    ),
    (
        "no endpoints",
        {f"{P}.endpoints": [], **NO_VIEWS},
        [f"{P}.endpoints: at least one endpoint is required"],
    ),
    (
        "duplicate endpoint name",
        {f"{EP1}.name": "eastus", **NO_VIEWS},
        [f"{EP1}.name: 'eastus' is already used by endpoints[0]"],
    ),
    (
        "duplicate priority",
        {f"{EP1}.priority": 1},
        [f"{EP1}.priority: 1 is already used by endpoint 'eastus'"],
    ),
    (
        "record_type A needs IPv4 addresses",
        {f"{P}.azure.record_type": "A", f"{EP1}.addresses": ["fd00::5"]},
        [f"{EP1}.addresses: record_type A publishes the chosen endpoint's IPv4 addresses: set some"],
    ),
    (
        "record_type A at most 20 addresses",
        {f"{P}.azure.record_type": "A", f"{EP0}.addresses": [f"10.1.0.{i}" for i in range(1, 22)]},
        [f"{EP0}.addresses: an Azure record set holds at most 20 records"],
    ),
    (
        "every endpoint disabled",
        {f"{EP0}.status": "disabled", f"{EP1}.status": "disabled"},
        [f"{P}.endpoints: every endpoint is disabled: enable at least one"],
    ),
    (
        "weighted without weight",
        {f"{P}.routing": "weighted", f"{EP0}.weight": 0, f"{EP1}.weight": 0},
        [f"{P}.endpoints: routing weighted needs at least one endpoint with weight > 0"],
    ),
    (
        "fallback policy without a target",
        {f"{P}.when_all_down": "fallback"},
        [f"{P}.fallback: when_all_down is 'fallback' but no fallback target is set"],
    ),
    (
        "fallback target",
        {f"{P}.fallback": "not a name"},
        [f"{P}.fallback: 'not a name' is not a valid DNS name (bad label 'not a name')"],
    ),
    (
        "fallback cannot be published as an A record",
        {f"{P}.when_all_down": "fallback", f"{P}.fallback": "global.example", f"{P}.azure.record_type": "A"},
        [f"{P}.when_all_down: fallback names a host, which an A record cannot hold: use CNAME"],
    ),
    (
        "azure zone",
        {f"{P}.azure.zone": "-bad.zone"},
        [f"{P}.azure.zone: '-bad.zone' is not a valid DNS name (bad label '-bad')"],
    ),
    (
        "azure record name",
        {f"{P}.azure.record": "a b"},
        [f"{P}.azure.record: 'a b' is not a valid DNS name (bad label 'a b')"],
    ),
    (
        "azure CNAME at the apex",
        {f"{P}.azure.record": "@"},
        [f"{P}.azure.record: a CNAME cannot sit at the zone apex '@' (Azure refuses it)"],
    ),
    (
        "azure empty ids",
        {f"{P}.azure.subscription_id": "  ", f"{P}.azure.resource_group": ""},
        [f"{P}.azure.subscription_id: must not be empty", f"{P}.azure.resource_group: must not be empty"],
    ),
    # --- monitor
    ("timeout zero", {f"{MON}.timeout": 0}, [f"{MON}.timeout: must be greater than 0"]),
    (
        "timeout not shorter than interval",
        {f"{MON}.timeout": "10s", f"{MON}.interval": "10s"},
        [f"{MON}.timeout: 10s must be shorter than interval (10s)"],
    ),
    (
        "timeout longer than interval",
        {f"{MON}.timeout": "2m", f"{MON}.interval": "500ms"},
        [f"{MON}.timeout: 120s must be shorter than interval (0.5s)"],
    ),
    ("fall", {f"{MON}.fall": 0}, [f"{MON}.fall: 0 must be at least 1"]),
    ("rise", {f"{MON}.rise": -1}, [f"{MON}.rise: -1 must be at least 1"]),
    (
        "too many headers",
        {f"{MON}.headers": {f"X-H{i}": "v" for i in range(9)}},
        [f"{MON}.headers: 9 headers given; at most 8 are allowed"],
    ),
    ("tcp needs a port", {f"{MON}.protocol": "tcp"}, [f"{MON}.port: protocol tcp needs a port"]),
    ("path", {f"{MON}.path": "v2/"}, [f"{MON}.path: 'v2/' must start with '/'"]),
    (
        "http on 443",
        {f"{MON}.protocol": "http", f"{MON}.port": 443},
        [f"{MON}.port: protocol http on port 443: did you mean https?"],
    ),
    (
        "host and sni",
        {f"{MON}.host": "bad host", f"{MON}.sni": "-sni.example"},
        [
            f"{MON}.host: 'bad host' is not a valid DNS name (bad label 'bad host')",
            f"{MON}.sni: '-sni.example' is not a valid DNS name (bad label '-sni')",
        ],
    ),
    (
        "ca_file missing",
        {f"{MON}.ca_file": "/nonexistent/dnsctl/ca.pem"},
        [f"{MON}.ca_file: '/nonexistent/dnsctl/ca.pem' does not exist or is not a file"],
    ),
    (
        "no expected status",
        {f"{MON}.expected_status": []},
        [f"{MON}.expected_status: at least one status code or range is required"],
    ),
    # --- endpoints
    (
        "endpoint name with a space",
        {f"{EP0}.name": "east us"},
        [f"{EP0}.name: 'east us' must be a non-empty word without spaces"],
    ),
    (
        "endpoint target",
        {f"{EP0}.target": "bad target"},
        [f"{EP0}.target: 'bad target' is not a valid DNS name (bad label 'bad target')"],
    ),
    (
        "endpoint address",
        {f"{EP0}.addresses": ["10.1.0.5", "10.1.0.500"]},
        [f"{EP0}.addresses[1]: '10.1.0.500' is not an IP address"],
    ),
    # --- azure
    (
        "azure base_url scheme",
        {"azure.base_url": "ftp://x"},
        ["azure.base_url: 'ftp://x' is not an http(s) URL"],
    ),
    (
        "azure plain http off loopback",
        {"azure.base_url": "http://management.example"},
        ["azure.base_url: plain http is accepted only for a loopback emulator; use https"],
    ),
    # --- resolver
    (
        "listen needs an IP",
        {"resolver.listen": ["localhost:53"]},
        ["resolver.listen[0]: 'localhost:53': 'localhost' must be an IP address"],
    ),
    (
        "listen needs a port",
        {"resolver.listen": ["127.0.0.1"]},
        ["resolver.listen[0]: '127.0.0.1' needs a port, like '127.0.0.1:5353' or '[::1]:5353'"],
    ),
    (
        "upstream needs an IP",
        {"resolver.upstreams": ["127.0.0.1", "dns.example"]},
        ["resolver.upstreams[1]: 'dns.example': 'dns.example' must be an IP address"],
    ),
    (
        "allow network",
        {"resolver.allow": ["10.0.0.0/33"]},
        ["resolver.allow[0]: '10.0.0.0/33' is not an IP network like '10.0.0.0/8'"],
    ),
    (
        "upstream timeout",
        {"resolver.upstream_timeout": 0},
        ["resolver.upstream_timeout: must be greater than 0"],
    ),
    (
        "duplicate view",
        {"resolver.views[1]": {"name": "westeurope-vnet", "clients": ["10.3.0.0/16"]}},
        ["resolver.views[1].name: 'westeurope-vnet' is already used by another view"],
    ),
    (
        "view without clients",
        {"resolver.views[0].clients": []},
        ["resolver.views[0].clients: at least one client network is required"],
    ),
    (
        "view client network",
        {"resolver.views[0].clients": ["nonsense"]},
        ["resolver.views[0].clients[0]: 'nonsense' is not an IP network like '10.0.0.0/8'"],
    ),
    (
        "view prefers an unknown profile",
        {"resolver.views[0].prefer": {"nope": ["x"]}},
        ["resolver.views[0].prefer.nope: no profile named 'nope'"],
    ),
    (
        "view prefers an unknown endpoint",
        {"resolver.views[0].prefer": {"myregistry": ["westeurope", "southeastasia"]}},
        ["resolver.views[0].prefer.myregistry: profile 'myregistry' has no endpoint 'southeastasia'"],
    ),
    (
        "zone name",
        {f"{ZONE}.name": "bad zone"},
        [f"{ZONE}.name: 'bad zone' is not a valid DNS name (bad label 'bad zone')"],
    ),
    (
        "zone defined twice",
        {"resolver.zones[1]": {"name": "LAB.internal."}},
        ["resolver.zones[1].name: zone 'LAB.internal.' is defined twice"],
    ),
    (
        "zone record type",
        {f"{REC0}.type": "PTR"},
        [f"{REC0}.type: 'PTR' is not one of A, AAAA, CNAME, TXT, MX, SRV"],
    ),
    (
        "zone record name",
        {f"{REC0}.name": "bad name"},
        [f"{REC0}.name: 'bad name' is not a valid DNS name (bad label 'bad name')"],
    ),
    ("zone A value", {f"{REC0}.value": "fd00::1"}, [f"{REC0}.value: 'fd00::1' is not an IPv4 address"]),
    (
        "zone AAAA value",
        {f"{REC0}.type": "aaaa", f"{REC0}.value": "10.0.0.1"},
        [f"{REC0}.value: '10.0.0.1' is not an IPv6 address"],
    ),
    (
        "zone CNAME value",
        {f"{REC0}.name": "www", f"{REC0}.type": "CNAME", f"{REC0}.value": "bad target"},
        [f"{REC0}.value: 'bad target' is not a valid DNS name (bad label 'bad target')"],
    ),
    (
        "zone MX value",
        {f"{REC0}.type": "MX", f"{REC0}.value": "mail.lab.internal."},
        [f"{REC0}.value: 'mail.lab.internal.' is not 'PREFERENCE HOST', like '10 mail.lab.internal.'"],
    ),
    (
        "zone SRV value",
        {f"{REC0}.name": "_https._tcp", f"{REC0}.type": "SRV", f"{REC0}.value": "10 5 host.lab.internal."},
        [
            f"{REC0}.value: '10 5 host.lab.internal.' is not 'PRIORITY WEIGHT PORT HOST', "
            "like '10 5 443 host.lab.internal.'"
        ],
    ),
    (
        "zone CNAME beside another record",
        {
            f"{ZONE}.records[1]": {"name": "www", "type": "A", "value": "10.0.0.2"},
            f"{ZONE}.records[2]": {"name": "WWW", "type": "CNAME", "value": "lab.internal."},
        },
        [
            f"{ZONE}.records: a CNAME at 'www.lab.internal' cannot sit beside other records, another CNAME "
            "or at the apex"
        ],
    ),
    (
        "zone CNAME at the apex",
        {f"{REC0}.type": "CNAME", f"{REC0}.value": "elsewhere.internal."},
        [
            f"{ZONE}.records: a CNAME at 'lab.internal' cannot sit beside other records, another CNAME "
            "or at the apex"
        ],
    ),
    # --- admin and ha
    (
        "admin listen needs a port",
        {"admin.listen": "nope"},
        ["admin.listen: 'nope' needs a port, like '127.0.0.1:5353' or '[::1]:5353'"],
    ),
    (
        "admin listen port",
        {"admin.listen": "127.0.0.1:99999"},
        ["admin.listen: '127.0.0.1:99999' has an invalid port"],
    ),
    (
        "ha lease without blob_url",
        {"ha.lease": "azure-blob"},
        [
            "ha.blob_url: ha.lease azure-blob needs blob_url (https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)"
        ],
    ),
    (
        "ha blob_url without a blob",
        {"ha.lease": "azure-blob", "ha.blob_url": "https://acct.blob.core.windows.net/container"},
        [
            "ha.blob_url: 'https://acct.blob.core.windows.net/container' is not a blob URL like "
            "https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB "
            "(or http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB for an emulator)"
        ],
    ),
    (
        "ha lease duration",
        {"ha.lease_duration": "90s"},
        ["ha.lease_duration: an Azure Blob lease lasts 15 to 60 whole seconds"],
    ),
    (
        "ha lease duration in whole seconds",
        {"ha.lease_duration": "15500ms"},
        ["ha.lease_duration: an Azure Blob lease lasts 15 to 60 whole seconds"],
    ),
    (
        "ha blob_url with a SAS token",
        {"ha.lease": "azure-blob", "ha.blob_url": "https://acct.blob.core.windows.net/c/leader?sig=abc"},
        ["ha.blob_url: no query string (a SAS token does not belong in the config): use azure.credential"],
    ),
]


def test_the_base_document_is_valid(tmp_path: Path) -> None:
    assert problems(write(tmp_path, base())) == []


@pytest.mark.parametrize(("changes", "expected"), [(c, e) for _, c, e in RULES], ids=[r[0] for r in RULES])
def test_rule_reports_its_located_problem(
    tmp_path: Path, changes: dict[str, Any], expected: list[str]
) -> None:
    assert problems(write(tmp_path, edited(changes))) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"azure.base_url": "http://127.0.0.1:8080"},
        {"azure.base_url": "http://localhost:8080/"},
        {"azure.base_url": "http://[::1]:8080"},
        {"resolver.listen": ["[::1]:5353", "127.0.0.1:0"]},
        {"resolver.upstreams": ["127.0.0.1:5300", "::1", "[::1]:53"]},
        {f"{MON}.protocol": "tcp", f"{MON}.port": 5000},
        {f"{MON}.protocol": "http", f"{MON}.port": 8080},
        {f"{P}.azure.record_type": "A"},
        {f"{P}.azure.record": "@", f"{P}.azure.record_type": "A"},
        {f"{P}.when_all_down": "fallback", f"{P}.fallback": "myregistry.global.example"},
        {"ha.lease": "azure-blob", "ha.blob_url": "https://acct.blob.core.windows.net/leases/dnsctl"},
        {f"{MON}.headers": {f"X-H{i}": "v" for i in range(8)}},
        {f"{EP0}.status": "disabled"},
        {f"{P}.routing": "weighted", f"{EP0}.weight": 0},
        {f"{ZONE}.records[1]": {"name": "_sip._tcp", "type": "SRV", "value": "10 5 5060 sip.lab.internal."}},
        {f"{ZONE}.records[1]": {"name": "@", "type": "MX", "value": "10 mail.lab.internal."}},
        {f"{ZONE}.records[1]": {"name": "v6", "type": "AAAA", "value": "fd00::1"}},
        {f"{ZONE}.records[1]": {"name": "txt", "type": "txt", "value": "anything goes"}},
    ],
)
def test_valid_variants_raise_nothing(tmp_path: Path, changes: dict[str, Any]) -> None:
    assert problems(write(tmp_path, edited(changes))) == []


def test_an_existing_ca_file_is_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    spec = load_ok(write(tmp_path, edited({f"{MON}.ca_file": str(ca)})))
    assert spec.profiles[0].monitor.ca_file == str(ca)


TOGETHER = [
    "duplicate profile name",
    "profile fqdn",
    "duplicate priority",
    "fallback policy without a target",
    "azure zone",
    "azure empty ids",
    "timeout longer than interval",
    "fall",
    "rise",
    "too many headers",
    "path",
    "host and sni",
    "ca_file missing",
    "endpoint address",
    "azure plain http off loopback",
    "listen needs a port",
    "upstream needs an IP",
    "allow network",
    "upstream timeout",
    "view client network",
    "zone record type",
    "admin listen port",
    "ha lease without blob_url",
    "ha lease duration",
]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    rows = {name: (changes, expected) for name, changes, expected in RULES}
    changes: dict[str, Any] = {}
    expected: list[str] = []
    for name in TOGETHER:
        changes.update(rows[name][0])
        expected += rows[name][1]
    assert sorted(problems(write(tmp_path, edited(changes)))) == sorted(expected)
