"""Exit codes, and the one function that turns a pass's report into one."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnsctl.controller.reports import MirrorReport, Report


class ExitCode(IntEnum):
    CONVERGED = 0
    FAILED = 1
    BAD_CONFIG = 2
    REFUSED = 3
    DEGRADED = 4
    CHANGES = 2  # `plan --detailed-exitcode` only: changes are pending (errors are 1 there)


def exit_code(report: Report | MirrorReport) -> ExitCode:
    """A pass's outcome (`reconcile`, `plan`, `mirror --once`): failures first, then refusals, then
    degradation. A profile still without verdicts (nothing was written for it) is not converged: 4."""
    if report.failed:
        return ExitCode.FAILED
    if report.refusing:
        return ExitCode.REFUSED
    if report.degraded or report.waiting:
        return ExitCode.DEGRADED
    return ExitCode.CONVERGED
