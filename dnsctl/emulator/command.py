"""`dnsctl emulator` (also `python -m dnsctl.emulator`): run the Azure Private DNS emulator as a process.

The first stdout line is the base URL (for `base_url=` and the `/_emulator` control API); the process runs
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from collections.abc import Sequence

from dnsctl.emulator.azure_privatedns import AzureEmulator
from dnsctl.emulator.ratelimit import READ_BUDGET, WINDOW_SECONDS, WRITE_BUDGET
from dnsctl.emulator.store import ZoneId

EPILOG = """\
examples:
  dnsctl emulator --port 8500 --zone 00000000-0000-0000-0000-000000000000/rg/privatelink.azurecr.io
  DNSCTL_AZURE__BASE_URL=http://127.0.0.1:8500 DNSCTL_AZURE__CREDENTIAL=static DNSCTL_AZURE_TOKEN=x \\
    dnsctl plan -c my.yaml

The first line printed is the base URL. Runs until SIGTERM or SIGINT.

exit codes:
  0  stopped by SIGTERM or SIGINT
  2  bad arguments"""


def build_parser(prog: str = "dnsctl emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local emulator of the Azure Private DNS REST API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain; serve https")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--zone", action="append", default=[], metavar="SUB/RG/ZONE", help="create a zone (repeatable)"
    )
    parser.add_argument("--no-auth", action="store_true", help="do not require an Authorization header")
    parser.add_argument(
        "--read-budget", type=int, default=READ_BUDGET, help="reads per window and subscription"
    )
    parser.add_argument(
        "--write-budget", type=int, default=WRITE_BUDGET, help="writes per window and subscription"
    )
    parser.add_argument(
        "--budget-window", type=float, default=WINDOW_SECONDS, help="budget window in seconds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("--tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        zones = [ZoneId.parse(z) for z in args.zone]
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    emulator = AzureEmulator(
        tls=tls,
        host=args.host,
        port=args.port,
        require_auth=not args.no_auth,
        read_budget=args.read_budget,
        write_budget=args.write_budget,
        budget_window=args.budget_window,
    )
    for zone in zones:
        emulator.add_zone(zone)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulator:
        print(emulator.base_url, flush=True)
        stop.wait()
    return 0
