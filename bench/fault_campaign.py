"""Lost operator actions under randomized restarts: drains and undrains, then SIGTERM or kill -9.

    python bench/fault_campaign.py [--episodes 20] [--seed 1] [--modes run,serve,mirror] [--max-delay 0.5]

Everything on loopback: two HTTPS registry-like replicas (eastus 127.0.0.2, westeurope 127.0.0.3), the
bundled Azure Private DNS emulator, and one dnsctl process per mode (`run` keeps its state in the
record's metadata with the default resync_interval, `serve` and `mirror` in a state file). Each episode
drains westeurope if it is not drained, else undrains it (the name stays on eastus: no decision
changes), waits a random delay (0 to --max-delay seconds) after the 200, stops dnsctl with SIGTERM or
kill -9 (chosen at random), starts it again and compares the overrides it restored (and the stored
ones) with what was acknowledged. An action answered with anything but 200 is counted apart (it was
not acknowledged, so it cannot be lost). Prints, per mode and in total:

    lost operator actions: 0 of N

and exits 1 when any was lost. About 3 s per episode and mode on an idle machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.harness import ZONE_ID, common_free_port  # noqa: E402
from tests.faults.kit import PROFILES, REGIONS, Replicas, WatchedEmulator  # noqa: E402
from tests.faults.test_operator_actions_durable import NAME, TOKEN, Lab, chosen  # noqa: E402
from tests.support.registry import RegistryPki, RegistryServer  # noqa: E402

MODES = ("run", "serve", "mirror")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20, help="restarts per mode (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--modes", default="run,serve,mirror", help="comma-separated: run, serve, mirror")
    parser.add_argument(
        "--max-delay", type=float, default=0.5, help="longest wait from the 200 to the signal (default 0.5 s)"
    )
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        parser.error(
            f"--modes: unknown mode(s) {', '.join(bad) or '(none)'}; choose among {', '.join(MODES)}"
        )
    if not 1 <= args.episodes <= 1000:
        parser.error("--episodes: between 1 and 1000")
    if not 0 <= args.max_delay <= 10:
        parser.error("--max-delay: between 0 and 10 seconds")
    args.modes = modes
    return args


def campaign(
    mode: str, work: Path, replicas: Replicas, rng: random.Random, args: argparse.Namespace
) -> tuple[int, int]:
    """Run the episodes of one mode; returns the actions lost and acknowledged (prints each episode)."""
    emulator = WatchedEmulator()
    emulator.start()
    lab: Lab | None = None
    lost = acknowledged = refused = 0
    try:
        emulator.add_zone(ZONE_ID)
        lab = Lab(mode, work, emulator, replicas)
        d = lab.start()
        d.wait_until(lambda: chosen(d) == ["eastus"], 30, "eastus chosen")
        expected: dict[str, str] = {}
        for episode in range(1, args.episodes + 1):
            action = "undrain" if expected else "drain"
            r = d.post(f"/v1/profiles/{NAME}/endpoints/westeurope/{action}", token=TOKEN)
            delay = rng.uniform(0, args.max_delay)
            how = rng.choice(("sigterm", "kill-9"))
            if r.status_code == 200:
                acknowledged += 1
                expected = {"westeurope": "down"} if action == "drain" else {}
            else:
                refused += 1
            time.sleep(delay)
            d = lab.restart(d, how)
            restored = d.status()["profiles"][0]["overrides"]
            stored = lab.stored_overrides()
            ok = r.status_code != 200 or (restored == expected and stored == expected)
            if not ok:
                lost += 1
            expected = restored  # go on from what the process holds now
            print(
                f"{mode:6} {episode:3}: {action:7} -> {r.status_code}, {how:7} after {delay * 1000:4.0f} ms: "
                f"restored {restored or '{}'}, stored {stored or '{}'}{'' if ok else '  LOST'}",
                flush=True,
            )
    finally:
        if lab is not None:
            for daemon in lab.daemons:
                daemon.kill()
        emulator.stop()
    print(f"{mode}: lost operator actions: {lost} of {acknowledged} ({refused} not acknowledged)", flush=True)
    return lost, acknowledged


def main() -> int:
    args = parse_args()
    rng = random.Random(args.seed)
    lost = total = 0
    with tempfile.TemporaryDirectory(prefix="dnsctl-fault-campaign-") as tmp:
        root = Path(tmp)
        pki = RegistryPki(root / "pki")
        port = common_free_port(list(REGIONS.values()))
        servers: dict[str, RegistryServer] = {}
        try:
            for region, ip in REGIONS.items():
                names = [f"{profile}.{region}.geo.azurecr.io" for profile in PROFILES]
                servers[region] = RegistryServer(
                    ip, port, tls=pki.server_context(*names), name=names[0]
                ).start()
            replicas = Replicas(port, pki.ca_file, servers)
            for mode in args.modes:
                work = root / mode
                work.mkdir()
                lost_here, acknowledged = campaign(mode, work, replicas, rng, args)
                lost += lost_here
                total += acknowledged
        finally:
            for server in servers.values():
                server.stop()
    print(f"lost operator actions: {lost} of {total}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
