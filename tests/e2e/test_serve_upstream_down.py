"""`dnsctl serve` with an upstream that stops answering: /metrics, /status and the log say it is down, and
up again once it answers (one log line each way, not one per query)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dnsctl.resolver.forwarder import DOWN_AFTER
from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.e2e.test_serve_e2e import serve_config
from tests.resolver.conftest import UpstreamProcess

ASKED_AT_ONCE = 5


def rcodes(port: int, names: list[str]) -> list[int]:
    """The rcodes of `names` asked over UDP all at once (each from its own socket)."""

    def one(name: str) -> int:
        query = dns.message.make_query(name, "A")
        return dns.query.udp(query, "127.0.0.1", port=port, timeout=20).rcode()

    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(one, names))


def upstream_metrics(d: Daemon, upstream: str) -> tuple[float, float]:
    """(dnsctl_upstream_up, dnsctl_upstream_skipped_total) for `upstream`."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(d.get("/metrics").text):
        for sample in family.samples:
            if sample.labels.get("upstream") == upstream:
                values[sample.name] = sample.value
    return values["dnsctl_upstream_up"], values["dnsctl_upstream_skipped_total"]


def first_retry_metric(d: Daemon, upstream: str) -> float:
    for family in text_string_to_metric_families(d.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "dnsctl_upstream_first_retry_seconds" and sample.labels["upstream"] == upstream:
                return sample.value
    raise AssertionError("no dnsctl_upstream_first_retry_seconds for " + upstream)


def upstream_status(d: Daemon) -> dict[str, Any]:
    (state,) = d.status()["resolver"]["upstreams"]
    assert isinstance(state, dict)
    return state


@pytest.fixture
def upstreams() -> Iterator[list[UpstreamProcess]]:
    started: list[UpstreamProcess] = []
    yield started
    for process in started:
        process.stop()


def test_an_upstream_that_stops_answering_is_shown_down_then_up_again(
    tmp_path: Path, replicas: Replicas, upstreams: list[UpstreamProcess]
) -> None:
    upstreams.append(UpstreamProcess("normal").start())
    port = upstreams[0].port
    name = f"127.0.0.1:{port}"
    dns_port, admin_port = free_port(), free_port()
    doc = serve_config(replicas, dns_port, admin_port)
    doc["resolver"].update({"upstreams": [name], "upstream_timeout": "1s"})  # type: ignore[attr-defined]
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
        assert rcodes(dns_port, ["up0.example"]) == [dns.rcode.NOERROR]
        assert upstream_metrics(d, name) == (1.0, 0.0)
        state = upstream_status(d)
        assert (state["upstream"], state["state"], state["consecutive_unanswered"]) == (name, "up", 0)
        started = state["since"]
        # Its round trip, learnt from that reply, sets when a lost query is sent again (not 300 ms).
        assert 0 < state["round_trip_ms"] < 300 and 50 <= state["first_retry_ms"] < 300, state
        assert first_retry_metric(d, name) * 1000 == pytest.approx(state["first_retry_ms"], abs=0.1)

        # The upstream stops answering (a process on the same port that reads and never replies).
        upstreams[0].stop()
        upstreams.append(UpstreamProcess("silent", port=port).start())
        names = [f"dead{i}.example" for i in range(DOWN_AFTER)]
        assert rcodes(dns_port, names) == [dns.rcode.SERVFAIL] * DOWN_AFTER
        state = upstream_status(d)
        assert (state["state"], state["consecutive_unanswered"]) == ("down", DOWN_AFTER), state
        assert state["since"] >= started
        assert upstream_metrics(d, name)[0] == 0.0
        # Down: of the names asked at once, those that come while the one probe waits skip it.
        names = [f"skipped{i}.example" for i in range(ASKED_AT_ONCE)]
        assert rcodes(dns_port, names) == [dns.rcode.SERVFAIL] * ASKED_AT_ONCE
        state = upstream_status(d)
        assert state["state"] == "down" and state["skipped"] >= 1, state
        assert state["consecutive_unanswered"] + state["skipped"] == DOWN_AFTER + ASKED_AT_ONCE, state
        assert upstream_metrics(d, name) == (0.0, float(state["skipped"]))

        # It answers again: the next query (the probe) brings it back.
        upstreams[1].stop()
        upstreams.append(UpstreamProcess("normal", port=port).start())
        asked = iter(range(1000))
        d.wait_until(
            lambda: rcodes(dns_port, [f"back{next(asked)}.example"]) == [dns.rcode.NOERROR],
            30,
            "an answer from the upstream again",
        )
        state = upstream_status(d)
        assert (state["state"], state["consecutive_unanswered"]) == ("up", 0), state
        assert upstream_metrics(d, name)[0] == 1.0
        d.wait_until(lambda: f"upstream {name} is up again" in d.log(), 15, "the log line")
        assert d.terminate() == 0
    log = d.log()
    assert log.count(f"upstream {name} is down") == 1, log[-3000:]
    assert log.count(f"upstream {name} is up again") == 1, log[-3000:]
