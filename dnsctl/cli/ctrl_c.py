"""Ctrl-C for a terminal loop (`status --watch`): a flag the loop checks, not a KeyboardInterrupt.

A KeyboardInterrupt is raised wherever the main thread happens to be, inside the HTTP client too; one
raised between a lock being taken and the block that frees it leaves the lock held, and closing the
client at exit then waits on it for ever (seen: a watch that never ended after Ctrl-C). Here SIGINT only
sets `pressed`, and wakes `pause` at once through the signal wake-up fd; the loop ends at its next check.
"""

from __future__ import annotations

import os
import select
import signal
from types import FrameType, TracebackType


class CtrlC:
    """While entered (in the main thread), SIGINT sets `pressed` instead of raising KeyboardInterrupt."""

    def __init__(self) -> None:
        self.pressed = False
        self._read, self._write = -1, -1
        self._old_fd = -1
        self._old_handler: signal.Handlers | int | object = signal.SIG_DFL

    def __enter__(self) -> CtrlC:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._old_fd = signal.set_wakeup_fd(self._write)
        self._old_handler = signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True

    def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when Ctrl-C is pressed meanwhile."""
        if not self.pressed:
            select.select([self._read], [], [], seconds)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        signal.signal(signal.SIGINT, self._old_handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._read)
        os.close(self._write)
