"""The runtime mirror files on disk: what is written, when, and what is left alone."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from dnsctl.core.mirror import MirrorHost, MirrorOrder
from dnsctl.core.model import ProfileMirrorSpec, ProfileSpec
from dnsctl.targets.mirror_files import MirrorFiles, WriteOutcome, listed_hosts
from tests.core.factories import profile

EAST = MirrorHost("eastus", "https://myregistry.eastus.geo.azurecr.io")
WEST = MirrorHost("westeurope", "http://westeurope.lab.test:5000")


def order(*hosts: MirrorHost, keep: bool = False) -> MirrorOrder:
    return MirrorOrder(tuple(hosts), "test", keep_existing=keep)


@pytest.fixture
def files(tmp_path: Path) -> MirrorFiles:
    return MirrorFiles(str(tmp_path / "certs.d"), str(tmp_path / "registries.conf.d"))


def hosts_file(tmp_path: Path) -> Path:
    return tmp_path / "certs.d" / "myregistry.azurecr.io" / "hosts.toml"


def crio_file(tmp_path: Path) -> Path:
    return tmp_path / "registries.conf.d" / "dnsctl-myregistry.azurecr.io.conf"


def test_hosts_toml_lists_hosts_in_order_with_server_the_global_name(
    files: MirrorFiles, tmp_path: Path
) -> None:
    results = files.sync(profile(), order(EAST, WEST))
    assert [r.outcome for r in results] == [WriteOutcome.WRITTEN, WriteOutcome.WRITTEN]
    text = hosts_file(tmp_path).read_text()
    assert text.startswith("# managed-by: dnsctl (profile myregistry)\n")
    doc = tomllib.loads(text)
    assert doc["server"] == "https://myregistry.azurecr.io"
    assert list(doc["host"]) == [EAST.url, WEST.url]  # TOML tables keep their order
    assert doc["host"][EAST.url] == {"capabilities": ["pull", "resolve"]}
    assert listed_hosts(text) == (EAST.url, WEST.url)


def test_ca_skip_verify_override_path_and_capabilities_pass_through(
    files: MirrorFiles, tmp_path: Path
) -> None:
    p = replace(
        profile(),
        mirror=ProfileMirrorSpec(
            capabilities=("pull",), ca="/etc/ssl/lab-ca.pem", skip_verify=True, override_path=True
        ),
    )
    files.sync(p, order(EAST))
    doc = tomllib.loads(hosts_file(tmp_path).read_text())
    assert doc["host"][EAST.url] == {
        "capabilities": ["pull"],
        "ca": "/etc/ssl/lab-ca.pem",
        "skip_verify": True,
        "override_path": True,
    }


def test_crio_dropin_has_the_registry_and_its_mirrors_in_order(files: MirrorFiles, tmp_path: Path) -> None:
    files.sync(profile(), order(EAST, WEST))
    text = crio_file(tmp_path).read_text()
    doc = tomllib.loads(text)
    [registry] = doc["registry"]
    assert registry["prefix"] == registry["location"] == "myregistry.azurecr.io"
    assert registry["mirror"] == [
        {"location": "myregistry.eastus.geo.azurecr.io"},
        {"location": "westeurope.lab.test:5000", "insecure": True},
    ]
    assert listed_hosts(text) == ("myregistry.eastus.geo.azurecr.io", "westeurope.lab.test:5000")


def test_an_unchanged_file_is_not_rewritten(files: MirrorFiles, tmp_path: Path) -> None:
    files.sync(profile(), order(EAST, WEST))
    before = os.stat(hosts_file(tmp_path))
    results = files.sync(profile(), order(EAST, WEST))
    assert {r.outcome for r in results} == {WriteOutcome.UNCHANGED}
    after = os.stat(hosts_file(tmp_path))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_changed_order_replaces_the_file_atomically_and_leaves_no_temp_file(
    files: MirrorFiles, tmp_path: Path
) -> None:
    files.sync(profile(), order(EAST, WEST))
    inode = os.stat(hosts_file(tmp_path)).st_ino
    [r, _] = files.sync(profile(), order(WEST, EAST))
    assert r.outcome is WriteOutcome.WRITTEN and r.before == (EAST.url, WEST.url)
    assert os.stat(hosts_file(tmp_path)).st_ino != inode  # a rename, not an in-place rewrite
    assert list(tomllib.loads(hosts_file(tmp_path).read_text())["host"]) == [WEST.url, EAST.url]
    assert sorted(p.name for p in hosts_file(tmp_path).parent.iterdir()) == ["hosts.toml"]


def test_a_file_dnsctl_did_not_write_is_refused_unless_adopted(files: MirrorFiles, tmp_path: Path) -> None:
    path = hosts_file(tmp_path)
    path.parent.mkdir(parents=True)
    theirs = 'server = "https://myregistry.azurecr.io"\n[host."https://somewhere.else"]\n'
    path.write_text(theirs)
    [r, crio] = files.sync(profile(), order(EAST))
    assert r.outcome is WriteOutcome.REFUSED and "adopt" in r.error
    assert path.read_text() == theirs
    assert crio.outcome is WriteOutcome.WRITTEN  # the other runtime's file is independent
    adopting: ProfileSpec = replace(profile(), mirror=ProfileMirrorSpec(adopt=True))
    [r, _] = files.sync(adopting, order(EAST))
    assert r.outcome is WriteOutcome.WRITTEN
    assert "managed-by: dnsctl" in path.read_text()


def test_keep_existing_leaves_the_file_but_writes_a_missing_one(files: MirrorFiles, tmp_path: Path) -> None:
    files.sync(profile(), order(EAST, WEST))
    kept = hosts_file(tmp_path).read_text()
    [r, _] = files.sync(profile(), order(WEST, keep=True))
    assert r.outcome is WriteOutcome.KEPT and r.hosts == (EAST.url, WEST.url)
    assert hosts_file(tmp_path).read_text() == kept
    hosts_file(tmp_path).unlink()
    [r, _] = files.sync(profile(), order(WEST, keep=True))
    assert r.outcome is WriteOutcome.WRITTEN
    assert list(tomllib.loads(hosts_file(tmp_path).read_text())["host"]) == [WEST.url]


def test_an_unwritable_directory_is_a_failed_result_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    [r] = MirrorFiles(str(blocker), None).sync(profile(), order(EAST))
    assert r.outcome is WriteOutcome.FAILED and r.error


def test_empty_capabilities_are_a_configuration_problem(tmp_path: Path) -> None:
    from dnsctl.config.load import load
    from dnsctl.errors import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "profiles:\n- name: p\n  fqdn: r.azurecr.io\n  mirror: {capabilities: []}\n"
        "  endpoints: [{name: e, target: e.example, priority: 1}]\n"
    )
    with pytest.raises(ConfigError) as e:
        load(cfg)
    assert any("mirror.capabilities" in p for p in e.value.problems)
