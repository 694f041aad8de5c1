"""Bounded waits on events, never on the clock: a child's exit, a child's output, something observed.

A test that waits for a real process re-checks its condition each time something it can observe happens
(a line the child wrote, a request one of the test's in-process servers answered, the child's exit), never
on a timer; every wait has a deadline, and a child that exits while it is awaited fails the wait at once.
A child that writes its own log file is watched the same way: `wait_in_file` re-checks on each write to
the file (Linux inotify) and on the child's exit (its pidfd).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import select
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

T = TypeVar("T")


class Activity:
    """A counter bumped by everything a test can observe happening; waiters re-check on each bump."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        with self._changed:
            return self._count

    def bump(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_past(self, seen: int, timeout: float) -> bool:
        """Until something happened after `seen` was read, or `timeout` passed."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count != seen, max(timeout, 0.0))


ACTIVITY = Activity()

# What a failed check may raise while the thing awaited is not there yet (a refused connection, a DNS
# timeout, a document without the key yet).
NOT_YET: tuple[type[BaseException], ...] = (OSError, KeyError, IndexError, TypeError, ValueError)


def wait_until(
    check: Callable[[], T | Literal[False] | None],
    limit: float,
    what: str,
    *,
    proc: subprocess.Popen[Any] | None = None,
    log: Callable[[], str] = lambda: "",
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
) -> T:
    """The first true value of `check`, re-checked whenever ACTIVITY moves; fails after `limit` seconds
    or as soon as `proc` exits, with the tail of `log()`."""
    return _checked(check, limit, what, proc, log, not_yet, lambda: ACTIVITY.count, ACTIVITY.wait_past)


def _checked(
    check: Callable[[], T | Literal[False] | None],
    limit: float,
    what: str,
    proc: subprocess.Popen[Any] | None,
    log: Callable[[], str],
    not_yet: tuple[type[BaseException], ...],
    mark: Callable[[], int],
    pause: Callable[[int, float], object],
) -> T:
    """The loop of the waits: `check` until true, `pause(mark(), remaining)` between checks (the mark
    taken before the check, so that what happens during it ends the pause)."""
    deadline = time.monotonic() + limit
    last_error: BaseException | None = None
    while True:
        seen = mark()
        # Whether it had exited before the check: a child may write what is awaited and exit at once.
        exited = proc is not None and proc.poll() is not None
        try:
            value = check()
            if value:
                return value
        except not_yet as e:
            last_error = e
        if exited:
            assert proc is not None
            raise AssertionError(
                f"the process exited ({proc.returncode}) waiting for {what}:\n{log()[-4000:]}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                f"timed out after {limit}s waiting for {what} ({last_error}):\n{log()[-4000:]}"
            )
        pause(seen, remaining)


async def turns_until(
    check: Callable[[], T | Literal[False] | None], limit: float, what: str, *, turns: int = 1_000_000
) -> T:
    """For code under test on this event loop whose waits are on a run-through ManualClock (so it only
    needs turns of the loop, never time): the first true value of `check`, re-checked after each turn;
    fails after `turns` turns or `limit` seconds."""
    deadline = time.monotonic() + limit
    for _ in range(turns):
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0)
    raise AssertionError(f"{what} did not happen within {turns} turns of the loop or {limit}s")


def wait_exit(proc: subprocess.Popen[Any], timeout: float) -> int:
    """The exit code of `proc`, waiting on its pidfd (no polling); TimeoutExpired after `timeout`."""
    if proc.poll() is not None:
        return proc.returncode
    fd = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


def run_process(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float = 120.0,
    capture_output: bool = True,
    text: bool = True,
    check: bool = False,
    input: str | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(args, capture_output=True, text=True, timeout=...)` without its polling wait:
    the pipes are read as they become readable and the exit is awaited on the process's pidfd."""
    assert text, "run_process decodes the output as text"
    deadline = time.monotonic() + timeout
    pipe = subprocess.PIPE if capture_output else None
    stdin = subprocess.PIPE if input is not None else popen.pop("stdin", None)
    proc = subprocess.Popen(args, stdin=stdin, stdout=pipe, stderr=pipe, **popen)
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    fds = [s.fileno() if s is not None else None for s in (proc.stdout, proc.stderr)]
    out: dict[int, bytearray] = {s.fileno(): bytearray() for s in streams}
    try:
        with selectors.DefaultSelector() as sel:
            for stream in streams:
                os.set_blocking(stream.fileno(), False)
                sel.register(stream, selectors.EVENT_READ)
            if input is not None:
                assert proc.stdin is not None
                _feed(proc.stdin, input.encode())
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        out[key.fd] += chunk
                    else:
                        sel.unregister(key.fileobj)
        code = wait_exit(proc, deadline - time.monotonic())
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        for stream in streams:
            stream.close()
    stdout, stderr = (bytes(out[fd]).decode(errors="replace") if fd is not None else None for fd in fds)
    if check and code != 0:
        raise subprocess.CalledProcessError(code, proc.args, stdout, stderr)
    return subprocess.CompletedProcess(proc.args, code, stdout, stderr)


def _feed(stdin: IO[bytes], data: bytes) -> None:
    try:
        stdin.write(data)
        stdin.close()
    except BrokenPipeError:
        pass


class OutputLog:
    """A child's stdout and stderr, copied line by line to `path` by a reader thread; each line (and the
    end of the output) bumps ACTIVITY, so waits re-check on what the child says."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.path = path
        self._stream = stream
        self._file = path.open("ab")
        self._thread = threading.Thread(target=self._copy, name=f"output of {path.name}", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            for line in iter(self._stream.readline, b""):
                self._file.write(line)
                self._file.flush()
                ACTIVITY.bump()
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the child is gone
        finally:
            self._file.close()
            ACTIVITY.bump()

    def text(self) -> str:
        return self.path.read_text(errors="replace")

    def close(self, timeout: float = 10) -> None:
        """After the child exited: the rest of its output copied (the pipe's end closes the file)."""
        self._thread.join(timeout)

    def wait_for(
        self, pattern: str, limit: float, proc: subprocess.Popen[Any] | None = None
    ) -> re.Match[str]:
        return wait_until(
            lambda: re.search(pattern, self.text()), limit, repr(pattern), proc=proc, log=self.text
        )


_IN_MODIFY, _IN_CLOSE_WRITE = 0x2, 0x8
_LIBC = ctypes.CDLL(None, use_errno=True)


class FileWrites:
    """Each write to one file as an event (Linux inotify), and a child's exit (its pidfd)."""

    def __init__(self, path: Path, proc: subprocess.Popen[Any] | None = None) -> None:
        self.path = path
        fd = _LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"inotify_init1 for {path}")
        self._fds = [fd]
        if _LIBC.inotify_add_watch(fd, os.fsencode(path), _IN_MODIFY | _IN_CLOSE_WRITE) < 0:
            error = ctypes.get_errno()
            os.close(fd)
            raise OSError(error, f"inotify_add_watch {path}")
        if proc is not None and proc.poll() is None:
            self._fds.append(os.pidfd_open(proc.pid))

    def wait(self, timeout: float) -> None:
        """Until the file is written (since the last wait) or the child exits, at most `timeout` s."""
        ready, _, _ = select.select(self._fds, [], [], max(timeout, 0.0))
        if self._fds[0] in ready:
            try:
                while os.read(self._fds[0], 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def wait_in_file(
    path: Path,
    check: Callable[[], T | Literal[False] | None],
    limit: float,
    what: str,
    *,
    proc: subprocess.Popen[Any] | None = None,
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
) -> T:
    """`wait_until` for a child that writes `path` itself: the first true value of `check`, re-checked
    each time the file is written; fails after `limit` seconds or as soon as `proc` exits, with the
    file's tail. The file must exist (the caller opens it for the child)."""
    writes = FileWrites(path, proc)
    try:
        return _checked(
            check,
            limit,
            what,
            proc,
            lambda: path.read_text(errors="replace"),
            not_yet,
            lambda: 0,
            lambda _, remaining: writes.wait(remaining),
        )
    finally:
        writes.close()


def text_since(path: Path, offset: int) -> str:
    """What was written to `path` after its first `offset` bytes."""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")
