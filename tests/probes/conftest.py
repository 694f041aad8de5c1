"""Fixtures for probe tests: trustme certificates (the servers come from tests.support.registry)."""

from __future__ import annotations

import pytest

from tests.support.registry import RegistryPki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> RegistryPki:
    return RegistryPki(tmp_path_factory.mktemp("pki"))
