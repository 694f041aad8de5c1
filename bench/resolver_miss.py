"""Forwarded-miss latency: dnsctl, unbound and dnsmasq side by side over the same NSD upstream.

    python bench/resolver_miss.py [--rounds 300]
    python bench/resolver_miss.py --lossy [--names 200] [--window 10] [--warm 20]

Needs `nsd`, `unbound` and `dnsmasq` (apt-get install nsd unbound dnsmasq-base). Starts NSD with the zones
of tests/differential, unbound as the differential test does, dnsmasq and dnsctl's resolver (in its own
process, bench/resolver_runner.py, the default loop) all forwarding to it, then asks each, in turn, for a
name none has cached yet (a new label under a wildcard: one upstream round trip per query). Prints the
median, p90 and worst latency in milliseconds and each resolver's own time per miss: its median minus
NSD's (the same queries asked of NSD directly).

With `--lossy`, each resolver forwards through its own UDP proxy on loopback that loses the first datagram
of every distinct question (later copies and every reply pass), and is asked `--names` new names, `--window`
at a time, each sent once and waited for 3 s (longer than dnsctl's 2 s upstream timeout). Before that,
`--warm` names (not measured) pass their proxy untouched, as most queries do on a real path: a resolver
that times its retransmissions by the upstream's round trips learns them there. Prints per resolver the
median, p99 and worst answer time, the SERVFAIL answers, the queries left unanswered and what its proxy
dropped and relayed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dns.message

from tests.differential.servers import authoritative, forwarder, free_port

RUNNER = Path(__file__).resolve().parent / "resolver_runner.py"
LOSSY_WAIT = 3.0  # seconds a lossy query is waited for: past dnsctl's 2 s upstream timeout
T = TypeVar("T")


def ask(sock: socket.socket, port: int, name: str) -> float:
    wire = dns.message.make_query(name, "A").to_wire()
    started = time.perf_counter()
    sock.sendto(wire, ("127.0.0.1", port))
    while True:
        reply, _ = sock.recvfrom(65535)
        if reply[:2] == wire[:2]:
            break
    elapsed = (time.perf_counter() - started) * 1000
    if reply[3] & 0xF != 0:
        raise RuntimeError(f"{name} on port {port}: rcode {reply[3] & 0xF}")
    return elapsed


def wait(sock: socket.socket, port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            ask(sock, port, "warm.wild.lab.example")
            return
        except (TimeoutError, RuntimeError):
            if time.monotonic() > deadline:
                raise


@contextlib.contextmanager
def dnsmasq(upstream: int) -> Iterator[int]:
    """dnsmasq forwarding everything to `upstream`; yields its port."""
    port = free_port()
    masq = subprocess.Popen(
        [
            *("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces"),
            *("--listen-address=127.0.0.1", f"--port={port}", "--log-facility=/dev/null"),
            f"--server=127.0.0.1#{upstream}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        masq.terminate()
        masq.wait(10)


@contextlib.contextmanager
def dnsctl(upstream: int) -> Iterator[int]:
    """dnsctl's resolver (bench/resolver_runner.py) forwarding to `upstream`; yields its port."""
    runner = subprocess.Popen(
        [sys.executable, str(RUNNER), "--port", "0", "--upstream", f"127.0.0.1:{upstream}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert runner.stdout is not None
        line = runner.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"dnsctl did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        assert runner.stdin is not None
        runner.stdin.close()
        runner.wait(10)


def misses(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with (
            authoritative(base / "nsd") as nsd,
            forwarder(base / "unbound", nsd) as unbound,
            dnsmasq(nsd) as masq,
            dnsctl(nsd) as ctl,
        ):
            ports = {"NSD direct": nsd, "unbound": unbound, "dnsmasq": masq, "dnsctl": ctl}
            samples: dict[str, list[float]] = {label: [] for label in ports}
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(5)
                for port in ports.values():
                    wait(sock, port)
                for i in range(rounds):
                    for label, port in ports.items():
                        samples[label].append(ask(sock, port, f"m{i}-{label[:3].lower()}.wild.lab.example"))
    upstream = statistics.median(samples["NSD direct"])
    print(f"{'server':<12}{'median ms':>10}{'p90 ms':>9}{'max ms':>9}{'own ms/miss':>13}")
    for label, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        own = "" if label == "NSD direct" else f"{median - upstream:13.3f}"
        print(f"{label:<12}{median:10.3f}{p90:9.3f}{max(values):9.2f}{own}")


def question(data: bytes) -> bytes:
    """The question of a DNS message (name lowercased, type, class); the bytes after the ID if unreadable."""
    at = 12
    while at < len(data) and data[at]:
        at += data[at] + 1
    if at + 5 > len(data):
        return data[2:]
    return data[12 : at + 5].lower()


class _Relay(asyncio.DatagramProtocol):
    """The proxy's socket towards the upstream for one client address: replies go back to that client."""

    def __init__(self, proxy: DropFirstProxy, client: Any) -> None:
        self.proxy = proxy
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.proxy.transport is not None
        self.proxy.transport.sendto(data, self.client)


class DropFirstProxy(asyncio.DatagramProtocol):
    """UDP on loopback in front of `upstream`: the first datagram of every distinct question is lost, every
    later copy is relayed (from one socket per client address), and so is every reply. A question for a
    name whose first label starts with "warm" is never lost."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: set[bytes] = set()
        self.relays: dict[Any, asyncio.DatagramTransport] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0
        self.relayed = 0

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        key = question(data)
        if key not in self.seen and not key[1:].startswith(b"warm"):
            self.seen.add(key)
            self.dropped += 1
            return
        self.relayed += 1
        relay = self.relays.get(addr)
        if relay is not None:
            relay.sendto(data)
            return
        task = asyncio.ensure_future(self._open(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _open(self, data: bytes, client: Any) -> None:
        relay = self.relays.get(client)
        if relay is None:
            relay, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Relay(self, client), remote_addr=("127.0.0.1", self.upstream)
            )
            self.relays[client] = relay
        relay.sendto(data)

    def close(self) -> None:
        for relay in self.relays.values():
            relay.close()
        if self.transport is not None:
            self.transport.close()


class _Asker(asyncio.DatagramProtocol):
    """Sends one query once and resolves `reply` with the first datagram carrying its ID."""

    def __init__(self, wire: bytes, reply: asyncio.Future[bytes]) -> None:
        self.wire = wire
        self.reply = reply
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.started = time.perf_counter()
        cast(asyncio.DatagramTransport, transport).sendto(self.wire)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:2] == self.wire[:2] and not self.reply.done():
            self.reply.set_result(data)


async def ask_once(port: int, name: str) -> tuple[float, int] | None:
    """(milliseconds, rcode) of the answer to `name` sent once to `port`; None when none came in time."""
    loop = asyncio.get_running_loop()
    wire = dns.message.make_query(name, "A").to_wire()
    transport, asker = await loop.create_datagram_endpoint(
        lambda: _Asker(wire, loop.create_future()), remote_addr=("127.0.0.1", port)
    )
    try:
        reply = await asyncio.wait_for(asker.reply, LOSSY_WAIT)
    except TimeoutError:
        return None
    finally:
        transport.close()
    return (time.perf_counter() - asker.started) * 1000, reply[3] & 0xF


async def ask_all(port: int, names: list[str], window: int) -> list[tuple[float, int] | None]:
    gate = asyncio.Semaphore(window)

    async def one(name: str) -> tuple[float, int] | None:
        async with gate:
            return await ask_once(port, name)

    return list(await asyncio.gather(*(one(name) for name in names)))


class LoopThread:
    """An event loop in a thread for the proxies, so that the servers can start synchronously meanwhile."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def lossy(count: int, window: int, warm: int) -> None:
    loops = LoopThread()
    proxies = {label: DropFirstProxy(0) for label in ("unbound", "dnsmasq", "dnsctl")}
    results: dict[str, list[tuple[float, int] | None]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            with authoritative(base / "nsd") as nsd:
                for proxy in proxies.values():
                    proxy.upstream = nsd
                via = {label: loops.run(proxy.start()) for label, proxy in proxies.items()}
                with (
                    forwarder(base / "unbound", via["unbound"]) as unbound,
                    dnsmasq(via["dnsmasq"]) as masq,
                    dnsctl(via["dnsctl"]) as ctl,
                ):
                    ports = {"unbound": unbound, "dnsmasq": masq, "dnsctl": ctl}
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                        sock.settimeout(5)
                        for port in ports.values():
                            wait(sock, port)
                    for label, port in ports.items():
                        warming = [f"warm{i}-{label[:3]}.wild.lab.example" for i in range(warm)]
                        loops.run(ask_all(port, warming, 1))
                        names = [f"l{i}-{label[:3]}.wild.lab.example" for i in range(count)]
                        results[label] = loops.run(ask_all(port, names, window))
    finally:
        for proxy in proxies.values():
            loops.loop.call_soon_threadsafe(proxy.close)
        loops.stop()
    print(
        f"{'server':<10}{'answered':>9}{'median ms':>10}{'p99 ms':>9}{'max ms':>9}"
        f"{'SERVFAIL':>9}{'timeouts':>9}{'dropped':>8}{'relayed':>8}"
    )
    for label, answers in results.items():
        times = [answer[0] for answer in answers if answer is not None]
        servfail = sum(1 for answer in answers if answer is not None and answer[1] == 2)
        figures = f"{'-':>10}{'-':>9}{'-':>9}"
        if len(times) >= 2:
            p99 = statistics.quantiles(times, n=100)[-1]
            figures = f"{statistics.median(times):10.1f}{p99:9.1f}{max(times):9.1f}"
        proxy = proxies[label]
        print(
            f"{label:<10}{len(times):9}{figures}{servfail:9}{answers.count(None):9}"
            f"{proxy.dropped:8}{proxy.relayed:8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--lossy", action="store_true", help="through proxies losing each query's first copy")
    parser.add_argument("--names", type=int, default=200, help="new names asked of each server (--lossy)")
    parser.add_argument("--window", type=int, default=10, help="queries in flight at once (--lossy)")
    parser.add_argument("--warm", type=int, default=20, help="names first asked with no loss (--lossy)")
    args = parser.parse_args()
    if args.lossy:
        print(
            f"load average {os.getloadavg()[0]:.2f} at start; {args.warm} names each without loss, "
            f"then {args.names} lossy",
            flush=True,
        )
        lossy(args.names, args.window, args.warm)
    else:
        print(f"load average {os.getloadavg()[0]:.2f} at start; {args.rounds} misses each", flush=True)
        misses(args.rounds)
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
