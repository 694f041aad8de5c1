"""The lab configuration `dnsctl demo` uses, shipped inside the package so that the demo runs anywhere."""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path

NAME = "lab.yaml"


def text() -> str:
    return resources.files(__package__).joinpath(NAME).read_text(encoding="utf-8")


def path() -> AbstractContextManager[Path]:
    """A real file with the lab configuration (a temporary copy if the package is not on disk)."""
    return resources.as_file(resources.files(__package__).joinpath(NAME))
