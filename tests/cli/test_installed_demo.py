"""The demo from an installed wheel, run outside the repository: the lab configuration is in the package."""

from __future__ import annotations

import os
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from dnsctl.demo import lab_config
from tests.support.waits import run_process

REPO = Path(__file__).resolve().parents[2]

# One build of the wheel: `pip wheel` builds in the repository (build/, *.egg-info), so two parallel
# workers must not each run the module's fixtures.
pytestmark = pytest.mark.xdist_group("installed-wheel")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No build isolation: the build tools come from the test environment, so nothing is downloaded.
    run_process(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed; dnsctl's dependencies are borrowed from this environment."""
    root = tmp_path_factory.mktemp("venv")
    run_process([sys.executable, "-m", "venv", str(root)], check=True, timeout=300, capture_output=False)
    python = root / "bin" / "python"
    run_process(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # A plain path entry, not this environment's site directory: its editable-install hook (which
    # maps `dnsctl` to the repository) is not run, so `dnsctl` can only come from the wheel.
    site = run_process(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


def test_the_wheel_has_the_distribution_name_and_carries_the_lab_configuration(wheel: Path) -> None:
    assert wheel.name.startswith("dnsctl_failover-")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("dnsctl/demo/lab.yaml").decode() == lab_config.text()
        metadata = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        assert "Name: dnsctl-failover" in zf.read(metadata).decode().splitlines()
        entry_points = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        assert "dnsctl = dnsctl.cli.main:main" in zf.read(entry_points).decode()


def test_the_installed_demo_runs_to_completion_from_any_directory(venv: Path, tmp_path: Path) -> None:
    dnsctl = venv / "bin" / "dnsctl"
    where = run_process(
        [venv / "bin" / "python", "-c", "import dnsctl; print(dnsctl.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), f"dnsctl was imported from {where}, not from the wheel"

    printed = run_process(
        [dnsctl, "demo", "--print-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0 and printed.stdout == lab_config.text()

    # The packaged configuration as it is, with the resolver and admin ports left to the system so
    # that this test cannot collide with anything already listening on 5353 or 9153.
    env = {
        **os.environ,
        "DNSCTL_RESOLVER__LISTEN": '["127.0.0.1:0"]',
        "DNSCTL_ADMIN__LISTEN": "127.0.0.1:0",
    }
    env.pop("DNSCTL_CONFIG", None)
    proc = run_process([dnsctl, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failover to westeurope took" in proc.stdout
    assert "demo complete: DNS followed the replica's health both ways" in proc.stdout
    assert list(tmp_path.iterdir()) == [], "the demo must not need or leave files in the working directory"
