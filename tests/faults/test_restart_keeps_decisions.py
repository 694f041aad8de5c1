"""`dnsctl run` killed (SIGKILL) and restarted while the zone reads fail: an operator's drain, a manual
failback and a running failback_hold all hold, and nothing is written until the stored state is read.

The outage is the emulator's: reads answer 500 a given number of times (four: the Azure SDK's own
retries absorb them, slowly), or until the test clears the fault (a long outage, as long as the test
needs and no longer). Real process, real replicas, the real SDK; a watcher samples the record all along
so that a flip that is put right later still fails the test.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon import Daemon
from tests.e2e.harness import ZONE_ID, dnsctl, free_port
from tests.faults.kit import Replicas, WatchedEmulator, cname, config, profile, record, sample, target

NAME = "myregistry"
EAST, WEST = target(NAME, "eastus"), target(NAME, "westeurope")
ADMIN_TOKEN = "restart-admin-token"
UNTIL_CLEARED = 1_000_000  # injected failures: more than any test makes, cleared by the test


class Watch:
    """Every value the record takes, sampled every 10 ms from a thread until stopped."""

    def __init__(self, emulator: WatchedEmulator) -> None:
        self.emulator = emulator
        self.seen: set[str | None] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.seen.add(cname(self.emulator, NAME))

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Lab:
    def __init__(self, tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, **extra: Any) -> None:
        self.tmp_path, self.emulator, self.replicas = tmp_path, emulator, replicas
        self.admin_port = free_port()
        self.cfg = config(
            tmp_path / "run.yaml",
            emulator,
            [profile(NAME, replicas, fall=1, **extra)],
            admin={"listen": f"127.0.0.1:{self.admin_port}"},
            resync_interval="1s",
        )
        self.starts = 0

    def start(self) -> Daemon:
        self.starts += 1
        return Daemon(
            "run",
            "-c",
            str(self.cfg),
            admin_port=self.admin_port,
            env={"DNSCTL_ADMIN_TOKEN": ADMIN_TOKEN},
            log=self.tmp_path / f"run{self.starts}.log",
        ).start()

    def stored(self) -> dict[str, Any]:
        rs = record(self.emulator, NAME)
        assert rs is not None
        doc: dict[str, Any] = json.loads(rs["properties"]["metadata"]["dnsctl-state"])
        return doc


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        d.kill()


def restart_during_outage(lab: Lab, daemons: list[Daemon], *, outage: bool) -> Daemon:
    """SIGKILL the controller, make the zone reads fail, start it again and let the reads through.

    While the reads fail nothing is written, /readyz is 503 and says why, and dnsctl_ready is 0.
    """
    daemons[-1].kill()
    em = lab.emulator
    em.reset_request_log()
    em.inject_error(UNTIL_CLEARED if outage else 4, applies_to="read")
    d = lab.start()
    daemons.append(d)
    readyz = d.get("/readyz")
    assert readyz.status_code == 503 and "stored state not read yet" in readyz.text
    if outage:
        d.wait_until(lambda: "reading the records failed" in d.get("/readyz").text, 30, "a failed read")
        metrics = d.get("/metrics").text
        assert sample(metrics, "dnsctl_ready") == 0 and sample(metrics, "dnsctl_state_read") == 0
        assert (sample(metrics, "dnsctl_state_read_errors_total") or 0) >= 1
        status = d.status()
        assert status["state"]["read"] is False and "HTTP 500" in status["state"]["unread_reason"]
        st = dnsctl("status", "--url", d.admin)
        assert st.code == 0 and "WARNING: stored state not read yet" in st.stdout, st.stdout + st.stderr
        r = d.post(f"/v1/profiles/{NAME}/failback", token=ADMIN_TOKEN)
        assert r.status_code == 503 and "not yet" in r.text, "an action on an unread state would be lost"
        assert [r.kind for r in em.request_log()] and all(r.kind == "read" for r in em.request_log())
        em.clear_faults()
    d.wait_until(lambda: d.get("/readyz").status_code == 200, 40, "readiness once the zone is readable")
    assert sample(d.get("/metrics").text, "dnsctl_ready") == 1
    assert not em.pending_faults()["answers"], "the reads failed as injected"
    assert "Traceback" not in d.log()
    return d


def settle(d: Daemon) -> None:
    """Enough probe rounds and resyncs after the restart for any flip to have happened."""
    first = sample(d.get("/metrics").text, "dnsctl_last_successful_reconcile_timestamp_seconds") or 0
    d.wait_until(
        lambda: (
            (sample(d.get("/metrics").text, "dnsctl_last_successful_reconcile_timestamp_seconds") or 0)
            > first + 1
        ),
        15,
        "two resyncs after the restart",
    )


@pytest.mark.parametrize("outage", [False, True], ids=["4x500", "outage-until-cleared"])
def test_a_drain_holds_across_sigkill_and_a_restart_while_reads_fail(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, daemons: list[Daemon], outage: bool
) -> None:
    lab = Lab(tmp_path, emulator, replicas)
    d = lab.start()
    daemons.append(d)
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")
    assert d.post(f"/v1/profiles/{NAME}/endpoints/eastus/drain", token=ADMIN_TOKEN).status_code == 200
    d.wait_until(lambda: cname(emulator, NAME) == WEST, 10, "the drain to move the record")
    assert lab.stored()["o"] == {"eastus": "down"}

    with Watch(emulator) as watch:
        d = restart_during_outage(lab, daemons, outage=outage)
        assert d.status()["profiles"][0]["overrides"] == {"eastus": "down"}
        settle(d)
    assert watch.seen == {WEST}, "the record never left westeurope"
    assert lab.stored()["o"] == {"eastus": "down"}, "the stored drain was not overwritten"


def fail_over_and_back(
    lab: Lab, emulator: WatchedEmulator, replicas: Replicas, daemons: list[Daemon]
) -> None:
    """eastus written, then stopped (the record moves to westeurope), then back and stored Online."""
    d = lab.start()
    daemons.append(d)
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")
    replicas.set("eastus", "stopped")
    d.wait_until(lambda: cname(emulator, NAME) == WEST, 10, "the failover")
    replicas.set("eastus", "healthy")
    d.wait_until(lambda: lab.stored()["e"]["eastus"]["s"] == "O", 10, "eastus Online in the stored state")


@pytest.mark.parametrize("outage", [False, True], ids=["4x500", "outage-until-cleared"])
def test_manual_failback_holds_across_a_restart_while_reads_fail(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, daemons: list[Daemon], outage: bool
) -> None:
    lab = Lab(tmp_path, emulator, replicas, failback="manual")
    fail_over_and_back(lab, emulator, replicas, daemons)
    assert cname(emulator, NAME) == WEST

    with Watch(emulator) as watch:
        d = restart_during_outage(lab, daemons, outage=outage)
        settle(d)
        assert "failback is manual" in d.status()["profiles"][0]["decision"]["reason"]
    assert watch.seen == {WEST}, "no failback until the operator asks"
    assert d.post(f"/v1/profiles/{NAME}/failback", token=ADMIN_TOKEN).status_code == 200
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 10, "the operator's failback")


@pytest.mark.parametrize("outage", [False, True], ids=["4x500", "outage-until-cleared"])
def test_a_running_failback_hold_goes_on_across_a_restart_while_reads_fail(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, daemons: list[Daemon], outage: bool
) -> None:
    lab = Lab(tmp_path, emulator, replicas, failback_hold="1h")
    fail_over_and_back(lab, emulator, replicas, daemons)
    online_since = lab.stored()["e"]["eastus"]["t"]

    with Watch(emulator) as watch:
        d = restart_during_outage(lab, daemons, outage=outage)
        settle(d)
        reason = d.status()["profiles"][0]["decision"]["reason"]
    assert watch.seen == {WEST}, "no failback before the hold has run"
    left = re.search(r"failback to it in (\d+)s", reason)
    assert left is not None, reason
    # The hold counts from when eastus came back before the restart, not from the restart.
    expected = 3600 - (time.time() - online_since)
    assert expected < 3600 - 5 and abs(int(left.group(1)) - expected) <= 3, reason
    assert lab.stored()["e"]["eastus"]["t"] == online_since


def test_a_hand_edit_after_a_restart_is_reported_as_drift_before_it_is_put_back(
    tmp_path: Path, emulator: WatchedEmulator, replicas: Replicas, daemons: list[Daemon]
) -> None:
    lab = Lab(tmp_path, emulator, replicas)
    d = lab.start()
    daemons.append(d)
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 15, "the first write")
    assert d.terminate() == 0
    d = lab.start()
    daemons.append(d)
    d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness after the restart")
    rs = record(emulator, NAME)
    assert rs is not None
    emulator.seed_record_set(
        ZONE_ID,
        "CNAME",
        NAME,
        {"ttl": 30, "cnameRecord": {"cname": "manual.example.com"}, "metadata": rs["properties"]["metadata"]},
    )
    d.wait_until(lambda: cname(emulator, NAME) == EAST, 10, "the hand edit to be put back")
    change = "dns change: profile=myregistry record=privatelink.azurecr.io/myregistry action=update"
    # The change line is logged once the write has been answered, so it may trail the record.
    log = d.wait_until(lambda: d.log() if change in d.log() else "", 5, "the put-back to be logged")
    drift = log.find("drift: privatelink.azurecr.io/myregistry was changed outside dnsctl")
    put_back = log.find(change)
    assert 0 <= drift < put_back, log[-3000:]
    assert "CNAME manual.example.com ttl 30" in log[drift:put_back]
    metrics = d.get("/metrics").text
    assert sample(metrics, "dnsctl_drift_detected_total", profile=NAME, owned="true") == 1
    found = d.status()["profiles"][0]["drift"]
    assert found["found"] == "CNAME manual.example.com ttl 30" and found["expected"] == f"CNAME {EAST} ttl 30"
    st = dnsctl("status", "--url", d.admin)
    assert "drift: privatelink.azurecr.io/myregistry found CNAME manual.example.com ttl 30" in st.stdout
