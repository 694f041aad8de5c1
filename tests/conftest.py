"""Fixtures shared by several test packages, and how many pytest-xdist workers run the suite."""

from __future__ import annotations

import os

import pytest
import trustme

# Opt-in: DNSCTL_COUNT_SLEEPS=1 (or --count-sleeps) counts the tests that sleep on the real clock.
# `@pytest.mark.alone`: no other test runs meanwhile on the other pytest-xdist workers.
pytest_plugins = ["tests.support.sleep_count", "tests.support.alone"]

# The suite runs in parallel (`--numprocesses=auto --dist=loadgroup` in pyproject.toml). Its tests mostly
# wait for processes they started (dnsctl, BIND, containerd, Azurite, ...), so a worker more than the cores
# pays off; on 2 cores a fourth did not (the run was CPU-bound: 444 s against 415 s with three).
EXTRA_WORKERS = 1
MAX_WORKERS = 6


def auto_workers(cores: int) -> int:
    return max(1, min(cores + EXTRA_WORKERS, MAX_WORKERS))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: the number of workers for the cores this process may run on."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return auto_workers(len(usable))


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # `pytest -p no:xdist` runs serially: pyproject's addopts (--numprocesses, --dist) are then accepted
    # and ignored, instead of being refused as unknown options.
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist is not loaded: the tests run serially")
        group.addoption("--numprocesses", dest="numprocesses", default=None, help="ignored")
        group.addoption("--dist", dest="dist", default="no", help="ignored")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): tests run on one pytest-xdist worker")


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority (trustme) for servers the tests run over TLS."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
