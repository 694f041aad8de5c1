"""The command line: parse the arguments, run the command, turn an error into a message and an exit code.

The grammar is in `parser`, the commands in `commands`, `passes` and `daemons`, what they print in
`render`, the exit codes in `exit_codes`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dnsctl.cli import completion
from dnsctl.cli.exit_codes import ExitCode
from dnsctl.cli.parser import DETAILED_EXITCODE, Handler, build_parser
from dnsctl.errors import ConfigError, DnsctlError, InputError
from dnsctl.process import logs


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == [completion.HELPER]:  # what the completion scripts call: not a command of its own
        return completion.helper(build_parser(), words[1:])
    parser = build_parser()
    # `plan --detailed-exitcode` keeps 2 for "changes pending": bad arguments and configurations are 1 there.
    detailed = DETAILED_EXITCODE in words
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command == "emulator":
            args.args = [*extra, *args.args]
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:
        if e.code == ExitCode.BAD_CONFIG and detailed:
            return ExitCode.FAILED
        raise
    logs.setup(args.log_level, args.log_format)
    handler: Handler = args.handler
    try:
        return handler(args)
    except DnsctlError as e:
        code = report_error(e)
        return ExitCode.FAILED if code == ExitCode.BAD_CONFIG and detailed else code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader (| head) went away: not an error of ours
        return ExitCode.CONVERGED


def report_error(e: DnsctlError) -> int:
    """The one place an error becomes a message and an exit code."""
    if isinstance(e, ConfigError):
        print(f"dnsctl: invalid configuration ({len(e.problems)} problem(s)):", file=sys.stderr)
        for problem in e.problems:
            print(f"  {logs.redact(str(problem))}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    if isinstance(e, InputError):
        print(f"dnsctl: {logs.redact(str(e))}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    hint = getattr(e, "hint", "")
    message = f"{e}; {hint}" if hint else str(e)
    if e.transient:
        message += " (this may pass: try again later)"
    print(f"dnsctl: {logs.redact(message)}", file=sys.stderr)
    return ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
