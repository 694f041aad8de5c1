"""`dnsctl demo`: local replicas, the embedded resolver, and a failover you can watch.

The scripted run takes the preferred replica down, waits for the steered answer to move, brings it
back and waits for the failback, then exits: 0 when DNS followed both times, 1 when it did not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import QTYPE, DNSRecord

from dnsctl.controller.admin import AdminServer
from dnsctl.controller.serve import ServeController
from dnsctl.core.model import DnsctlSpec, ProfileSpec
from dnsctl.demo.replicas import DemoReplicas
from dnsctl.engine import Engine

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ObservedAnswer:
    cname: str
    addresses: tuple[str, ...]

    def __str__(self) -> str:
        return f"CNAME {self.cname} -> {', '.join(self.addresses) or '(no address)'}"


def ask(host: str, port: int, name: str) -> ObservedAnswer | None:
    """One real DNS query over UDP, as `dig @host -p port name` would send it."""
    try:
        raw = DNSRecord.question(name, "A").send(host, port, timeout=1.0)
    except OSError:
        return None
    reply = DNSRecord.parse(raw)
    cname = next((str(rr.rdata).rstrip(".") for rr in reply.rr if rr.rtype == QTYPE.CNAME), "")
    addresses = tuple(str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A)
    return ObservedAnswer(cname, addresses)


def demo_profile(spec: DnsctlSpec) -> ProfileSpec:
    for p in spec.profiles:
        if len(p.endpoints) >= 2 and all(ep.addresses for ep in p.endpoints):
            return p
    raise ValueError("the demo needs a profile with two or more endpoints that have loopback addresses")


class Demo:
    def __init__(self, spec: DnsctlSpec, engine: Engine, say: Say) -> None:
        self.spec = spec
        self.profile = demo_profile(spec)
        self.say = say
        eps = self.profile.by_priority
        self.replicas = DemoReplicas(
            tuple(ep.name for ep in eps),
            registry=self.profile.fqdn.split(".")[0],
            first_address=eps[0].addresses[0],
            port=self.profile.monitor.port,
        )
        self.clock = engine.clock
        self.controller = ServeController(engine)
        self.admin = AdminServer(self.controller, spec.admin.listen, clock=self.clock)
        listen = spec.resolver.listen[0]
        self.dns = (listen.host, listen.port)

    async def start(self) -> None:
        await self.replicas.start()
        await self.controller.start()
        await self.admin.start()
        host, port = self.controller.server.bound[0]
        self.dns = (host, port)
        where = ", ".join(f"{r.name}={r.host}:{self.replicas.port}" for r in self.replicas.replicas)
        self.say(f"replicas: {where}")
        self.say(f"resolver: {host}:{port} (udp+tcp)   admin: http://{self.spec.admin.listen}/status")
        self.say(f"try:      dig @{host} -p {port} {self.profile.fqdn}")

    async def stop(self) -> None:
        await self.admin.stop()
        await self.controller.stop()
        await self.replicas.aclose()

    async def answer(self) -> ObservedAnswer | None:
        return await asyncio.to_thread(ask, self.dns[0], self.dns[1], self.profile.fqdn)

    async def wait_for(self, want: str, limit: float) -> float | None:
        """Seconds until the steered answer points at `want`, or None if it does not within `limit`."""
        started = self.clock.monotonic()
        last = None
        while self.clock.monotonic() - started < limit:
            got = await self.answer()
            if got != last and got is not None:
                self.say(f"  {self.clock.monotonic() - started:5.1f}s  {self.profile.fqdn} -> {got}")
                last = got
            if got is not None and got.cname == want:
                return self.clock.monotonic() - started
            await self.clock.sleep(0.2)
        return None

    async def scripted(self) -> bool:
        eps = self.profile.by_priority
        first, second = eps[0], eps[1]
        m = self.profile.monitor
        self.say("waiting for the first verdicts ...")
        deadline = self.clock.monotonic() + 10 + 3 * m.interval
        while not self.controller.ready()[0] and self.clock.monotonic() < deadline:
            await self.clock.sleep(0.1)
        if await self.wait_for(first.target, 5) is None:
            self.say("the resolver never answered with the preferred replica")
            return False
        self.say(
            f"taking {first.name} down (its /v2/ now answers 503); fall={m.fall}, interval={m.interval:g}s"
        )
        self.replicas.set_up(first.name, False)
        took = await self.wait_for(second.target, 10 + (m.fall + 2) * m.interval)
        if took is None:
            self.say("FAILED: the answer did not move")
            return False
        self.say(f"failover to {second.name} took {took:.1f}s")
        self.say(f"bringing {first.name} back; rise={m.rise}, failback_hold={self.profile.failback_hold:g}s")
        self.replicas.set_up(first.name, True)
        took = await self.wait_for(first.target, 10 + (m.rise + 2) * m.interval + self.profile.failback_hold)
        if took is None:
            self.say("FAILED: the answer did not come back")
            return False
        self.say(f"failback to {first.name} took {took:.1f}s")
        return True
