"""A dnsctl daemon (`serve` or `run`) as a real process, with bounded waits on its admin API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import dns.exception
import httpx

from tests.e2e.harness import REPO, TOKEN

T = TypeVar("T")


class Daemon:
    def __init__(self, *args: str, admin_port: int, env: dict[str, str] | None = None, log: Path) -> None:
        self.args = args
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.env = {**os.environ, "DNSCTL_AZURE_TOKEN": TOKEN, **(env or {})}
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dnsctl", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=self._log,
        )
        self.wait_until(lambda: self.get("/healthz").status_code == 200, 20, "the admin API to answer")
        return self

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.admin + path, timeout=5)

    def post(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.admin + path, headers=headers, timeout=5)

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.get("/status").json()
        return doc

    def wait_until(self, check: Callable[[], T], limit: float, what: str) -> T:
        deadline = time.monotonic() + limit
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"dnsctl exited ({self.proc.returncode}) waiting for {what}:\n{self.log()}"
                )
            try:
                value = check()
                if value:
                    return value
            except (
                httpx.HTTPError,
                OSError,
                dns.exception.DNSException,
                KeyError,
                IndexError,
                TypeError,
            ) as e:
                last_error = e
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {limit}s waiting for {what} ({last_error}):\n{self.log()[-4000:]}"
        )

    def terminate(self, timeout: float = 15) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self._log.closed:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
