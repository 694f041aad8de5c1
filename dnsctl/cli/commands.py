"""The commands that start no controller: validate, import/export, completion, and the admin API's clients."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dnsctl.cli import completion
from dnsctl.cli.exit_codes import ExitCode
from dnsctl.config import command_line
from dnsctl.config.advice import advise
from dnsctl.config.load import config_path, load
from dnsctl.errors import DnsctlError, InputError
from dnsctl.process import logs

if TYPE_CHECKING:
    from dnsctl.cli import render
    from dnsctl.core.model import DnsctlSpec
    from dnsctl.documents.status import StatusDoc

# The admin API's clients import httpx, the renderer and the composition root when they run, not when the
# command line is parsed (`dnsctl validate` needs none of them).


def emit(lines: Iterable[render.Line]) -> None:
    """Print a rendering: each line to stdout or stderr, in order."""
    for line in lines:
        print(line.text, file=sys.stderr if line.err else sys.stdout)


def cmd_completion(args: argparse.Namespace) -> int:
    from dnsctl.cli import parser
    from dnsctl.emulator.command import build_parser as emulator_parser

    cli = completion.describe(parser.build_parser(), {"emulator": emulator_parser()})
    sys.stdout.write(completion.script(args.shell, cli))
    return ExitCode.CONVERGED


def load_spec(args: argparse.Namespace, *, serving: bool = True) -> tuple[Path, DnsctlSpec]:
    """`serving`: the command runs the admin API (`validate` checks as if it did)."""
    path = config_path(args.config)
    return path, load(path, serving=serving, validating=args.command == "validate")


def cmd_validate(args: argparse.Namespace) -> int:
    path, spec = load_spec(args)
    for warning in advise(spec):
        print(f"warning: {warning}", file=sys.stderr)
    endpoints = sum(len(p.endpoints) for p in spec.profiles)
    azure = sum(1 for p in spec.profiles if p.azure is not None)
    others = sum(1 for p in spec.profiles if p.publication is not None and p.azure is None)
    print(
        f"{path}: valid: {len(spec.profiles)} profile(s), {endpoints} endpoint(s), "
        f"{azure} Azure record(s), {f'{others} RFC 2136 record(s), ' if others else ''}"
        f"{len(spec.resolver.zones)} lab zone(s)"
    )
    if spec.sites is not None:
        print(f"sites: {', '.join(spec.sites.names)}; {spec.sites.rule()}")
        if (shared := spec.sites.shared_rule(spec.ha)) is not None:
            print(f"shared: {shared}")
    return ExitCode.CONVERGED


def cmd_import(args: argparse.Namespace) -> int:
    from dnsctl.interop import traffic_manager
    from dnsctl.process.atomic_file import write_atomically

    source = "stdin" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {source}: {e}") from None
    doc = traffic_manager.load_profile(text, source)
    imported = traffic_manager.import_profile(doc, fqdn=args.fqdn, source=source)
    if args.output is not None:
        try:
            write_atomically(args.output, imported.yaml, mode=0o644)
        except OSError as e:
            raise DnsctlError(f"cannot write {args.output}: {e}") from None
    else:
        sys.stdout.write(imported.yaml)
    for item in imported.unmapped:
        print(f"dnsctl: not mapped: {item}", file=sys.stderr)
    if imported.unmapped:
        print(
            f"dnsctl: {len(imported.unmapped)} field(s) could not be mapped; they are listed as comments "
            "at the top of the configuration",
            file=sys.stderr,
        )
        return ExitCode.REFUSED
    return ExitCode.CONVERGED


def _admin_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    path = config_path(args.config)
    listen = load(path, serving=False).admin.listen if path.exists() else None
    if listen is None:
        return "http://127.0.0.1:9153"
    return f"http://{listen}"


def _write_converted(text: str, notes: list[str], output: Path | None) -> int:
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            print(f"dnsctl: cannot write {output}: {e.strerror or e}", file=sys.stderr)
            return ExitCode.FAILED
    for note in notes:
        print(f"dnsctl: not mapped: {note}", file=sys.stderr)
    return ExitCode.REFUSED if notes else ExitCode.CONVERGED


def cmd_import_private_traffic_manager(args: argparse.Namespace) -> int:
    from dnsctl.interop import private_traffic_manager as ptm

    docs = []
    try:
        for name in args.files:
            try:
                docs.append((name, json.loads(Path(name).read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError, ValueError) as e:
                raise ptm.PtmInputError(f"{name}: cannot read JSON: {e}") from None
        result = ptm.import_profiles(docs, zone=args.zone or ptm.DEFAULT_ZONE)
    except ptm.PtmInputError as e:
        print(f"dnsctl: {e}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    return _write_converted(ptm.render_import(result), result.notes, args.output)


def cmd_export_private_traffic_manager(args: argparse.Namespace) -> int:
    from dnsctl.config.load import load_settings
    from dnsctl.interop import private_traffic_manager as ptm

    settings = load_settings(config_path(args.config), serving=False)
    try:
        result = ptm.export_profiles(settings)
    except ptm.PtmInputError as e:
        print(f"dnsctl: {e}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    return _write_converted(ptm.render_export(result), result.notes, args.output)


def cmd_status(args: argparse.Namespace) -> int:
    from dnsctl import compose
    from dnsctl.cli import admin_client, render
    from dnsctl.cli.ctrl_c import CtrlC

    url = _admin_url(args)
    if not args.watch:
        _print_status(admin_client.get_status(url), as_json=args.json)
        return ExitCode.CONVERGED
    command_line.at_least("--interval", args.interval, 0, inclusive=False, unit=" seconds")
    clear = sys.stdout.isatty() and not args.json
    frames = 0
    clock = compose.build_clock()
    with CtrlC() as ctrl_c:  # Ctrl-C is how a watch ends
        while not ctrl_c.pressed:
            try:
                doc: StatusDoc | None = admin_client.get_status(url)
                problem = ""
            except DnsctlError as e:
                if not frames:
                    raise  # a wrong URL or token is an error, not something to watch
                doc, problem = None, logs.redact(str(e))  # a controller restarting: keep watching
            frames += 1
            if args.json:  # one JSON document per line, one line per frame
                print(render.as_json(doc, indent=None) if doc is not None else json.dumps({"error": problem}))
                sys.stdout.flush()
            else:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now()))
                if clear:
                    sys.stdout.write("\033[H\033[2J")
                print(f"Every {args.interval:g}s: dnsctl status {url}  {stamp}\n")
                if doc is not None:
                    _print_status(doc, as_json=False)
                else:
                    print(f"dnsctl: {problem}")
                print(flush=True)
            ctrl_c.pause(args.interval)
    return ExitCode.CONVERGED


def _print_status(doc: StatusDoc, *, as_json: bool) -> None:
    from dnsctl.cli import render

    print(render.as_json(doc) if as_json else "\n".join(render.status_text(doc)), flush=True)


def cmd_history(args: argparse.Namespace) -> int:
    from dnsctl.cli import admin_client, history_view, render

    if args.state_file is not None:
        entries = history_view.from_state_file(args.state_file)
    else:
        entries = history_view.from_status(admin_client.get_status(_admin_url(args)))
    chosen = history_view.select(entries, args.profile, args.last)
    print(render.history_json(chosen) if args.json else render.history_text(chosen))
    return ExitCode.CONVERGED


def cmd_operator(args: argparse.Namespace) -> int:
    from dnsctl.cli import admin_client

    url = _admin_url(args)
    if args.command == "resync":
        path = "/v1/resync"
    elif args.command == "failback":
        path = f"/v1/profiles/{args.profile}/failback"
    else:
        path = f"/v1/profiles/{args.profile}/endpoints/{args.endpoint}/{args.command}"
    print(admin_client.post_action(url, path))
    return ExitCode.CONVERGED


def cmd_emulator(args: argparse.Namespace) -> int:
    from dnsctl.emulator.command import main as emulator_main

    return emulator_main(args.args)
