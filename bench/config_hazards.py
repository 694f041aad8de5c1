"""Time and peak memory of `dnsctl validate` on hostile files, each in a fresh interpreter.

The cases: a YAML anchor bomb (9^8 strings if expanded), a file just under 1 MiB of real profiles,
one over 1 MiB, /dev/zero, nesting 100,000 levels deep, and a valid file for comparison.

Goal: every hostile file is refused in well under a second and a few tens of MB, like a valid one.

    python bench/config_hazards.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = """
import contextlib, io, resource, sys, time
from dnsctl.cli.main import main
start = time.perf_counter()
with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
    code = main(["validate", "-c", sys.argv[1]])
elapsed = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
first = (err.getvalue().splitlines()[1:2] or [""])[0].strip()
print(f"{elapsed:.3f}\\t{rss:.0f}\\t{code}\\t{first[-70:]}")
"""

PROFILE = """\
  - name: p{i}
    fqdn: p{i}.example
    monitor: *monitor
    endpoints:
      - {{name: a, target: a{i}.example, priority: 1, addresses: [10.0.0.1]}}
      - {{name: b, target: b{i}.example, priority: 2, addresses: [10.0.0.2]}}
"""


def _bomb() -> str:
    lines = ["x-a: &a [" + ", ".join(["lol"] * 9) + "]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"x-{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BOMB = _bomb()


def cases(tmp: Path) -> dict[str, str]:
    profiles = "x-monitor: &monitor {interval: 10s, timeout: 2s}\nprofiles:\n"
    valid = tmp / "valid.yaml"
    valid.write_text(profiles + PROFILE.format(i=0))
    big = tmp / "big.yaml"
    text, i = profiles, 0
    while len(text) < (1 << 20) - 400:
        text += PROFILE.format(i=i)
        i += 1
    big.write_text(text)
    over = tmp / "over.yaml"
    over.write_text(text + "#" * 1024 + "\n")
    bomb = tmp / "bomb.yaml"
    bomb.write_text(
        BOMB + profiles + PROFILE.format(i=0).replace("monitor: *monitor", "monitor: {headers: {X: *h}}")
    )
    deep = tmp / "deep.yaml"
    deep.write_text("profiles: " + "[" * 100_000 + "]" * 100_000 + "\n")
    return {
        "valid file, 1 profile": str(valid),
        f"valid file, {i} profiles (1 MiB)": str(big),
        "over 1 MiB": str(over),
        "/dev/zero": "/dev/zero",
        "anchor bomb (9^8 strings)": str(bomb),
        "nesting 100,000 deep": str(deep),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'case':<34} {'seconds':>8} {'peak MB':>8} {'exit':>5}  first problem")
        for name, path in cases(Path(tmp)).items():
            out = subprocess.run(
                [sys.executable, "-c", MEASURE, path], capture_output=True, text=True, timeout=300, check=True
            ).stdout.rstrip("\n")
            seconds, rss, code, first = out.split("\t")
            print(f"{name:<34} {float(seconds):>8.3f} {float(rss):>8.0f} {code:>5}  {first}")


if __name__ == "__main__":
    main()
