"""Forwarded-miss latency: dnsctl, unbound and dnsmasq side by side over the same NSD upstream.

    python bench/resolver_miss.py [--rounds 300]

Needs `nsd`, `unbound` and `dnsmasq` (apt-get install nsd unbound dnsmasq-base). Starts NSD with the zones
of tests/differential, unbound as the differential test does, dnsmasq and dnsctl's resolver (in its own
process, bench/resolver_runner.py, the default loop) all forwarding to it, then asks each, in turn, for a
name none has cached yet (a new label under a wildcard: one upstream round trip per query). Prints the
median, p90 and worst latency in milliseconds and each resolver's own time per miss: its median minus
NSD's (the same queries asked of NSD directly).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dns.message

from tests.differential.servers import authoritative, forwarder, free_port

RUNNER = Path(__file__).resolve().parent / "resolver_runner.py"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at start; {args.rounds} misses each", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with authoritative(base / "nsd") as nsd, forwarder(base / "unbound", nsd) as unbound:
            masq_port = free_port()
            masq = subprocess.Popen(
                [
                    *("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces"),
                    *("--listen-address=127.0.0.1", f"--port={masq_port}", "--log-facility=/dev/null"),
                    f"--server=127.0.0.1#{nsd}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            runner = subprocess.Popen(
                [sys.executable, str(RUNNER), "--port", "0", "--upstream", f"127.0.0.1:{nsd}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert runner.stdout is not None
                line = runner.stdout.readline()
                if not line.startswith("READY "):
                    raise RuntimeError(f"dnsctl did not start: {line!r}")
                ports = {
                    "NSD direct": nsd,
                    "unbound": unbound,
                    "dnsmasq": masq_port,
                    "dnsctl": int(line.split()[1]),
                }
                samples: dict[str, list[float]] = {label: [] for label in ports}
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(5)
                    for port in ports.values():
                        wait(sock, port)
                    for i in range(args.rounds):
                        for label, port in ports.items():
                            samples[label].append(
                                ask(sock, port, f"m{i}-{label[:3].lower()}.wild.lab.example")
                            )
            finally:
                assert runner.stdin is not None
                runner.stdin.close()
                runner.wait(10)
                masq.terminate()
                masq.wait(10)
    upstream = statistics.median(samples["NSD direct"])
    print(f"{'server':<12}{'median ms':>10}{'p90 ms':>9}{'max ms':>9}{'own ms/miss':>13}")
    for label, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        own = "" if label == "NSD direct" else f"{median - upstream:13.3f}"
        print(f"{label:<12}{median:10.3f}{p90:9.3f}{max(values):9.2f}{own}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
