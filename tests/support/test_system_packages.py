"""The programs the tests run are installed when missing; when that cannot be done, the error says why."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import system_packages
from tests.support.system_packages import SystemProgramMissing, ensure_command

ABSENT = "dnsctl-test-absent-program"


@pytest.fixture
def absent_program() -> Iterator[str]:
    """A program no package provides, listed as provided by a package no archive has."""
    system_packages.PACKAGES[ABSENT] = "dnsctl-test-absent-package"
    try:
        yield ABSENT
    finally:
        del system_packages.PACKAGES[ABSENT]


def test_a_program_in_sbin_is_found_when_path_lacks_sbin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a non-root user's PATH; nsd lives in /usr/sbin
    monkeypatch.setattr(system_packages, "_found", {})
    path = ensure_command("nsd")
    assert path.endswith("/sbin/nsd") and os.access(path, os.X_OK)


def test_a_program_without_a_known_package_is_named() -> None:
    with pytest.raises(SystemProgramMissing) as raised:
        ensure_command("dnsctl-test-unlisted-program")
    assert str(raised.value).startswith("dnsctl-test-unlisted-program: not installed, and no Debian package")
    assert "PACKAGES in tests/support/system_packages.py" in str(raised.value)


def test_without_root_the_error_says_so_and_names_the_package(absent_program: str) -> None:
    assert os.geteuid() == 0, "the suite runs as root (it installs packages and runs containerd)"
    os.seteuid(65534)  # nobody, for this call only (the real uid stays root)
    try:
        with pytest.raises(SystemProgramMissing) as raised:
            ensure_command(absent_program)
    finally:
        os.seteuid(0)
    message = str(raised.value)
    assert f"the tests run {absent_program}, not installed here" in message
    assert "needs root" in message and "apt-get install dnsctl-test-absent-package" in message


def test_a_failed_install_shows_the_end_of_apt_output(absent_program: str) -> None:
    policy = system_packages.POLICY_RC_D
    before = policy.read_bytes() if policy.exists() else None
    with pytest.raises(SystemProgramMissing) as raised:
        ensure_command(absent_program)
    message = str(raised.value)
    assert message.startswith("apt-get install dnsctl-test-absent-package failed (exit 100):\n")
    assert "Unable to locate package dnsctl-test-absent-package" in message
    # The host's policy-rc.d as it was: its own kept, the install's removed.
    assert (policy.read_bytes() if policy.exists() else None) == before
