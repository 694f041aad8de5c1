"""The long-running commands (`serve`, `run`, `mirror`, `demo`): each starts a controller until a signal."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dnsctl import compose
from dnsctl.cli.commands import load_spec
from dnsctl.cli.exit_codes import ExitCode
from dnsctl.config import command_line
from dnsctl.config.advice import advise
from dnsctl.config.load import load
from dnsctl.core.model import DnsctlSpec
from dnsctl.process import daemon

if TYPE_CHECKING:
    from dnsctl.controller.base import ControllerBase
    from dnsctl.controller.run import RunController
    from dnsctl.controller.serve import ServeController
    from dnsctl.controller.vantage import Vantage


def cmd_serve(args: argparse.Namespace) -> int:
    _, spec = load_spec(args)
    for warning in advise(spec):
        logging.getLogger("dnsctl").warning("%s", warning)
    site = getattr(args, "site", None)
    if site is not None or spec.sites is not None:
        command_line.sites_to_serve(spec, site)  # before anything starts: exit 2
    daemon.run(_serve(spec, args), args.loop)
    return ExitCode.CONVERGED


async def _serve(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.serve import ServeController
    from dnsctl.resolver.udp_reader import shorten_switch_interval

    shorten_switch_interval()  # this process is the resolver's (see udp_reader.SWITCH_INTERVAL)

    site = getattr(args, "site", None)
    if site is not None or spec.sites is not None:
        ctl = _serve_sites(spec, site, args)
    else:
        engine = compose.build_engine(spec)
        ctl = ServeController(
            engine,
            store=compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None,
        )

    def banner(admin: str) -> str:
        bound = ", ".join(_fmt(h, p) for h, p in ctl.server.bound)
        return f"dnsctl serve: answering on {bound} (udp+tcp); admin on {admin}"

    try:
        await _until_signal(ctl, spec, banner)
    finally:
        exchange = ctl.sites.exchange if ctl.sites is not None else None
        if exchange is not None:
            await exchange.aclose()


def _serve_sites(spec: DnsctlSpec, site: str | None, args: argparse.Namespace) -> ServeController:
    """`serve` with sites: each site's clients answered with its decision (`serve --site S`: this
    process is S's vantage, probing through S's addresses and publishing its verdicts)."""
    from dnsctl.controller.metrics import Metrics
    from dnsctl.controller.serve import ServeController
    from dnsctl.controller.site_answers import SiteAnswers
    from dnsctl.controller.vantage import Vantage, config_hash
    from dnsctl.core.sites import site_spec

    sites = command_line.sites_to_serve(spec, site)
    mine = site_spec(spec, sites, site) if site is not None else spec
    engine = compose.build_engine(mine)
    interval = max((p.monitor.interval for p in spec.profiles), default=10.0)
    exchange = compose.build_exchange(sites, spec.azure) if sites.exchange is not None else None
    metrics = Metrics()
    vantage = None
    if site is not None:
        assert exchange is not None  # `sites_to_serve` checks that the configuration names one
        vantage = Vantage(
            site,
            sites,
            exchange,
            engine.clock,
            interval=interval,
            config=config_hash(spec),
            registry=metrics.registry,
            profiles=mine.profiles,
        )
    answers = SiteAnswers(spec, sites, own=site, exchange=exchange, clock=engine.clock, interval=interval)
    return ServeController(
        engine,
        store=compose.build_store(args.state_file, clock=engine.clock, vantage=site)
        if args.state_file
        else None,
        metrics=metrics,
        vantage=vantage,
        sites=answers,
        full=spec,
    )


async def _until_signal(ctl: ControllerBase, spec: DnsctlSpec, banner: Callable[[str], str]) -> None:
    """Run a controller and its admin server until SIGTERM/SIGINT (the admin answers from the start)."""
    from dnsctl.controller.admin import AdminServer

    admin = AdminServer(ctl, spec.admin.listen, clock=ctl.clock)

    async def start() -> None:
        await admin.start()
        await ctl.start()

    async def stop() -> None:
        await ctl.stop()
        await ctl.close_notifications()
        await admin.stop()

    def ready() -> None:
        print(
            banner(f"http://{_fmt(spec.admin.listen.host, admin.port or spec.admin.listen.port)}"), flush=True
        )

    await daemon.run_until_signal(start, stop, on_ready=ready)


def _fmt(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cmd_run(args: argparse.Namespace) -> int:
    _, spec = load_spec(args)
    site = getattr(args, "site", None)
    if site is not None or spec.sites is not None:
        return _run_site(spec, site, args)
    command_line.publishes(
        spec, "profiles: no profile has an `azure` or `rfc2136` record: `dnsctl run` has nothing to write"
    )
    daemon.run(_run(spec, args), args.loop)
    return ExitCode.CONVERGED


async def _run(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.run import RunController

    engine = compose.build_engine(spec)
    ctl = RunController(
        engine,
        compose.build_target(spec, engine.clock),
        lease=compose.build_lease(spec, engine.clock),
        store=compose.build_store(args.state_file, clock=engine.clock),
        force=args.force,
    )
    await _until_signal(
        ctl, spec, lambda admin: f"dnsctl run: {len(spec.profiles)} profile(s); admin on {admin}"
    )


def _run_site(spec: DnsctlSpec, site: str | None, args: argparse.Namespace) -> int:
    """`run --site S`: the vantage of site S, writing S's publications (see dnsctl.core.sites)."""
    from dnsctl.core.sites import site_spec

    sites, site = command_line.site_to_run(spec, site)
    mine = site_spec(spec, sites, site)
    here = sites.site(site)
    # With a shared publication every vantage runs (it votes for it); a site published to its resolver
    # clients or node agents has no zone of its own.
    if not (sites.shared or here.clients or here.mirror):
        command_line.publishes(
            mine, f"--site: site {site!r} has no publication: `dnsctl run` has nothing to write"
        )
    daemon.run(_run_vantage(spec, mine, site, args), args.loop)
    return ExitCode.CONVERGED


async def _run_vantage(spec: DnsctlSpec, mine: DnsctlSpec, site: str, args: argparse.Namespace) -> None:
    from dnsctl.controller.metrics import Metrics
    from dnsctl.controller.shared import SiteRunController
    from dnsctl.controller.vantage import Vantage, config_hash

    assert spec.sites is not None
    engine = compose.build_engine(mine)
    metrics = Metrics()
    vantage = Vantage(
        site,
        spec.sites,
        compose.build_exchange(spec.sites, spec.azure),
        engine.clock,
        interval=max((p.monitor.interval for p in spec.profiles), default=10.0),
        config=config_hash(spec),
        registry=metrics.registry,
        profiles=mine.profiles,
    )
    ctl = SiteRunController(
        engine,
        compose.build_target(mine, engine.clock),
        lease=compose.build_lease(mine, engine.clock),
        store=compose.build_store(args.state_file, clock=engine.clock, vantage=site),
        force=args.force,
        metrics=metrics,
        vantage=vantage,
        shared=_shared_writer(spec, site, vantage, args),
        shared_rule=spec.sites.shared_rule(spec.ha),
    )
    try:
        await _until_signal(
            ctl,
            mine,
            lambda admin: f"dnsctl run --site {site}: {len(mine.profiles)} profile(s); admin on {admin}",
        )
    finally:
        await vantage.exchange.aclose()


def _shared_writer(
    spec: DnsctlSpec, site: str, vantage: Vantage, args: argparse.Namespace
) -> RunController | None:
    """The writer of the publications every site shares, when this vantage is (or may be) it."""
    from dnsctl.controller.run import RunController
    from dnsctl.controller.shared import QuorumProber, shared_state_file
    from dnsctl.core.sites import shared_spec
    from dnsctl.engine import Engine

    assert spec.sites is not None
    shared = shared_spec(spec, spec.sites)
    if shared is None or spec.sites.shared_writer(spec.ha) not in (None, site):
        return None
    engine = Engine(shared, QuorumProber(lambda: vantage.health), vantage.clock)
    return RunController(
        engine,
        compose.build_target(shared, engine.clock),
        lease=compose.build_lease(shared, engine.clock),
        store=compose.build_store(shared_state_file(args.state_file), clock=engine.clock),
        force=args.force,
    )


def cmd_mirror(args: argparse.Namespace) -> int:
    _, spec = load_spec(args)
    command_line.mirrors(spec)
    site = getattr(args, "site", None)
    if getattr(args, "source", "probe") == "exchange":
        return _mirror_exchange(spec, site, args)
    if site is not None:  # probe through the site's addresses, as its vantage does
        from dnsctl.core.sites import site_spec

        sites, site = command_line.site_to_run(spec, site)
        spec = site_spec(spec, sites, site)
    if args.once:
        from dnsctl.cli import passes

        return passes.mirror_once(spec, args)
    daemon.run(_mirror(spec, args), args.loop)
    return ExitCode.CONVERGED


def _mirror_exchange(spec: DnsctlSpec, site: str | None, args: argparse.Namespace) -> int:
    """`mirror --site S --source exchange`: follow site S's decision, probe nothing."""
    site = command_line.site_to_follow(spec, site, state_file=args.state_file is not None)
    if args.once:
        from dnsctl.cli import passes

        return passes.mirror_follow_once(spec, site, args)
    daemon.run(_mirror_follow(spec, site), args.loop)
    return ExitCode.CONVERGED


async def _mirror_follow(spec: DnsctlSpec, site: str) -> None:
    from dnsctl.cli import passes

    ctl = passes.exchange_agent(spec, site)
    await _until_signal(
        ctl,
        spec,
        lambda admin: (
            f"dnsctl mirror --site {site} --source exchange: {len(spec.profiles)} profile(s); "
            f"admin on {admin}"
        ),
    )


async def _mirror(spec: DnsctlSpec, args: argparse.Namespace) -> None:
    from dnsctl.controller.mirror import MirrorController, build_files

    engine = compose.build_engine(spec)
    ctl = MirrorController(
        engine,
        build_files(spec),
        store=compose.build_store(args.state_file, clock=engine.clock) if args.state_file else None,
    )
    where = ", ".join(
        str(d) for d in (spec.mirror.containerd_hosts_dir, spec.mirror.crio_registries_dir) if d
    )
    await _until_signal(
        ctl,
        spec,
        lambda admin: f"dnsctl mirror: {len(spec.profiles)} profile(s) into {where}; admin on {admin}",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from dnsctl.demo import lab_config

    if args.print_config:
        sys.stdout.write(lab_config.text())
        return ExitCode.CONVERGED
    if args.config:
        spec = load(Path(args.config))
    else:
        with lab_config.path() as path:
            spec = load(path)
    return daemon.run(_demo(spec, forever=args.forever), args.loop)


async def _demo(spec: DnsctlSpec, *, forever: bool) -> int:
    from dnsctl.demo.scenario import Demo

    def say(line: str) -> None:
        print(line, flush=True)

    demo = Demo(spec, compose.build_engine(spec), say)
    if forever:
        first = demo.profile.by_priority[0]
        await daemon.run_until_signal(
            demo.start,
            demo.stop,
            on_ready=lambda: say(
                f"take {first.name} down:  curl -X POST http://{first.addresses[0]}:{demo.replicas.port}/_demo/down"
                "\nCtrl-C to stop."
            ),
        )
        return ExitCode.CONVERGED
    await demo.start()
    try:
        ok = await demo.scripted()
    finally:
        await demo.stop()
    say("demo complete: DNS followed the replica's health both ways" if ok else "demo FAILED")
    return ExitCode.CONVERGED if ok else ExitCode.FAILED
