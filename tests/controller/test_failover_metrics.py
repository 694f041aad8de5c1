"""dnsctl_failovers_total counts failovers only; failbacks have dnsctl_failbacks_total."""

from __future__ import annotations

from dnsctl.controller.metrics import Metrics
from dnsctl.core.model import Override
from dnsctl.core.state import RoundOutcome, set_override
from tests.core.factories import Engine, profile, spec

UP = {"eastus": True, "westeurope": True}
EAST_DOWN = {"eastus": False, "westeurope": True}


def counts(metrics: Metrics) -> tuple[float | None, float | None]:
    get = metrics.registry.get_sample_value
    labels = {"profile": "myregistry"}
    return get("dnsctl_failovers_total", labels), get("dnsctl_failbacks_total", labels)


def test_a_failover_and_its_failback_are_counted_apart() -> None:
    e = Engine(spec(profile(failback_hold=0.0)))
    metrics = Metrics()
    metrics.init_profiles(e.spec)

    def observe(out: RoundOutcome) -> None:
        metrics.observe_round(out, ())

    assert counts(metrics) == (0.0, 0.0)
    observe(e.round(UP))
    assert counts(metrics) == (0.0, 0.0), "the first decision is neither"
    for _ in range(3):
        observe(e.round(EAST_DOWN))
    assert counts(metrics) == (1.0, 0.0)
    for _ in range(3):
        observe(e.round(UP))
    assert e.states["myregistry"].decision is not None
    assert e.states["myregistry"].decision.primary == "eastus"
    assert counts(metrics) == (1.0, 1.0)

    # An operator's drain is a failover away from the drained endpoint; undrain fails back.
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", Override.DOWN))
    observe(e.redecide())
    assert counts(metrics) == (2.0, 1.0)
    e.update("myregistry", set_override(e.states["myregistry"], "eastus", None))
    observe(e.redecide())
    assert counts(metrics) == (2.0, 2.0)
