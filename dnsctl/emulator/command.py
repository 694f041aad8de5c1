"""`dnsctl emulator` (also `python -m dnsctl.emulator`): run the Azure Private DNS emulator as a process.

The first stdout line is the base URL (for `base_url=` and the `/_emulator` control API); the process runs
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import re
import signal
import ssl
import sys
import threading
from collections.abc import Sequence

from dnsctl.emulator.azure_privatedns import AzureEmulator
from dnsctl.emulator.ratelimit import READ_BUDGET, WINDOW_SECONDS, WRITE_BUDGET
from dnsctl.emulator.store import ZoneId
from dnsctl.errors import ListenError

EPILOG = """\
examples:
  dnsctl emulator --port 8500 --zone 00000000-0000-0000-0000-000000000000/rg/privatelink.azurecr.io
  DNSCTL_AZURE__BASE_URL=http://127.0.0.1:8500 DNSCTL_AZURE__CREDENTIAL=static DNSCTL_AZURE_TOKEN=x \\
    dnsctl plan -c my.yaml

The first line printed is the base URL. Runs until SIGTERM or SIGINT.

exit codes:
  0  stopped by SIGTERM or SIGINT
  1  cannot listen (a port in use, an address not on this host) or read the TLS files
  2  bad arguments"""

# What ARM accepts: a zone name of two labels or more, a resource group of up to 90 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_RESOURCE_GROUP = re.compile(r"^[\w\-.()]{1,90}(?<!\.)$")
_SUBSCRIPTION = re.compile(r"^[\w-]{1,64}$")


def zone_argument(text: str) -> ZoneId:
    """`--zone`: SUB/RG/ZONE or a bare ZONE, refused with the reason unless Azure could hold that zone."""
    try:
        zone = ZoneId.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    labels = zone.name.rstrip(".").split(".")
    if len(labels) < 2 or len(zone.name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise argparse.ArgumentTypeError(
            f"{zone.name!r} is not a private DNS zone name "
            "(two labels or more, such as privatelink.azurecr.io)"
        )
    if not _SUBSCRIPTION.match(zone.subscription):
        raise argparse.ArgumentTypeError(f"{zone.subscription!r} is not a subscription id")
    if not _RESOURCE_GROUP.match(zone.resource_group):
        raise argparse.ArgumentTypeError(f"{zone.resource_group!r} is not a resource group name")
    return zone


def port_argument(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def build_parser(prog: str = "dnsctl emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local emulator of the Azure Private DNS REST API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_argument, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain; serve https")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        type=zone_argument,
        metavar="SUB/RG/ZONE",
        help="create a zone (repeatable)",
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
    zones: list[ZoneId] = args.zone
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"dnsctl emulator: cannot load {args.tls_cert} and {args.tls_key}: {exc}", file=sys.stderr)
            return 1
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
    try:
        emulator.start()
    except OSError as exc:
        print(
            f"dnsctl emulator: {ListenError.from_os_error(_address(args.host, args.port), exc)}",
            file=sys.stderr,
        )
        return 1
    try:
        print(emulator.base_url, flush=True)
        stop.wait()
    finally:
        emulator.stop()
    return 0


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
