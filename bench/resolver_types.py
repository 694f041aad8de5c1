"""Uncached query latency by type: NSD answering directly, unbound and dnsctl forwarding to it.

    python bench/resolver_types.py [--rounds 30]

Needs `nsd`, `unbound` and `ldnsutils` (apt-get install nsd unbound ldnsutils). Starts them as the
differential test does (tests/differential), then asks each type for a name no resolver has cached yet
(a new label under a wildcard, so each query costs one upstream round trip) and prints the median and
the worst latency in milliseconds. A type whose reply the forwarder did not recognise would show the
upstream timeout (2 s) here instead of about one NSD round trip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dns.message
import dns.query
import dns.rdatatype

from dnsctl.core.model import HostPort, ResolverSpec
from tests.differential.servers import ResolverThread, authoritative, forwarder

TYPES = [
    "A",
    "AAAA",
    "MX",
    "TXT",
    "SRV",
    "CAA",
    "SVCB",
    "HTTPS",
    *(f"TYPE{n}" for n in range(66, 91)),
    "TYPE255",
]


def timed(port: int, name: str, rdtype: str) -> float:
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    started = time.perf_counter()
    dns.query.udp(query, "127.0.0.1", port=port, timeout=5, ignore_trailing=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with authoritative(base / "nsd") as nsd, forwarder(base / "unbound", nsd) as unbound:
            spec = ResolverSpec(listen=(HostPort("127.0.0.1", 0),), upstreams=(HostPort("127.0.0.1", nsd),))
            dnsctl = ResolverThread(spec)
            ports = {"NSD direct": nsd, "unbound": unbound, "dnsctl": dnsctl.start()}
            try:
                print(f"{'type':<10}" + "".join(f"{label:>22}" for label in ports))
                for rdtype in TYPES:
                    cells = []
                    for label, port in ports.items():
                        samples = [
                            timed(port, f"r{i}-{label[:3].lower()}.wild.lab.example", rdtype)
                            for i in range(args.rounds)
                        ]
                        cells.append(f"{statistics.median(samples):8.2f} (max {max(samples):6.2f})")
                    name = (
                        rdtype
                        if not rdtype.startswith("TYPE")
                        else dns.rdatatype.to_text(dns.rdatatype.RdataType.make(int(rdtype[4:])))
                    )
                    print(f"{name:<10}" + "".join(f"{cell:>22}" for cell in cells))
            finally:
                dnsctl.stop()


if __name__ == "__main__":
    main()
