"""The state file cannot betray: every kind of bad file is moved aside (never read blindly, never
overwritten), what the configuration lacks is dropped, and a save is an atomic, fsynced replace."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dnsctl.core import codec
from dnsctl.core.model import DnsctlSpec, EndpointSpec, MonitorSpec, Override, ProfileSpec
from dnsctl.core.state import ProfileState
from dnsctl.errors import StateError
from dnsctl.process.clock import SystemClock
from dnsctl.process.state_store import MAX_STATE_BYTES, FileStore
from tests.support.clock import ManualClock

SPEC = DnsctlSpec(
    profiles=(
        ProfileSpec(
            name="myregistry",
            fqdn="myregistry.azurecr.io",
            endpoints=(
                EndpointSpec("eastus", "myregistry.eastus.geo.azurecr.io", 1),
                EndpointSpec("westeurope", "myregistry.westeurope.geo.azurecr.io", 2),
            ),
            monitor=MonitorSpec(fall=3, rise=2),
        ),
    )
)
PROFILE = SPEC.profiles[0]
DRAINED = ProfileState(started_at=1000.0, overrides={"eastus": Override.DOWN})
ASIDE = "state.json.corrupt-20231114T221320Z"  # ManualClock's start, in UTC


def good_document() -> str:
    return codec.encode_document(SPEC, {"myregistry": DRAINED})


def _symlink_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("x")


BAD: dict[str, Callable[[Path], None]] = {
    "empty": lambda p: p.write_bytes(b""),
    "whitespace": lambda p: p.write_bytes(b" \n\n"),
    "truncated": lambda p: p.write_text(good_document()[:25]),
    "garbage": lambda p: p.write_bytes(os.urandom(64) + b"\xff"),
    "not an object": lambda p: p.write_text("[1, 2, 3]"),
    "deeply nested": lambda p: p.write_text("[" * 200_000 + "]" * 200_000),
    "nested in an entry": lambda p: p.write_text(json.dumps({"myregistry": "[" * 100_000})),
    "an entry not a string": lambda p: p.write_text('{"myregistry": {"v": 1}}'),
    "an unreadable entry": lambda p: p.write_text('{"myregistry": "{\\"v\\": 1, \\"e\\": 7}"}'),
    "too large": lambda p: p.write_bytes(b" " * (MAX_STATE_BYTES + 10) + b"{}"),
    "a directory": _directory,
    "a link to /dev/zero": _symlink_to_dev_zero,
    "a fifo": _fifo,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_state_file_is_moved_aside_and_fresh_state_is_saved_beside_it(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "state.json"
    BAD[case](path)
    before = sorted(os.listdir(tmp_path))
    store = FileStore(path, clock=ManualClock())
    loaded = store.load(SPEC, {})
    assert loaded.states == {}
    assert store.problem is not None and str(path) in store.problem and "moved aside" in store.problem
    aside = tmp_path / ASIDE
    assert store.moved_to == aside and os.path.lexists(aside), "the bad file is kept for a post-mortem"
    assert not os.path.lexists(path)
    assert store.describe().problem == store.problem
    # What is saved next lands in a new, good file; the bad one stays where it was put.
    store.save(SPEC, {"myregistry": DRAINED})
    assert sorted(os.listdir(tmp_path)) == sorted({*before, ASIDE, "state.json"})
    again = FileStore(path, clock=ManualClock()).load(SPEC, {})
    assert again.states["myregistry"].overrides == {"eastus": Override.DOWN}


def test_two_bad_files_in_one_second_do_not_collide(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    clock = ManualClock()
    for _ in range(2):
        path.write_text("garbage")
        FileStore(path, clock=clock).load(SPEC, {})
    assert sorted(os.listdir(tmp_path)) == [ASIDE, f"{ASIDE}-2"]


def test_a_missing_file_is_no_history_and_no_problem(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "state.json", clock=SystemClock())
    assert store.load(SPEC, {}).states == {}
    assert store.problem is None and os.listdir(tmp_path) == []


def test_a_dry_run_reports_a_bad_file_but_leaves_it_and_never_saves_over_it(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("garbage")
    store = FileStore(path, read_only=True, clock=SystemClock())
    assert store.load(SPEC, {}).states == {}
    assert store.problem is not None and "left as it is" in store.problem
    with pytest.raises(StateError):
        store.save(SPEC, {"myregistry": DRAINED})
    assert path.read_text() == "garbage"


@contextlib.contextmanager
def frozen_directory(directory: Path) -> Iterator[None]:
    """A directory nothing can be renamed in (like a read-only mount), for root and for others."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(directory)]).returncode:
            pytest.skip("cannot make a directory immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        return
    directory.chmod(0o555)
    try:
        yield
    finally:
        directory.chmod(0o755)


def test_a_bad_file_that_cannot_be_moved_is_reported_and_never_saved_over(tmp_path: Path) -> None:
    home = tmp_path / "state"
    home.mkdir()
    path = home / "state.json"
    path.write_text("garbage")
    with frozen_directory(home):
        store = FileStore(path, clock=SystemClock())
        assert store.load(SPEC, {}).states == {}
        assert store.blocked and store.problem is not None and "could not be moved aside" in store.problem
        with pytest.raises(StateError, match="not saving"):
            store.save(SPEC, {"myregistry": DRAINED})
    assert path.read_text() == "garbage" and os.listdir(home) == ["state.json"]


def test_what_the_configuration_lacks_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    evil = json.dumps(
        {
            "v": 1,
            "st": 1000,
            "e": {"eastus": {"s": "O"}, "gone": {"s": "O"}},
            "d": {"k": "all-down", "e": [], "fb": "evil.example", "t": 1000},
        }
    )
    path.write_text(json.dumps({"myregistry": evil, "removed-profile": evil}))
    store = FileStore(path, clock=SystemClock())
    loaded = store.load(SPEC, {})
    st = loaded.states["myregistry"]
    assert st.decision is None, "a fallback target the configuration lacks is never served"
    assert set(st.endpoints) == {"eastus"}
    text = "\n".join(loaded.warnings)
    assert "evil.example" in text and "'gone'" in text and "'removed-profile'" in text
    assert store.problem is None and path.exists(), "a readable file with extra things is not corrupt"


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    store = FileStore(path, clock=SystemClock())
    store.save(SPEC, {"myregistry": DRAINED})
    store.save(SPEC, {"myregistry": ProfileState(started_at=1000.0)})
    assert os.listdir(path.parent) == ["state.json"]
    doc = json.loads(path.read_text())
    assert codec.decode(PROFILE, doc["myregistry"]).state.overrides == {}


def test_an_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path, clock=SystemClock())
    store.save(SPEC, {"myregistry": DRAINED})
    first = path.stat().st_ino
    store.save(SPEC, {"myregistry": DRAINED})
    assert path.stat().st_ino == first
