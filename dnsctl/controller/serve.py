"""`dnsctl serve`: the embedded resolver, steered by the engine running in the same process.

A decision change re-renders that profile's answers; the query path only looks them up. The first
round's batch renders every profile; later batches render their decision changes, installed at once
(one rebuild of the tables per batch). Answers come from the batch handed over, never from a re-read of
the engine's state. The endpoint targets are computed again only for the profiles a batch probed or
moved, and handed to the table only when one of them changed.

In a configuration with sites, each site's `clients` are a view answered with that site's decision
and addresses (`controller/site_answers.py`): the engine's own for the site this process is the
vantage of (`serve --site S`), the others' from the exchange. Clients in no site get the default
answer: the engine's decision with the endpoints' default addresses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from dnsctl.controller.base import ControllerBase
from dnsctl.controller.metrics import Metrics
from dnsctl.controller.vantage import Vantage
from dnsctl.core.decision import Decision, DecisionTarget, decision_targets
from dnsctl.core.health import EndpointHealth, serving_addresses
from dnsctl.core.model import DnsctlSpec, EndpointStatus, ProfileSpec
from dnsctl.core.routing import ordered
from dnsctl.core.state import DecisionChange, ProfileState
from dnsctl.documents.jsonable import iso
from dnsctl.documents.status import ResolverDoc, StatusDoc, UpstreamDoc
from dnsctl.engine import Batch, Engine
from dnsctl.errors import OperatorConflict
from dnsctl.process.state_store import StateStore
from dnsctl.resolver.metrics import PrometheusCollector, ResolverMetrics
from dnsctl.resolver.server import ResolverServer
from dnsctl.resolver.steering import SteeredAnswer, SteeringTable, target_answer

if TYPE_CHECKING:
    from dnsctl.controller.site_answers import SiteAnswers

log = logging.getLogger("dnsctl.serve")
_NEW = EndpointHealth()


def steered_answer(
    profile: ProfileSpec,
    decision: Decision | None,
    preference: tuple[str, ...] = (),
    health: Mapping[str, EndpointHealth] | None = None,
) -> SteeredAnswer:
    """The answer for a decision. With no decision yet: the first endpoint by (view) preference whose
    last probe answered, else the first one (an answer is owed even before the verdicts are in)."""
    if decision is None:
        order = [ep for ep in ordered(profile, preference) if ep.status is EndpointStatus.ENABLED]
        answered = [ep for ep in order if (h := (health or {}).get(ep.name)) and h.last and h.last.ok]
        first = (answered or order or ordered(profile))[0]
        addresses = serving_addresses(first, (health or {}).get(first.name, EndpointHealth()))
        return SteeredAnswer(
            profile.fqdn, profile.ttl, (DecisionTarget(first.name, first.target, addresses, first.weight),)
        )
    return SteeredAnswer(profile.fqdn, profile.ttl, decision_targets(profile, decision))


class ServeController(ControllerBase):
    def __init__(
        self,
        engine: Engine,
        *,
        store: StateStore | None = None,
        metrics: Metrics | None = None,
        vantage: Vantage | None = None,
        sites: SiteAnswers | None = None,
        full: DnsctlSpec | None = None,
    ) -> None:
        super().__init__(engine, store=store, metrics=metrics, vantage=vantage)
        self.sites = sites
        # The whole configuration (the engine's is `--site S`'s view: S's addresses): default answers.
        self.full = full or self.spec
        self.steering = SteeringTable()
        self.resolver_metrics = ResolverMetrics()
        PrometheusCollector(self.resolver_metrics, self.registry)
        resolver = self.spec.resolver
        if sites is not None:
            resolver = replace(resolver, views=resolver.views + sites.views)
        self.server = ResolverServer(resolver, self.steering, metrics=self.resolver_metrics, clock=self.clock)
        self._profiles = {p.name: p for p in self.spec.profiles}
        # Endpoint targets asked for directly are answered with the default addresses (the whole config's).
        self._target_profiles = {p.name: p for p in self.full.profiles}
        self._targets: dict[str, tuple[SteeredAnswer, ...]] = {}  # each profile's endpoint targets

    def _publish_default(
        self, p: ProfileSpec, decision: Decision | None, health: Mapping[str, EndpointHealth] | None = None
    ) -> None:
        """The answer of clients in no view; with sites, also of the site this process is the vantage of."""
        own = self.sites.own if self.sites is not None else None
        if self.sites is None or own is None:  # the engine probes the default addresses
            self.steering.publish(steered_answer(p, decision, health=health))
            return
        # The engine probes through site `own`'s addresses: clients in no site get the default ones.
        full = self.full.profile(p.name)
        self.steering.publish(steered_answer(full, replace(decision, addresses=()) if decision else None))
        if self.sites.sites.site(own).clients:
            self.steering.publish(steered_answer(p, decision, health=health), view=own)

    def _render_all(self, states: Mapping[str, ProfileState]) -> None:
        for p in self.spec.profiles:
            st = states[p.name]
            self._publish_default(p, st.decision, st.endpoints)
            for view in self.spec.resolver.views:
                order = view.preference(p.name)
                if order is not None:
                    routing = st.views.get(view.name)
                    decision = routing.decision if routing else None
                    self.steering.publish(steered_answer(p, decision, order, st.endpoints), view=view.name)

    def endpoint_targets(self, states: Mapping[str, ProfileState]) -> list[SteeredAnswer]:
        """Every endpoint target with addresses, answered with its serving ones when asked for directly."""
        targets = []
        for p in self.full.profiles:
            health = states[p.name].endpoints
            for ep in p.endpoints:
                if ep.addresses:
                    serving = serving_addresses(ep, health.get(ep.name, EndpointHealth()))
                    targets.append(target_answer(p.fqdn, p.ttl, ep.target, serving))
        return targets

    async def start(self) -> None:
        # The ports first: a port in use fails the start before anything is probed, and the log says
        # where the resolver listens before it says what it decided.
        bound = self.server.bind()
        log.info(
            "resolver listening on %s (udp+tcp); answering once the first round of probes is in",
            ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in bound),
        )
        # A state file never stops the resolver: a bad one is moved aside and reported by the store.
        self.restore({})
        # One round before the first answer (bounded by the monitors' timeouts), so that a restart
        # without stored state does not point clients at a replica that is down. Queries that come
        # meanwhile wait in the sockets and get the answers of this round's decisions.
        # Its decisions are where the resolver starts, not news for the webhooks.
        await self.handle(await self.engine.round(), full=True, tell=False)
        await self.server.start()
        self.scheduler.start()
        self.scheduler.add_probes()

    async def stop(self) -> None:
        self.scheduler.shutdown()
        await self.server.stop()
        self.persist(self.engine.snapshot())

    async def publish(self, batch: Batch) -> None:
        with self.steering.deferred():  # the whole batch installed with one rebuild of the tables
            await self._publish(batch)

    def _set_targets(self, batch: Batch) -> None:
        """The endpoint targets of the profiles this batch probed or moved (all with `full`); handed to the
        table only when one changed. An endpoint with one address always answers with it: computed once."""
        names = self._target_profiles if batch.full or not self._targets else batch.probed | batch.moved
        changed = False
        for name in names:
            p = self._target_profiles.get(name)
            if p is None or (name in self._targets and all(len(ep.addresses) < 2 for ep in p.endpoints)):
                continue
            st = batch.states[name]
            targets = tuple(
                target_answer(
                    p.fqdn, p.ttl, ep.target, serving_addresses(ep, st.endpoints.get(ep.name, _NEW))
                )
                for ep in p.endpoints
                if ep.addresses
            )
            if self._targets.get(name) != targets:
                self._targets[name] = targets
                changed = True
        if changed:
            self.steering.set_targets([t for p in self.full.profiles for t in self._targets.get(p.name, ())])

    async def _publish(self, batch: Batch) -> None:
        if batch.full:
            self._render_all(batch.states)
            changes: tuple[DecisionChange, ...] = ()
        else:
            changes = batch.changes
        for c in changes:
            p = self._profiles[c.profile]
            order: tuple[str, ...] = ()
            if c.view is None:
                self._publish_default(p, c.new)
                continue
            view = next(v for v in self.spec.resolver.views if v.name == c.view)
            order = view.preference(c.profile) or ()
            self.steering.publish(steered_answer(p, c.new, order), view=c.view)
        if self.sites is not None:
            await self._publish_sites()
        # Every round: the endpoints not chosen follow their addresses' health too.
        self._set_targets(batch)

    async def _publish_sites(self) -> None:
        """The other sites' answers, from their vantages' verdicts (read with this vantage's own
        exchange round, or here when this process is no site's vantage)."""
        assert self.sites is not None
        if self.vantage is not None:
            health = self.vantage.health
        elif self.sites.due():
            health = await self.sites.read()
        else:
            return
        if health is None:
            return
        for view, answer in self.sites.update(health):
            self.steering.publish(answer, view=view)

    async def resync_now(self) -> str:
        raise OperatorConflict(
            "dnsctl serve answers DNS itself from its decisions: there is no published record to re-read"
        )

    def status(self) -> StatusDoc:
        doc = super().status()
        m = self.resolver_metrics
        lookups = m.cache_hits + m.cache_misses
        profiles = []
        for p in doc.profiles:
            answer = self.steering.get(self.spec.profile(p.name).fqdn)
            profiles.append(replace(p, answer=tuple(t.target for t in answer.targets) if answer else ()))
        return replace(
            doc,
            profiles=tuple(profiles),
            resolver=ResolverDoc(
                listening=tuple(f"{h}:{port}" for h, port in self.server.bound),
                queries=m.total_queries,
                cache_entries=m.cache_size(),
                cache_hit_ratio=round(m.cache_hits / lookups, 4) if lookups else None,
                upstreams=tuple(
                    UpstreamDoc(
                        u.upstream,
                        "up" if u.up else "down",
                        iso(u.since),
                        u.unanswered,
                        u.skipped,
                        round(u.round_trip.srtt * 1000, 3) if u.round_trip.samples else None,
                        round(u.first_retry * 1000, 1),
                    )
                    for u in m.upstreams()
                ),
                udp_reader=self.server.udp_reader,
            ),
        )
