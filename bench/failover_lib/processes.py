"""Child processes that are always cleaned up, and the loopback ports they listen on."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]


class Child:
    """A child process with a line reader on its stdout that never blocks past a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def readline(self, timeout: float) -> str:
        """The next stdout line; RuntimeError if none comes within `timeout` or the process exits."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name} printed no line within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited (code {self.proc.poll()})")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace").strip()

    def wait_for_line(self, prefix: str, timeout: float = 20.0) -> str:
        """The first stdout line starting with `prefix`; earlier lines are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line.startswith(prefix):
                return line

    def send(self, line: str, timeout: float = 10.0) -> str:
        """Write one command line to stdin and return the answer line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self.readline(timeout)

    @property
    def name(self) -> str:
        args = [str(a) for a in self.proc.args] if isinstance(self.proc.args, list) else [str(self.proc.args)]
        return " ".join(Path(a).name if i < 2 else a for i, a in enumerate(args[:4]))


class Children:
    """Every process the bench starts, so that an exception or Ctrl-C still stops them all."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def spawn(
        self, args: Sequence[str], *, log: Path | None = None, stdin: bool = False, cwd: Path = REPO
    ) -> Child:
        err: IO[bytes] | int = subprocess.DEVNULL
        if log is not None:
            err = log.open("ab")
        try:
            proc = subprocess.Popen(
                list(args),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=cwd,
            )
        finally:
            if not isinstance(err, int):
                err.close()  # the child holds its own copy
        child = Child(proc)
        self._children.append(child)
        return child

    def stop(self, child: Child, *, timeout: float = 10.0) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it does not go."""
        proc = child.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(ValueError):
            self._children.remove(child)

    def kill(self, child: Child) -> None:
        """SIGKILL: the way a crashed replica goes (its port refuses connections at once)."""
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        child.proc.wait(5)
        self.stop(child)

    def stop_all(self) -> None:
        for child in list(reversed(self._children)):  # the servers before the replicas they probe
            self.stop(child, timeout=5.0)


def free_port(hosts: Sequence[str] = ("127.0.0.1",)) -> int:
    """A port free for TCP and UDP on every one of `hosts` right now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        socks: list[socket.socket] = []
        try:
            for host in hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port found on " + ", ".join(hosts))
