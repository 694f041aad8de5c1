"""Ctrl-C in a terminal loop (`status --watch`) is a flag checked by the loop, never a KeyboardInterrupt
raised inside whatever the loop was doing (dnsctl/cli/ctrl_c.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

from dnsctl.cli.ctrl_c import CtrlC


def test_sigint_sets_the_flag_and_raises_nothing_inside_the_work() -> None:
    before = signal.getsignal(signal.SIGINT)
    with CtrlC() as ctrl_c:
        os.kill(os.getpid(), signal.SIGINT)
        total = sum(range(100_000))  # work running when the signal's handler runs: not interrupted
        assert total == 4_999_950_000
        assert ctrl_c.pressed
    assert signal.getsignal(signal.SIGINT) is before  # put back as it was


def test_a_pause_ends_as_soon_as_ctrl_c_is_pressed() -> None:
    with CtrlC() as ctrl_c:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        started = time.monotonic()
        ctrl_c.pause(60)
        took = time.monotonic() - started
        timer.join()
        assert ctrl_c.pressed
        # A functional bound, not a speed figure: the pause did not run its 60 s.
        assert took < 30, took
        ctrl_c.pause(60)  # once pressed, a pause returns at once
        assert time.monotonic() - started < 30
