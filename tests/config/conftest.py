from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_dnsctl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`DNSCTL_*` variables override the file; the caller's own must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("DNSCTL_"):
            monkeypatch.delenv(name)
