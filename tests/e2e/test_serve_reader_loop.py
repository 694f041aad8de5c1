"""`dnsctl serve` says which UDP reader loop answers from memory (the native one where it was built, the
Python one with DNSCTL_PURE_PYTHON_READER=1): once in its log at start, and in `/status`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Replicas
from tests.e2e.daemon import Daemon
from tests.e2e.harness import free_port
from tests.e2e.test_serve_e2e import EAST, answer, serve_config


@pytest.mark.parametrize("kind", ["native", "python"])
def test_serve_says_which_reader_loop_answers(
    tmp_path: Path, replicas: Replicas, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.delenv("DNSCTL_PURE_PYTHON_READER", raising=False)
    env = {"DNSCTL_PURE_PYTHON_READER": "1"} if kind == "python" else {}
    dns_port, admin_port = free_port(), free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, admin_port)))
    with Daemon("serve", "-c", str(cfg), admin_port=admin_port, env=env, log=tmp_path / "serve.log") as d:
        d.wait_until(lambda: d.get("/readyz").status_code == 200, 15, "readiness")
        for _ in range(3):  # classified, replayed from memory, replayed again
            assert answer(dns_port)[0] == EAST
        assert d.status()["resolver"]["udp_reader"] == kind
        assert d.terminate() == 0
    said = [line for line in d.log().splitlines() if "UDP reader loop: " in line]
    assert len(said) == 1 and f"UDP reader loop: {kind} (" in said[0], d.log()
