"""The Dockerfile's structure: a build stage for the wheel, and a slim, non-root final stage."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

import pytest

from tests.deploy import kit

BUILD_TOOLS = frozenset({"gcc", "g++", "cc", "build-essential", "make", "clang", "cargo", "rustc", "cmake"})
SLIM_BASE = re.compile(r"^python:3\.1[12]-slim(-\w+)?$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, with comments dropped and continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "a continuation line runs off the end of the Dockerfile"
    return out


def stages() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults, and the stages in order."""
    args: dict[str, str] = {}
    result: list[Stage] = []
    for keyword, rest in instructions(kit.DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(image, name))
        elif not result:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            result[-1].instructions.append((keyword, rest))
    return args, result


@pytest.fixture(scope="module")
def final() -> Stage:
    _, all_stages = stages()
    assert len(all_stages) >= 2, "multi-stage: the wheel is built in a stage of its own"
    return all_stages[-1]


def test_first_stage_builds_the_wheel() -> None:
    _, all_stages = stages()
    build = all_stages[0]
    assert build.name
    assert any("pip wheel" in cmd or "python -m build" in cmd for cmd in build.all("RUN"))


def test_final_stage_uses_a_slim_python_base(final: Stage) -> None:
    assert SLIM_BASE.match(final.base), final.base


def test_final_stage_runs_as_a_non_root_user(final: Stage) -> None:
    users = final.all("USER")
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001" or re.search(
        rf"useradd .*--uid 10001 .*{re.escape(user)}", " ".join(final.all("RUN"))
    )


def test_final_stage_installs_no_build_tools_and_keeps_no_pip_cache(final: Stage) -> None:
    runs = " ".join(final.all("RUN"))
    words = set(re.split(r"[\s;&|]+", runs))
    assert not words & BUILD_TOOLS, f"build tools in the final stage: {words & BUILD_TOOLS}"
    assert not [w for w in words if w.endswith("-dev")], "development headers in the final stage"
    for install in re.findall(r"pip3? install[^&;]*", runs):
        assert "--no-cache-dir" in install


def test_final_stage_installs_the_wheel_from_the_build_stage(final: Stage) -> None:
    _, all_stages = stages()
    build = all_stages[0].name
    runs = final.all("RUN")
    copies = final.all("COPY")
    from_build = [r for r in runs if f"from={build}" in r] + [c for c in copies if f"--from={build}" in c]
    assert from_build, "the final stage takes the wheel from the build stage"
    assert any(".whl" in r and "pip install" in r for r in runs)
    assert not any(c for c in copies if "--from" not in c), "no source tree copied into the final stage"


def test_entrypoint_and_default_command(final: Stage) -> None:
    assert json.loads(final.all("ENTRYPOINT")[-1]) == ["dnsctl"]
    assert json.loads(final.all("CMD")[-1]) == ["run", "-c", "/etc/dnsctl/dnsctl.yaml"]
    exposed = {port for line in final.all("EXPOSE") for port in shlex.split(line)}
    assert "9153" in {port.split("/")[0] for port in exposed}


def test_dockerignore_lets_in_everything_the_build_copies() -> None:
    patterns = (kit.REPO / ".dockerignore").read_text(encoding="utf-8").split()
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    _, all_stages = stages()
    for stage in all_stages:
        for copy in stage.all("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from" in copy:
                continue
            for source in words[:-1]:
                assert (kit.REPO / source).exists(), source
                assert "*" not in patterns or source.rstrip("/") in kept, (
                    f"{source} is excluded from the context"
                )


def test_image_user_is_numeric_and_matches_the_pods(final: Stage) -> None:
    # runAsNonRoot can only be verified by the kubelet against a numeric USER.
    uid = final.all("USER")[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    for kind in ("Deployment", "CronJob"):
        assert kit.pod_spec(kit.one(kind))["securityContext"]["runAsUser"] == int(uid)


def test_build_stage_compiles_the_native_reader_loop() -> None:
    """The wheel carries the UDP reader's C loop: the build stage has a compiler and setup.py (which
    declares the extension), and fails when the wheel came out without it."""
    _, all_stages = stages()
    build = all_stages[0]
    runs = " ".join(build.all("RUN"))
    assert "apt-get install" in runs and "gcc" in set(re.split(r"[\s;&|]+", runs))
    assert any("setup.py" in copy.split() for copy in build.all("COPY"))
    wheel = next(r for r in build.all("RUN") if "pip wheel" in r)
    assert "_replay." in wheel and ".so" in wheel
