"""Programs the tests run, installed from their Debian packages when they are missing.

    ensure_command("zsh")                    # its path; apt-get installs the package first if needed
    ensure_commands("nsd", "unbound")        # {"nsd": "/usr/sbin/nsd", ...}, one apt-get for all

PACKAGES names every program a test runs and the package that provides it. A missing one is installed
as root with apt-get, once per machine: a file lock serialises parallel test processes, and apt waits
for any other installer's dpkg lock. The tests start every server themselves, on loopback ports with
their own configuration, so the packages' services must not run (unbound would take port 53): when the
host has no policy-rc.d, one that refuses every start is in place for the install, and on a systemd host
the services of the packages it installed are stopped and disabled afterwards.

A failure says what went wrong (not root, no apt-get, apt-get's own error): these tests never skip.
`python3 -m tests.support.system_packages` installs every missing one at once (.ci/run does, first).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.waits import run_process

# Each program a test runs -> the Debian package that provides it.
PACKAGES: dict[str, str] = {
    # Azurite (the Azure Storage emulator) for the HA tests, which their fixture installs with npm
    "node": "nodejs",
    "npm": "npm",
    # the resolver's differential test: an authoritative server, a reference resolver, zone signing
    "nsd": "nsd",
    "nsd-checkconf": "nsd",
    "unbound": "unbound",
    "ldns-keygen": "ldnsutils",
    "ldns-signzone": "ldnsutils",
    # the completion tests load the generated scripts in real shells
    "bash": "bash",
    "zsh": "zsh",
    "fish": "fish",
    # the node mirror tests: real registries, a real containerd, skopeo for the CRI-O format
    "containerd": "containerd",
    "ctr": "containerd",
    "docker-registry": "docker-registry",
    "skopeo": "skopeo",
    # the resolver behind other forwarding resolvers
    "dnsmasq": "dnsmasq-base",
    # the monitoring kit's alert rules are checked and unit-tested with promtool
    "promtool": "prometheus",
    # the RFC 2136 target against real primaries: BIND 9, Knot, PowerDNS (bind backend)
    "named": "bind9",
    "knotd": "knot",
    "pdns_server": "pdns-server",
    "pdnsutil": "pdns-server",
    "named-checkconf": "bind9-utils",
    "knotc": "knot",
    # a file rather than a program (a name starting with "/"): the sqlite3 backend, which takes updates
    "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql": "pdns-backend-sqlite3",
}
# The services those packages would run; the tests never use them.
SERVICES: dict[str, str] = {
    "nsd": "nsd.service",
    "unbound": "unbound.service",
    "containerd": "containerd.service",
    "docker-registry": "docker-registry.service",
    "prometheus": "prometheus.service",
    "bind9": "named.service",
    "knot": "knot.service",
    "pdns-server": "pdns.service",
}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
LOCK_FILE = Path.home() / ".cache" / "dnsctl-test" / "apt.lock"
DPKG_LOCK_TIMEOUT = 600  # seconds apt-get waits for another installer
APT_TIMEOUT = 1800.0
OUTPUT_TAIL = 20


class SystemProgramMissing(RuntimeError):
    """A program the tests run is missing and could not be installed; the message says why."""


_found: dict[str, str] = {}
_guard = threading.Lock()
_updated = False


def ensure_command(name: str) -> str:
    """The path of program `name`, installing its package first when it is missing."""
    return ensure_commands(name)[name]


def ensure_commands(*names: str) -> dict[str, str]:
    """The path of each program, installing the packages of the missing ones first (one apt-get)."""
    with _guard:
        missing = [name for name in names if not _look(name)]
        if missing:
            _install(missing)
        return {name: _found[name] for name in names}


def _look(name: str) -> bool:
    if name not in _found:
        if name.startswith("/"):
            path: str | None = name if Path(name).exists() else None
        else:
            path = shutil.which(name) or shutil.which(name, path=SEARCH_PATH)
        if path is None:
            return False
        _found[name] = path
    return True


def _install(missing: list[str]) -> None:
    unknown = [name for name in missing if name not in PACKAGES]
    if unknown:
        raise SystemProgramMissing(
            f"{', '.join(unknown)}: not installed, and no Debian package is known for it "
            "(add it to PACKAGES in tests/support/system_packages.py)"
        )
    packages = sorted({PACKAGES[name] for name in missing})
    what = f"the tests run {', '.join(missing)}, not installed here (Debian: {' '.join(packages)})"
    if os.geteuid() != 0:
        raise SystemProgramMissing(
            f"{what}; installing it needs root: run the tests as root, or install it first "
            f"(apt-get install {' '.join(packages)})"
        )
    apt_get = shutil.which("apt-get") or shutil.which("apt-get", path=SEARCH_PATH)
    if apt_get is None:
        raise SystemProgramMissing(
            f"{what}, and there is no apt-get to install it: install it with the system's package manager"
        )
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Another test process may have installed them while this one waited.
        missing = [name for name in missing if not _look(name)]
        if not missing:
            return
        packages = sorted({PACKAGES[name] for name in missing})
        _apt_install(apt_get, packages)
    still = [name for name in missing if not _look(name)]
    if still:
        raise SystemProgramMissing(
            f"apt-get installed {' '.join(packages)} but {', '.join(still)} is still not found "
            f"(PATH and {SEARCH_PATH} searched)"
        )


def _apt_install(apt_get: str, packages: list[str]) -> None:
    global _updated
    env = {
        **os.environ,
        "DEBIAN_FRONTEND": "noninteractive",
        "PATH": f"{os.environ.get('PATH', '')}:{SEARCH_PATH}".strip(":"),
    }
    wait = ["-o", f"DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT}"]
    own_policy = not POLICY_RC_D.exists()
    if own_policy:
        POLICY_RC_D.write_text("#!/bin/sh\n# dnsctl tests: no service starts while they install\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        if not _updated:
            _apt(apt_get, ["update", "-q", *wait], env, "apt-get update")
            _updated = True
        install = ["install", "-y", "-q", "--no-install-recommends", *wait, *packages]
        _apt(apt_get, install, env, f"apt-get install {' '.join(packages)}")
    finally:
        if own_policy:
            POLICY_RC_D.unlink(missing_ok=True)
    # A systemd host may have started them anyway (a policy-rc.d is not consulted by every path).
    services = [SERVICES[p] for p in packages if p in SERVICES]
    systemctl = shutil.which("systemctl", path=SEARCH_PATH)
    if services and systemctl and Path("/run/systemd/system").is_dir():
        run_process([systemctl, "disable", "--now", *services], capture_output=True, timeout=120, check=False)


def _apt(apt_get: str, args: list[str], env: dict[str, str], what: str) -> None:
    # DPkg::Lock::Timeout covers the dpkg lock; the package lists' lock (apt-get update) is waited for here.
    deadline = time.monotonic() + DPKG_LOCK_TIMEOUT
    while True:
        try:
            done = run_process(
                [apt_get, *args], capture_output=True, text=True, env=env, timeout=APT_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise SystemProgramMissing(f"{what} took more than {APT_TIMEOUT:g} s (network?)") from None
        output = (done.stdout + done.stderr).strip()
        if done.returncode == 0:
            return
        if "Could not get lock" in output and time.monotonic() < deadline:
            time.sleep(2)
            continue
        tail = "\n".join(output.splitlines()[-OUTPUT_TAIL:])
        raise SystemProgramMissing(f"{what} failed (exit {done.returncode}):\n{tail}")


def main() -> int:
    try:
        ensure_commands(*PACKAGES)
    except SystemProgramMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
