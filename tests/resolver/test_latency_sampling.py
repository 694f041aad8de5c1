"""The resolver's latency histogram samples, and its name and help say how."""

from __future__ import annotations

from dnsctl.resolver.metrics import LATENCY_HELP, MEMORY_ANSWER_SAMPLE, ResolverMetrics
from tests.resolver.conftest import StartResolver, StartUpstream
from tests.resolver.helpers import ask, lab_zone


async def test_the_latency_histogram_samples_memory_answers_as_its_help_says(resolver: StartResolver) -> None:
    # UDP answers from memory (a lab zone here) are timed one in MEMORY_ANSWER_SAMPLE, TCP ones not at all.
    zone = lab_zone("lab.internal", (("@", "A", "127.0.0.1", 300),))
    metrics = ResolverMetrics()
    server = await resolver(zones=(zone,), metrics=metrics)
    port = server.bound[0][1]
    udp = 4 * MEMORY_ANSWER_SAMPLE
    for _ in range(udp):
        assert (await ask(port, "lab.internal")).answer
    assert metrics.total_queries == udp
    assert sum(metrics.latency_counts) == udp // MEMORY_ANSWER_SAMPLE
    for _ in range(3):
        assert (await ask(port, "lab.internal", tcp=True)).answer
    assert sum(metrics.latency_counts) == udp // MEMORY_ANSWER_SAMPLE
    assert metrics.total_queries == udp + 3
    assert f"one in {MEMORY_ANSWER_SAMPLE} UDP answers from memory, no TCP answer from memory" in LATENCY_HELP


async def test_every_answer_that_needed_an_upstream_is_timed(
    resolver: StartResolver, upstream: StartUpstream
) -> None:
    up = upstream("normal")
    metrics = ResolverMetrics()
    server = await resolver(upstreams=(up.address,), metrics=metrics)
    port = server.bound[0][1]
    names = [f"host{i}.example" for i in range(5)]  # distinct names: no cache hit
    for name in names:
        assert (await ask(port, name)).answer
    assert sum(metrics.latency_counts) == len(names)
