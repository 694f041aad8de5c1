"""deploy/monitoring: the alerting rules are valid Prometheus rules (promtool, from Debian's prometheus
package) that fire as documented, and every metric the rules and the Grafana dashboard name is one that
a running dnsctl (`serve` and `run`, real processes) exports on /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dnsctl.emulator import AzureEmulator
from tests.e2e.conftest import Replicas, emulator, replicas  # noqa: F401 (fixtures)
from tests.e2e.daemon import Daemon
from tests.e2e.harness import REPO, free_port, profile_config, write_config
from tests.e2e.test_serve_e2e import serve_config
from tests.support.system_packages import ensure_command
from tests.support.waits import run_process

MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "dnsctl-alerts.yaml"
RULE_TESTS = MONITORING / "dnsctl-alerts.test.yaml"
DASHBOARD = MONITORING / "dnsctl-dashboard.json"
METRIC = re.compile(r"\bdnsctl_[a-z0-9_]+\b")
# What the issue asks the rules to cover (a stale vantage has no metric yet: the file says so).
REQUIRED_ALERTS = {
    "DnsctlEndpointDegraded",
    "DnsctlAllEndpointsDown",
    "DnsctlFailover",
    "DnsctlIsolationGuard",
    "DnsctlNoLeader",
    "DnsctlDrift",
}


def rule_exprs() -> dict[str, str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    exprs += [a["expr"] for a in doc["annotations"]["list"] if "expr" in a]
    exprs += [v["query"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_the_rules_file_is_valid_and_its_alerts_fire_as_written() -> None:
    promtool = ensure_command("promtool")
    check = run_process([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in check.stdout
    unit = run_process(
        [promtool, "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=MONITORING,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr
    # The structure promtool does not insist on: each alert has a severity and a summary.
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
    assert set(rule_exprs()) >= REQUIRED_ALERTS


def test_the_dashboard_is_grafana_json_with_the_panels_asked_for() -> None:
    doc = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in doc["panels"]}
    assert {
        "Decisions over time",
        "Endpoint states",
        "Probe latency (p50, p95)",
        "Resolver answers by kind (rcode)",
    } <= titles
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]
        assert set(p["gridPos"]) == {"x", "y", "w", "h"}


def exported(text: str) -> set[str]:
    """Every name a PromQL expression may use for the metrics in an exposition: samples, and the
    families (a labelled series not yet seen still has its HELP/TYPE lines)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(s.name for s in family.samples)
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
        }.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


def test_every_metric_the_rules_and_the_dashboard_name_is_exported(
    tmp_path: Path,
    emulator: AzureEmulator,  # noqa: F811
    replicas: Replicas,  # noqa: F811
) -> None:
    named: dict[str, set[str]] = {}
    for where, exprs in (("rules", list(rule_exprs().values())), ("dashboard", dashboard_exprs())):
        for expr in exprs:
            for name in METRIC.findall(expr):
                named.setdefault(name, set()).add(where)
    assert len(named) >= 15  # the parse found the metrics, not nothing

    scraped: dict[str, set[str]] = {}
    dns_port, serve_admin = free_port(), free_port()
    serve_cfg = tmp_path / "serve.yaml"
    serve_cfg.write_text(yaml.safe_dump(serve_config(replicas, dns_port, serve_admin)))
    run_admin = free_port()
    run_cfg = write_config(
        tmp_path / "run.yaml",
        emulator,
        [profile_config(replicas.port, replicas.ca_file, fall=1, rise=1)],
        admin={"listen": f"127.0.0.1:{run_admin}"},
    )
    for command, cfg, port in (("serve", serve_cfg, serve_admin), ("run", run_cfg, run_admin)):
        log = tmp_path / f"{command}.log"
        with Daemon(command, "-c", str(cfg), admin_port=port, log=log) as d:
            d.wait_until(lambda: d.get("/readyz").status_code == 200, 30, "readiness")
            # After a probe round, so that the probe histogram has its samples.
            d.wait_until(
                lambda: "dnsctl_probe_duration_seconds_count{" in d.get("/metrics").text, 30, "a probe"
            )
            scraped[command] = exported(d.get("/metrics").text)

    everywhere = scraped["serve"] | scraped["run"]
    missing = {name: sorted(where) for name, where in named.items() if name not in everywhere}
    assert not missing, f"named in deploy/monitoring but exported by neither serve nor run: {missing}"
    # The resolver's panels need `serve`, the lease and write alerts need `run`.
    assert "dnsctl_resolver_queries_total" in scraped["serve"]
    assert {"dnsctl_leader", "dnsctl_dns_writes_total"} <= scraped["run"]


def test_a_misspelt_metric_would_be_caught() -> None:
    """The check above compares exact names: a `_total` too many or too few is not exported."""
    text = (
        "# HELP dnsctl_failovers_total x\n# TYPE dnsctl_failovers_total counter\n"
        'dnsctl_failovers_total{profile="p"} 1.0\n'
        "# HELP dnsctl_leader x\n# TYPE dnsctl_leader gauge\ndnsctl_leader 1.0\n"
    )
    names = exported(text)
    assert "dnsctl_failovers_total" in names and "dnsctl_leader" in names
    assert "dnsctl_failovers" not in names and "dnsctl_leader_total" not in names


@pytest.mark.parametrize("path", [RULES, RULE_TESTS])
def test_the_yaml_files_parse(path: Path) -> None:
    doc: Any = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
