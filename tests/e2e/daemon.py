"""A dnsctl daemon (`serve` or `run`) as a real process, with bounded waits on its admin API.

Waits re-check their condition on what can be observed (a line the daemon writes, a probe one of the
test's replicas answers, a webhook call), never on a timer: see tests/support/waits.py. What the daemon
does after the last such event (an answer published after the line that announced it) is seen at the
next one, within a probe interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import dns.exception
import httpx

from tests.e2e.harness import REPO, TOKEN
from tests.support.waits import NOT_YET, OutputLog, wait_exit
from tests.support.waits import wait_until as wait_for_event

T = TypeVar("T")


class Daemon:
    def __init__(self, *args: str, admin_port: int, env: dict[str, str] | None = None, log: Path) -> None:
        self.args = args
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.env = {**os.environ, "DNSCTL_AZURE_TOKEN": TOKEN, **(env or {})}
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        """Start the process without waiting for it (its output goes to the log)."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dnsctl", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        self._log = OutputLog(self.proc.stdout, self.log_path)

    def start(self) -> Self:
        self.spawn()
        try:
            self.wait_until(lambda: self.get("/healthz").status_code == 200, 20, "the admin API to answer")
        except BaseException:
            self.kill()  # a start that failed leaves no process behind (no __exit__ will stop it)
            raise
        return self

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.admin + path, timeout=5)

    def post(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.admin + path, headers=headers, timeout=5)

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.get("/status").json()
        return doc

    def wait_until(self, check: Callable[[], T | Literal[False] | None], limit: float, what: str) -> T:
        """The first true value of `check`, re-checked on each line the daemon writes and each request
        the test's servers answer; fails after `limit` seconds or as soon as the daemon exits."""
        return wait_for_event(
            check,
            limit,
            what,
            proc=self.proc,
            log=self.log,
            not_yet=(httpx.HTTPError, dns.exception.DNSException, *NOT_YET),
        )

    def terminate(self, timeout: float = 15) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return wait_exit(self.proc, timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            wait_exit(self.proc, 10)
        if self.proc is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()
