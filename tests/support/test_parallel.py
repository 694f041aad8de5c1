"""The suite runs in parallel (pytest-xdist): workers never hand out the same port, the sleep counter
adds up every worker's part, and `-p no:xdist` still runs serially."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import auto_workers
from tests.e2e.harness import REPO
from tests.support.waits import run_process

PORTS_PER_WORKER = 500
HAND_OUT = f"""
from tests.e2e.harness import free_port
print(" ".join(str(free_port()) for _ in range({PORTS_PER_WORKER})))
"""


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DNSCTL_COUNT_SLEEPS"))}
    return {**environ, "PYTHONPATH": str(REPO), **extra}


def test_two_workers_never_hand_out_the_same_port() -> None:
    handed: list[set[int]] = []
    for worker in ("gw0", "gw1"):
        environ = _environ(PYTEST_XDIST_WORKER=worker, PYTEST_XDIST_WORKER_COUNT="2")
        done = run_process([sys.executable, "-c", HAND_OUT], env=environ, cwd=REPO, timeout=120)
        assert done.returncode == 0, done.stderr
        handed.append({int(port) for port in done.stdout.split()})
    assert [len(ports) for ports in handed] == [PORTS_PER_WORKER] * 2
    assert not handed[0] & handed[1], "two workers hold the same ports"


def test_auto_workers_are_one_more_than_the_cores_at_most_six() -> None:
    assert [auto_workers(cores) for cores in (1, 2, 4, 16)] == [2, 3, 5, 6]


SLEEPY_TESTS = """
import time


def test_sleeps_once():
    time.sleep(0.01)


def test_sleeps_twice():
    time.sleep(0.01)
    time.sleep(0.02)


def test_never_sleeps():
    pass


def test_only_yields():
    time.sleep(0)
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_sleep_counter_counts_every_workers_tests(tmp_path: Path, workers: str) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.support.sleep_count"]\n')
    (tmp_path / "test_sleepy.py").write_text(SLEEPY_TESTS)
    counted = tmp_path / "sleeps.json"
    environ = _environ(DNSCTL_COUNT_SLEEPS="1", DNSCTL_COUNT_SLEEPS_JSON=str(counted))
    done = run_process(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers, "test_sleepy.py"],
        env=environ,
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 4 tests (50.0%) slept on the real clock" in done.stdout
    data = json.loads(counted.read_text())
    assert (data["tests"], data["sleeping"]) == (4, 2)
    assert {nodeid: entry["calls"] for nodeid, entry in data["by_test"].items()} == {
        "test_sleepy.py::test_sleeps_once": 1,
        "test_sleepy.py::test_sleeps_twice": 2,
    }
    assert data["by_test"]["test_sleepy.py::test_sleeps_twice"]["seconds"] == pytest.approx(0.03)


def test_without_xdist_the_suite_runs_serially() -> None:
    done = run_process(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "tests/support/test_clock.py",
        ],
        env=_environ(),
        cwd=REPO,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout and "gw0" not in done.stdout


BUSY_TESTS = """
import json
import os
import time

import pytest


def busy(name):
    started = time.monotonic()
    time.sleep(0.5)  # the work the test does
    with open(os.path.join(os.environ["RECORD"], name), "w") as out:
        json.dump([started, time.monotonic()], out)


@pytest.mark.alone
def test_alone():
    busy("alone")


@pytest.mark.parametrize("n", range(6))
def test_side_by_side(n):
    busy(f"side-{n}")
"""


def test_a_test_marked_alone_runs_while_no_other_test_does(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.support.alone"]\n')
    (tmp_path / "test_busy.py").write_text(BUSY_TESTS)
    record = tmp_path / "record"
    record.mkdir()
    done = run_process(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3", "test_busy.py"],
        env=_environ(RECORD=str(record)),
        cwd=tmp_path,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ran = {path.name: json.loads(path.read_text()) for path in record.iterdir()}
    assert len(ran) == 7
    start, end = ran.pop("alone")
    overlapping = {name for name, (s, e) in ran.items() if s < end and start < e}
    assert not overlapping, f"ran beside the test marked alone: {sorted(overlapping)}"
