"""Asks every server for the steered name every 50 ms over UDP and keeps what each one answered, when.

It runs in its own thread with its own event loop; each tick sends a query without waiting for the
previous one, so a slow server never delays the schedule. An answer is the sorted A addresses
("127.0.0.3"), or the rcode ("SERVFAIL"), or "no answer" (timeout, port closed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

NO_ANSWER = "no answer"


@dataclass(frozen=True, slots=True)
class Observation:
    sent: float  # time.monotonic() when the query left
    received: float  # when the answer (or the timeout) came
    answer: str


class Querier:
    def __init__(self, qname: str, ports: dict[str, int], *, period: float = 0.05, timeout: float = 0.5):
        self.qname = qname
        self.ports = dict(ports)
        self.period = period
        self.timeout = timeout
        self._log: dict[str, list[Observation]] = {name: [] for name in ports}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="querier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def since(self, server: str, start: float, end: float | None = None) -> list[Observation]:
        """Observations of `server` whose query was sent at or after `start` (and before `end`)."""
        with self._lock:
            log = list(self._log[server])
        picked = [o for o in log if o.sent >= start and (end is None or o.sent < end)]
        return sorted(picked, key=lambda o: o.sent)

    def last_answer(self, server: str) -> str | None:
        with self._lock:
            log = self._log[server]
            return log[-1].answer if log else None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            for server, port in self.ports.items():
                task = asyncio.create_task(self._ask(server, port))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * self.period - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 1)

    async def _ask(self, server: str, port: int) -> None:
        query = dns.message.make_query(self.qname, "A")
        sent = time.monotonic()
        try:
            response = await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=self.timeout)
            answer = describe(response)
        except (OSError, dns.exception.DNSException):
            answer = NO_ANSWER
        observation = Observation(sent, time.monotonic(), answer)
        with self._lock:
            self._log[server].append(observation)


def describe(response: dns.message.Message) -> str:
    if response.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(response.rcode())
    a_records = (rrset for rrset in response.answer if rrset.rdtype == dns.rdatatype.A)
    addresses = sorted(rd.address for rrset in a_records for rd in rrset)
    return ",".join(addresses) if addresses else "NODATA"
