"""Fixtures shared by several test packages."""

from __future__ import annotations

import pytest
import trustme

# Opt-in: DNSCTL_COUNT_SLEEPS=1 (or --count-sleeps) counts the tests that sleep on the real clock.
pytest_plugins = ["tests.support.sleep_count"]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority (trustme) for servers the tests run over TLS."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
