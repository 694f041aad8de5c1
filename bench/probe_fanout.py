"""Probe fan-out benchmark: how many probes per second one prober process sustains.

Starts N registry-like HTTP(S) endpoints (distinct host:port pairs: 127.0.0.2, .3, ... times a row of
ports), served by lightweight asyncio servers in a child process so the server does not share the
prober's core. Then probes them all, in rounds, with `probe_round`, and prints per mode: probes/s, CPU
seconds per 1,000 probes (the prober process only) and p99 probe latency. Goal: >= 1,000 probes/s on
one core with fresh connections (plain HTTP).

Modes: `fresh` (dnsctl's default, a new connection per probe), `keepalive` (dnsctl's keep-alive mode),
and two httpx references: `httpx-client` (a short-lived httpx.AsyncClient per probe, cached SSL context)
and `httpx-pool` (one httpx.AsyncClient pool shared by every endpoint).

    .venv/bin/python bench/probe_fanout.py                 # 1,000 endpoints, fresh + keepalive
    .venv/bin/python bench/probe_fanout.py --modes fresh,keepalive,httpx-client,httpx-pool --tls
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from dnsctl.core.model import EndpointSpec, MonitorProtocol, MonitorSpec, ProfileSpec
from dnsctl.core.results import FailureReason, ProbeResult
from dnsctl.probes import HttpProber, Prober, probe_round
from dnsctl.probes.http import request_headers, server_name
from dnsctl.probes.tls import client_context
from dnsctl.process.clock import SystemClock

TARGET = "myregistry.eastus.geo.azurecr.io"
_BODY = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'
_HEAD = (
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Docker-Distribution-Api-Version: registry/2.0\r\n"
    b'Www-Authenticate: Bearer realm="https://myregistry.azurecr.io/oauth2/token",'
    b'service="myregistry.azurecr.io"\r\n' + b"Content-Length: %d\r\n" % len(_BODY)
)
_KEEP = _HEAD + b"\r\n" + _BODY
_CLOSE = _HEAD + b"Connection: close\r\n\r\n" + _BODY


def _pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


# --- the child process: many tiny registry-like servers ---------------------------------------------
class _Registry(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
            if b"connection: close" in head.lower():
                self._transport.write(_CLOSE)
                self._transport.close()
                return
            self._transport.write(_KEEP)


async def _bind_row(addresses: int, tls: ssl.SSLContext | None) -> tuple[int, list[asyncio.Server]]:
    """One port bound on every address (one profile's monitor port covers a row of endpoints)."""
    loop = asyncio.get_running_loop()
    for _ in range(20):
        first = await loop.create_server(_Registry, "127.0.0.2", 0, backlog=1024, ssl=tls)
        port = first.sockets[0].getsockname()[1]
        row = [first]
        try:
            for a in range(1, addresses):
                row.append(
                    await loop.create_server(_Registry, f"127.0.0.{a + 2}", port, backlog=1024, ssl=tls)
                )
        except OSError:
            for server in row:
                server.close()
            continue
        return port, row
    raise SystemExit("no port free on every address")


async def _serve(rows: int, addresses: int, tls_pem: str | None) -> None:
    tls = None
    if tls_pem:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(tls_pem)
    bound = [await _bind_row(addresses, tls) for _ in range(rows)]
    print(" ".join(str(port) for port, _ in bound), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def serve_main(rows: int, addresses: int, tls_pem: str | None, cpu: int | None) -> None:
    if cpu is not None:
        _pin(cpu)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_serve(rows, addresses, tls_pem))


# --- httpx references --------------------------------------------------------------------------------
class _HttpxProber:
    """A GET through httpx; `shared` reuses one client pool for every endpoint."""

    def __init__(self, *, shared: bool) -> None:
        self._shared = (
            httpx.AsyncClient(
                verify=client_context(True, os.environ.get("BENCH_CA")),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
                trust_env=False,
            )
            if shared
            else None
        )

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()

    async def probe(self, profile: ProfileSpec, endpoint: EndpointSpec, now: float) -> ProbeResult:
        monitor = profile.monitor
        address = endpoint.addresses[0]
        started = time.perf_counter()
        url = f"{monitor.protocol}://{address}:{monitor.port}{monitor.path}"
        headers = request_headers(monitor, endpoint, keepalive=self._shared is not None)
        extensions = {"sni_hostname": server_name(monitor, endpoint)}
        try:
            if self._shared is not None:
                response = await self._shared.get(
                    url, headers=headers, extensions=extensions, timeout=monitor.timeout
                )
            else:
                transport = httpx.AsyncHTTPTransport(
                    verify=client_context(monitor.verify_tls, monitor.ca_file)
                )
                async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
                    response = await client.get(
                        url, headers=headers, extensions=extensions, timeout=monitor.timeout
                    )
        except httpx.HTTPError as exc:
            return ProbeResult(
                profile.name, endpoint.name, now, False, time.perf_counter() - started, address,
                reason=FailureReason.ERROR, detail=type(exc).__name__,
            )  # fmt: skip
        ok = monitor.accepts(response.status_code)
        return ProbeResult(
            profile.name, endpoint.name, now, ok, time.perf_counter() - started, address,
            status_code=response.status_code, reason=None if ok else FailureReason.HTTP_STATUS,
        )  # fmt: skip


def _make(mode: str) -> Prober:
    if mode == "fresh":
        return HttpProber(clock=SystemClock())
    if mode == "keepalive":
        return HttpProber(clock=SystemClock(), keepalive=True)
    if mode == "httpx-client":
        return _HttpxProber(shared=False)
    if mode == "httpx-pool":
        return _HttpxProber(shared=True)
    raise SystemExit(f"unknown mode {mode!r}")


# --- the prober side ---------------------------------------------------------------------------------
def _work(
    ports: Sequence[int], addresses: int, endpoints: int, tls: bool, ca_file: str | None
) -> list[tuple[ProfileSpec, EndpointSpec]]:
    work = []
    for port in ports:
        monitor = MonitorSpec(
            protocol=MonitorProtocol.HTTPS if tls else MonitorProtocol.HTTP,
            port=port,
            timeout=5.0,
            ca_file=ca_file,
        )
        eps = tuple(
            EndpointSpec(name=f"r{a}", target=TARGET, priority=a + 1, addresses=(f"127.0.0.{a + 2}",))
            for a in range(addresses)
        )
        profile = ProfileSpec(name=f"p{port}", fqdn="myregistry.azurecr.io", endpoints=eps, monitor=monitor)
        work += [(profile, ep) for ep in eps]
    return work[:endpoints]


async def _measure(
    mode: str, work: list[tuple[ProfileSpec, EndpointSpec]], rounds: int, concurrency: int
) -> str:
    prober = _make(mode)
    try:
        # One unmeasured round: SSL contexts are built and, for keep-alive, the connections opened.
        await probe_round(prober, work, now=time.time(), concurrency=concurrency)
        results: list[ProbeResult] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(rounds):
            results += await probe_round(prober, work, now=time.time(), concurrency=concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        aclose = getattr(prober, "aclose", None)
        if aclose is not None:
            await aclose()
    latencies = sorted(r.latency for r in results)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    failures = Counter(str(r.reason) for r in results if not r.ok)
    failed = ", ".join(f"{k}={v}" for k, v in failures.items()) or "none"
    n = len(results)
    return (
        f"{mode:<13} {n / wall:>9,.0f} probes/s  {cpu / n * 1000:>6.2f} CPU s/1000 probes  "
        f"p99 {p99 * 1000:>7.1f} ms  ({n:,} probes, failures: {failed})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoints", type=int, default=1000, help="distinct host:port pairs (default 1000)")
    parser.add_argument(
        "--addresses", type=int, default=10, help="loopback addresses 127.0.0.2.. (default 10)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--modes", default="fresh,keepalive", help="fresh,keepalive,httpx-client,httpx-pool")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the prober's loop")
    parser.add_argument("--tls", action="store_true", help="HTTPS endpoints (trustme certificates)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin prober and server to separate CPUs")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("ROWS", "ADDRESSES"), help=argparse.SUPPRESS)
    parser.add_argument("--tls-pem", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        rows, addresses = args.serve
        serve_main(rows, addresses, args.tls_pem, args.cpu)
        return 0

    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    rows = -(-args.endpoints // args.addresses)
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = tls_pem = None
        if args.tls:
            import trustme

            ca = trustme.CA()
            ca_file, tls_pem = f"{tmp}/ca.pem", f"{tmp}/server.pem"
            ca.cert_pem.write_to_path(ca_file)
            ca.issue_cert(TARGET).private_key_and_cert_chain_pem.write_to_path(tls_pem)
            os.environ["BENCH_CA"] = ca_file
        command = [sys.executable, __file__, "--serve", str(rows), str(args.addresses)]
        command += ["--tls-pem", tls_pem] if tls_pem else []
        command += ["--cpu", "1"] if pin else []
        server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            ports = [int(p) for p in server.stdout.readline().split()]
            if not ports:
                raise SystemExit("server child did not start")
            if pin:
                _pin(0)
            work = _work(ports, args.addresses, args.endpoints, args.tls, ca_file)
            print(
                f"{len(work):,} endpoints ({args.addresses} addresses x {len(ports)} ports), "
                f"{'https' if args.tls else 'http'}, concurrency {args.concurrency}, {args.rounds} rounds, "
                f"prober loop {args.loop}, {'pinned to CPU 0 (server CPU 1)' if pin else 'not pinned'}"
            )
            for mode in args.modes.split(","):
                runner = asyncio.run
                if args.loop == "uvloop":
                    import uvloop

                    runner = uvloop.run
                print(runner(_measure(mode.strip(), work, args.rounds, args.concurrency)), flush=True)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
