"""The distribution has a name of its own, and every install line in the kit uses it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAME = "dnsctl-failover"
INSTALL_DOCS = [
    REPO / "README.md",
    REPO / "deploy" / "README.md",
    REPO / "deploy" / "systemd" / "dnsctl-serve.service",
    REPO / "deploy" / "docker" / "Dockerfile",
]


def test_the_project_is_named_dnsctl_failover_and_still_installs_the_dnsctl_command() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == NAME
    assert project["scripts"] == {"dnsctl": "dnsctl.cli.main:main"}


@pytest.mark.parametrize("path", INSTALL_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_install_line_names_the_unrelated_dnsctl_distribution(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # `pip install dnsctl`, `'dnsctl[fast]'` or a dnsctl-*.whl glob would fetch or miss the wrong thing.
    assert not re.search(r"pip install[^\n]*['\" ]dnsctl(\[|['\" ]|$)", text, re.M), path
    assert "dnsctl-*.whl" not in text


def test_the_dockerfile_installs_the_wheel_the_build_stage_makes() -> None:
    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text(encoding="utf-8")
    # A wheel's file name spells the distribution with an underscore.
    assert f"/dist/{NAME.replace('-', '_')}-*.whl" in text


def test_the_readme_says_how_to_install_from_the_repository_and_the_image() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^pip install \.\s", text, re.M)
    assert re.search(rf"^pip install {NAME}\s", text, re.M)
    assert "docker build -f deploy/docker/Dockerfile" in text and "docker run --rm dnsctl demo" in text
    # The README's first two commands stay as they were (CI runs the second one verbatim).
    first, second = [line for line in text.splitlines() if line.startswith("python3 -m venv .venv")][:2]
    assert first == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/dnsctl demo"
    assert second in (REPO / ".ci" / "run").read_text(encoding="utf-8")
