"""Many profiles in one controller: the work of an interval is linear in the profiles (counted in calls),
a process out of file descriptors flips nothing, and SIGTERM is honoured within 5 s under overload."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import prometheus_client.metrics
import pytest
import yaml

from dnsctl.compose import make_prober
from dnsctl.controller.base import ControllerBase
from dnsctl.core import state as core_state
from dnsctl.core.model import DnsctlSpec, MonitorProtocol, MonitorSpec, ProfileSpec
from dnsctl.demo.replicas import DemoReplicas
from dnsctl.engine import Batch, Engine
from dnsctl.process.clock import SystemClock
from tests.e2e.harness import REPO, free_port

ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


class Counting(ControllerBase):
    """A controller that publishes nowhere and counts the probed profiles handed to it."""

    handled = 0
    expected = 0
    all_handled: asyncio.Event

    async def publish(self, batch: Batch) -> None:
        self.handled += len(batch.probed)
        if self.handled >= self.expected:
            self.all_handled.set()


def fleet(replicas: DemoReplicas, n: int) -> DnsctlSpec:
    monitor = MonitorSpec(protocol=MonitorProtocol.HTTP, port=replicas.port, interval=60.0, timeout=5.0)
    eps = replicas.endpoint_specs()
    profiles = tuple(
        ProfileSpec(name=f"reg{i}", fqdn=f"reg{i}.example.internal", endpoints=eps, monitor=monitor)
        for i in range(n)
    )
    return DnsctlSpec(profiles=profiles)


async def calls_for_one_interval(n: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Calls made while every endpoint of `n` profiles is probed once (the first interval of the schedule)."""
    counts = {"labels": 0, "decide": 0}
    labels = prometheus_client.metrics.MetricWrapperBase.labels
    decide = core_state._decide_all

    def counted_labels(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["labels"] += 1
        return labels(self, *args, **kwargs)

    def counted_decide(*args: Any, **kwargs: Any) -> Any:
        counts["decide"] += 1
        return decide(*args, **kwargs)

    async with DemoReplicas(first_address=ADDRESSES[0]) as replicas:
        spec = fleet(replicas, n)
        clock = SystemClock()
        prober = make_prober(clock=clock)
        ctl = Counting(Engine(spec, prober, clock))
        ctl.expected = n
        ctl.all_handled = asyncio.Event()
        ctl.restore({})
        with monkeypatch.context() as m:
            m.setattr(prometheus_client.metrics.MetricWrapperBase, "labels", counted_labels)
            m.setattr(core_state, "_decide_all", counted_decide)
            ctl.scheduler.start()
            ctl.scheduler.add_probes()
            try:
                async with asyncio.timeout(60):  # a 60 s interval: the second round is not due before
                    await ctl.all_handled.wait()
                return dict(counts)
            finally:
                ctl.scheduler.shutdown()
                await prober.aclose()


async def test_the_work_of_an_interval_grows_linearly_with_the_profiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = await calls_for_one_interval(15, monkeypatch)
    large = await calls_for_one_interval(60, monkeypatch)  # 4x the profiles
    # Linear: about 4x the calls. Walking every endpoint after every profile's round (N^2) gives 16x.
    assert large["labels"] <= 6 * small["labels"], (small, large)
    assert large["decide"] <= 6 * small["decide"], (small, large)
    assert large["labels"] <= 12 * 3 * 60, large  # a handful of series per probed endpoint


# --- real processes ------------------------------------------------------------------------------------
class _Replica(socketserver.BaseRequestHandler):
    """Answers one GET with 200 after a short delay (so probes overlap and hold their sockets)."""

    delay = 0.3
    silent = False

    def handle(self) -> None:
        sock: socket.socket = self.request
        with contextlib.suppress(OSError):
            sock.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                data += chunk
            if self.silent:
                time.sleep(10)
                return
            time.sleep(self.delay)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


@contextlib.contextmanager
def stand_ins(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    """The handler on 127.0.0.2-4, one port for all three."""
    for _ in range(20):
        servers: list[_Server] = []
        try:
            first = _Server((ADDRESSES[0], 0), handler)
            servers.append(first)
            port = first.server_address[1]
            servers += [_Server((a, port), handler) for a in ADDRESSES[1:]]
        except OSError:
            for s in servers:
                s.server_close()
            continue
        threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
        for t in threads:
            t.start()
        try:
            yield port
        finally:
            for s in servers:
                s.shutdown()
                s.server_close()
        return
    raise RuntimeError("no port free on every address")


def serve_config(tmp: Path, n: int, port: int, *, interval: str, timeout: str, fall: int) -> tuple[Path, int]:
    dns_port, admin_port = free_port(), free_port()
    doc = {
        "profiles": [
            {
                "name": f"reg{i}",
                "fqdn": f"reg{i}.example.internal",
                "monitor": {
                    "protocol": "http",
                    "port": port,
                    "interval": interval,
                    "timeout": timeout,
                    "fall": fall,
                    "rise": 1,
                },
                "endpoints": [
                    {
                        "name": f"r{k}",
                        "target": f"reg{i}.r{k}.example.internal",
                        "priority": k + 1,
                        "addresses": [a],
                    }
                    for k, a in enumerate(ADDRESSES)
                ],
            }
            for i in range(n)
        ],
        "resolver": {"listen": [f"127.0.0.1:{dns_port}"]},
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
    }
    path = tmp / "dnsctl.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, admin_port


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until(proc: subprocess.Popen[bytes], check: Any, limit: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dnsctl exited ({proc.returncode}) waiting for {what}:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def few_files() -> None:
    # In the child before exec: enough descriptors to start and serve, not for every probe at once.
    resource.setrlimit(resource.RLIMIT_NOFILE, (60, 60))


def test_running_out_of_file_descriptors_flips_nothing(tmp_path: Path) -> None:
    with stand_ins(_Replica) as port:
        cfg, admin_port = serve_config(tmp_path, 40, port, interval="1s", timeout="900ms", fall=1)
        log = tmp_path / "serve.log"
        admin = f"http://127.0.0.1:{admin_port}"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", "serve", "-c", str(cfg)],
                cwd=REPO,
                stdout=out,
                stderr=out,
                preexec_fn=few_files,
            )
        try:

            def metrics() -> str:
                # The server runs short of descriptors too: a request may be reset; ask again (bounded:
                # a minute, as a loaded machine can keep every descriptor busy for many rounds).
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with contextlib.suppress(httpx.HTTPError):
                        return httpx.get(admin + "/metrics", timeout=10).text
                    time.sleep(0.2)
                return httpx.get(admin + "/metrics", timeout=10).text

            # 120 probes a round against 60 descriptors: some probes find none, every round at first.
            wait_until(proc, lambda: httpx.get(admin + "/readyz", timeout=10).status_code == 200, 90,
                       "every profile to have a decision", log)  # fmt: skip
            sent = sample(metrics(), "dnsctl_probes_sent_total")
            wait_until(proc, lambda: sample(metrics(), "dnsctl_probes_sent_total") >= sent + 3 * 120, 90,
                       "three more rounds", log)  # fmt: skip
            text = metrics()
            # It did run out (the bound came down), and that was nobody's verdict.
            assert sample(text, "dnsctl_probes_in_flight_limit") < 256, text
            assert sample(text, "dnsctl_endpoint_transitions_total", to="Degraded") == 0, log.read_text()[
                -3000:
            ]
            assert sample(text, "dnsctl_probe_failures_total", reason="error") == 0
            assert sample(text, "dnsctl_endpoint_up") == 120
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class _Silent(_Replica):
    silent = True


def test_sigterm_under_overload_exits_within_five_seconds(tmp_path: Path) -> None:
    # 1,000 profiles x 3 endpoints every second, each probe held 900 ms by a replica that never answers:
    # ten times what 256 probes in flight can make. The process is overloaded from its first round on.
    with stand_ins(_Silent) as port:
        cfg, admin_port = serve_config(tmp_path, 1000, port, interval="1s", timeout="900ms", fall=3)
        log = tmp_path / "serve.log"
        admin = f"http://127.0.0.1:{admin_port}"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dnsctl", "serve", "-c", str(cfg)], cwd=REPO, stdout=out, stderr=out
            )
        try:
            wait_until(proc, lambda: httpx.get(admin + "/healthz", timeout=10).status_code == 200, 120,
                       "the admin API", log)  # fmt: skip
            # Probing has started (the first round, which the resolver waits for, takes ~12 s here).
            wait_until(proc, lambda: "dnsctl_probe" in httpx.get(admin + "/metrics", timeout=30).text, 60,
                       "metrics", log)  # fmt: skip
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            took = time.monotonic() - started
            assert took < 5.0, f"exited {took:.1f}s after SIGTERM\n{log.read_text()[-3000:]}"
            assert proc.returncode == 0, log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_round_waits_for_slots_instead_of_opening_more() -> None:
    """The bound is global: two rounds at once never have more probes in flight than it."""
    from dnsctl.probes.round import ProbeLimit, probe_round
    from tests.probes.builders import endpoint, profile

    class Slow:
        async def probe(self, p: ProfileSpec, ep: Any, now: float, address: str | None = None) -> Any:
            from dnsctl.core.results import ProbeResult

            await asyncio.sleep(0.01)
            return ProbeResult(p.name, ep.name, now, True, 0.01, ep.target)

    async def main() -> int:
        limit = ProbeLimit(5)
        p = profile(80)
        work = [(replace(p, name=f"p{i}"), endpoint(name=f"e{i}")) for i in range(40)]
        await asyncio.gather(
            probe_round(Slow(), work, now=0.0, limit=limit), probe_round(Slow(), work, now=0.0, limit=limit)
        )
        return limit.most_in_flight

    assert asyncio.run(main()) == 5


async def test_a_late_event_loop_is_a_metric_and_a_readiness_reason() -> None:
    async with DemoReplicas(first_address=ADDRESSES[0]) as replicas:
        clock = SystemClock()
        prober = make_prober(clock=clock)
        ctl = Counting(Engine(fleet(replicas, 1), prober, clock))
        ctl.expected = 1
        ctl.all_handled = asyncio.Event()
        ctl.restore({})
        ctl.scheduler.start()
        ctl.scheduler.add_probes()
        try:
            async with asyncio.timeout(30):
                await ctl.all_handled.wait()
            assert ctl.ready() == (True, "every profile has a decision")
            time.sleep(1.5)  # the event loop held up, as an overloaded process holds it  # noqa: ASYNC251
            for _ in range(200):  # the lag is seen at the next tick of the loop's watcher
                if (ctl.registry.get_sample_value("dnsctl_event_loop_lag_seconds") or 0) >= 1.0:
                    break
                await asyncio.sleep(0.05)
            assert (ctl.registry.get_sample_value("dnsctl_event_loop_lag_seconds") or 0) >= 1.0
            ready, why = ctl.ready()
            assert not ready and "event loop is running" in why, why
        finally:
            ctl.scheduler.shutdown()
            await prober.aclose()
