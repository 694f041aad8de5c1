"""Reading what a dnsctl process started by a test writes to its log file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.waits import wait_in_file


def port_in_log(log: Path, proc: subprocess.Popen[bytes], pattern: str, limit: float = 20) -> int:
    """The port `pattern` (one group) finds in the log, once the process has written it (re-read on each
    write to the file); fails with the log if the process exits first or `limit` seconds pass."""
    try:
        found = wait_in_file(
            log,
            lambda: re.search(pattern, log.read_text(errors="replace")),
            limit,
            "dnsctl to start",
            proc=proc,
        )
    except AssertionError as e:
        raise AssertionError(f"dnsctl did not start: {e}") from None
    return int(found.group(1))
