"""Two `dnsctl run` controllers on one lease in Azurite: only the holder writes; a clean stop hands over."""

from __future__ import annotations

from dnsctl.compose import build_engine, build_lease
from dnsctl.controller.blob_lease import AzureBlobLease
from dnsctl.controller.run import RunController
from dnsctl.documents.jsonable import to_object
from dnsctl.process.clock import SystemClock
from dnsctl.targets.memory import MemoryTarget
from tests.ha.azurite import Azurite
from tests.ha.conftest import MakeLease, lease_spec


def test_the_composition_root_builds_the_blob_lease_from_the_spec(blob_url: str) -> None:
    lease = build_lease(lease_spec(blob_url, 30), SystemClock())
    assert isinstance(lease, AzureBlobLease)
    assert (lease.kind, lease.duration, lease.renew_every) == ("azure-blob", 30, 10.0)
    assert str(lease.location) == "/".join(blob_url.split("/")[-3:])


async def test_only_the_holder_reconciles_and_a_clean_stop_hands_over(
    make_lease: MakeLease, blob_url: str, azurite: Azurite
) -> None:
    spec = lease_spec(blob_url)
    target = MemoryTarget()
    first = RunController(build_engine(spec), target, lease=make_lease(blob_url))
    second = RunController(build_engine(spec), target, lease=make_lease(blob_url))
    await first.start()
    await second.start()
    try:
        assert to_object(first.status())["leadership"]["held"] is True
        assert to_object(second.status())["leadership"]["held"] is False
        assert await first.reconcile(None) is not None
        assert await second.reconcile(None) is None, "a standby must not write"
        assert second.ready()[1].endswith("standby")

        await first.stop()
        assert first.registry.get_sample_value("dnsctl_leader") == 0
        await second._lease_tick()  # what its scheduler does every renew_every seconds
        assert second.lease.held_now()
        assert second.registry.get_sample_value("dnsctl_leader") == 1
        assert await second.reconcile(None) is not None
    finally:
        await second.stop()
