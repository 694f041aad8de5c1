"""Azurite (Microsoft's Azure Storage emulator) for tests: installed once with npm, started on loopback.

    binary = ensure_azurite()                  # npm install into a cache dir reused across runs
    with Azurite(binary, workdir) as azurite:  # ephemeral port, no telemetry, in-memory data
        azurite.connection_string, azurite.blob_url("container", "blob")

The install dir is $DNSCTL_TEST_AZURITE_DIR or ~/.cache/dnsctl-test/azurite; $AZURITE_BLOB may name an
existing `azurite-blob` executable instead. A failure says what went wrong: these tests never skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.system_packages import SystemProgramMissing, ensure_commands
from tests.support.waits import run_process, wait_exit, wait_in_file

# Azurite's well-known development account (public, documented by Microsoft; not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PACKAGE = "azurite@3"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"successfully listens on (https?)://127\.0\.0\.1:(\d+)")


class AzuriteUnavailable(RuntimeError):
    """Azurite could not be installed or started; the message says why and what to check."""


def install_dir() -> Path:
    configured = os.environ.get("DNSCTL_TEST_AZURITE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "dnsctl-test" / "azurite"


def ensure_azurite() -> Path:
    """The `azurite-blob` executable, installing it with npm on first use (serialised by a file lock)."""
    configured = os.environ.get("AZURITE_BLOB")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise AzuriteUnavailable(f"AZURITE_BLOB={configured} is not a file")
        return path
    prefix = install_dir()
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    prefix.mkdir(parents=True, exist_ok=True)
    # Parallel test runs (xdist workers, CI jobs on one host) must not run npm in one dir at once.
    with open(prefix / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        try:  # Node.js and npm, from their Debian packages when missing
            npm = ensure_commands("node", "npm")["npm"]
        except SystemProgramMissing as e:
            raise AzuriteUnavailable(f"{e}\n(or point AZURITE_BLOB at an azurite-blob executable)") from None
        try:
            done = run_process(
                [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(prefix), PACKAGE],
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AzuriteUnavailable(
                f"npm install {PACKAGE} took more than {INSTALL_TIMEOUT:g} s (network?)"
            ) from None
        if done.returncode != 0 or not binary.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise AzuriteUnavailable(
                f"npm install {PACKAGE} into {prefix} failed (exit {done.returncode}):\n{tail}"
            )
        return binary


class Azurite:
    """One azurite-blob process on 127.0.0.1 at an ephemeral port; stopped on exit."""

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        *,
        cert: tuple[str, str] | None = None,
        oauth: bool = False,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.cert = cert
        self.oauth = oauth
        self.scheme = "https" if cert else "http"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = workdir / "azurite.log"

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    def blob_url(self, container: str, blob: str) -> str:
        return f"{self.account_url}/{container}/{blob}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(self.workdir),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",  # otherwise it posts to applicationinsights.azure.com
        ]
        if self.cert:
            args += ["--cert", self.cert[0], "--key", self.cert[1]]
        if self.oauth:
            args += ["--oauth", "basic"]
        with open(self._log_path, "wb") as out:
            self._process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir
            )
        process, log_path = self._process, self._log_path
        with contextlib.suppress(AssertionError):  # exited or timed out: said below, with the log
            found = wait_in_file(
                log_path,
                lambda: _LISTENING.search(log_path.read_text(errors="replace")),
                START_TIMEOUT,
                "Azurite to listen",
                proc=process,
            )
            self.port = int(found.group(2))
            return
        exited = self._process.poll()
        log = self._log_path.read_text(errors="replace")[-2000:]
        self.stop()
        why = f"exited with {exited}" if exited is not None else f"did not listen within {START_TIMEOUT:g} s"
        raise AzuriteUnavailable(f"Azurite ({self.binary}) {why}:\n{log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            wait_exit(process, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            wait_exit(process, 10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
