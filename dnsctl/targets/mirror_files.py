"""Container runtime mirror configuration on the node: containerd `hosts.toml` and a CRI-O drop-in.

Files are rendered from a profile's mirror order, written atomically (temp file, fsync, rename, fsync of
the directory) and only when their content changes. Every file carries a header naming dnsctl as its
manager; a file without it belongs to someone else and is left alone unless the profile says `adopt`.
What is at a file's path is read as the state file is (`read_regular_file`): a FIFO, a device, a
directory or a file larger than MAX_MIRROR_FILE_BYTES is refused, never read nor replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from dnsctl.atomic_file import UnsafeFile, read_regular_file, write_atomically
from dnsctl.core.mirror import MirrorHost, MirrorOrder
from dnsctl.core.model import ProfileSpec

MANAGED_MARK = "# managed-by: dnsctl"
# A hosts.toml or drop-in dnsctl writes is a few hundred bytes; anything far larger is not one.
MAX_MIRROR_FILE_BYTES = 1024 * 1024


class Runtime(StrEnum):
    CONTAINERD = "containerd"
    CRIO = "crio"


class WriteOutcome(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    KEPT = "kept"  # keep-last or isolation guard: the file stays as it is
    REFUSED = "refused"  # the file exists and dnsctl does not manage it
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FileResult:
    profile: str
    runtime: Runtime
    path: Path
    outcome: WriteOutcome
    hosts: tuple[str, ...] = ()
    before: tuple[str, ...] | None = None  # the hosts the managed file listed before, if it existed
    error: str = ""


def _q(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value)


def _header(profile: ProfileSpec) -> str:
    # No reason or time here: the file changes only when the hosts or their options do.
    return (
        f"{MANAGED_MARK} (profile {profile.name})\n"
        "# Rewritten in health order when endpoints change; edits are overwritten.\n"
    )


def hosts_toml(profile: ProfileSpec, hosts: tuple[MirrorHost, ...]) -> str:
    """containerd's hosts.toml: the hosts in order; `server` (the global name) is containerd's last resort."""
    m = profile.mirror
    lines = [_header(profile), f"server = {_q('https://' + profile.fqdn.rstrip('.'))}\n"]
    for h in hosts:
        lines.append(f"\n[host.{_q(h.url)}]\n")
        lines.append(f"  capabilities = [{', '.join(_q(c) for c in m.capabilities)}]\n")
        if m.ca:
            lines.append(f"  ca = {_q(m.ca)}\n")
        if m.skip_verify:
            lines.append("  skip_verify = true\n")
        if m.override_path:
            lines.append("  override_path = true\n")
    return "".join(lines)


def crio_dropin(profile: ProfileSpec, hosts: tuple[MirrorHost, ...]) -> str:
    """A containers-registries.conf(5) drop-in: the mirrors in order, then the registry itself."""
    fqdn = profile.fqdn.rstrip(".")
    lines = [_header(profile), "\n[[registry]]\n", f"prefix = {_q(fqdn)}\n", f"location = {_q(fqdn)}\n"]
    for h in hosts:
        scheme, _, location = h.url.partition("://")
        lines.append("\n[[registry.mirror]]\n")
        lines.append(f"location = {_q(location)}\n")
        if scheme == "http" or profile.mirror.skip_verify:
            lines.append("insecure = true\n")
    return "".join(lines)


def listed_hosts(text: str) -> tuple[str, ...]:
    """The hosts a file dnsctl wrote lists, in order (for the audit log's `before`)."""
    out: list[str] = []
    previous = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[host."):
            out.append(json.loads(line[len("[host.") : -1]))
        elif line.startswith("location = ") and "[[registry.mirror]]" in previous:
            out.append(json.loads(line[len("location = ") :]))
        if line:
            previous = line
    return tuple(out)


def is_managed(text: str) -> bool:
    return text.startswith(MANAGED_MARK)


def containerd_path(hosts_dir: str, profile: ProfileSpec) -> Path:
    return Path(hosts_dir) / profile.fqdn.rstrip(".") / "hosts.toml"


def crio_path(registries_dir: str, profile: ProfileSpec) -> Path:
    return Path(registries_dir) / f"dnsctl-{profile.fqdn.rstrip('.')}.conf"


def _read(path: Path) -> str | None:
    data = read_regular_file(path, MAX_MIRROR_FILE_BYTES)
    return data.decode("utf-8") if data is not None else None


class MirrorFiles:
    """Writes each profile's runtime mirror files under the configured directories."""

    def __init__(self, containerd_hosts_dir: str | None, crio_registries_dir: str | None) -> None:
        self.containerd_hosts_dir = containerd_hosts_dir
        self.crio_registries_dir = crio_registries_dir

    def paths(self, profile: ProfileSpec) -> list[tuple[Runtime, Path]]:
        out = []
        if self.containerd_hosts_dir is not None:
            out.append((Runtime.CONTAINERD, containerd_path(self.containerd_hosts_dir, profile)))
        if self.crio_registries_dir is not None:
            out.append((Runtime.CRIO, crio_path(self.crio_registries_dir, profile)))
        return out

    def sync(self, profile: ProfileSpec, order: MirrorOrder) -> list[FileResult]:
        results = []
        for runtime, path in self.paths(profile):
            render = hosts_toml if runtime is Runtime.CONTAINERD else crio_dropin
            results.append(self._sync_one(profile, runtime, path, render(profile, order.hosts), order))
        return results

    def _sync_one(
        self, profile: ProfileSpec, runtime: Runtime, path: Path, text: str, order: MirrorOrder
    ) -> FileResult:
        urls = tuple(h.url for h in order.hosts)
        try:
            current = _read(path)
        except UnsafeFile as e:
            return FileResult(
                profile.name,
                runtime,
                path,
                WriteOutcome.REFUSED,
                urls,
                error=f"the file {e}: dnsctl neither reads nor replaces it (remove it)",
            )
        except (OSError, UnicodeDecodeError) as e:
            return FileResult(profile.name, runtime, path, WriteOutcome.FAILED, urls, error=_oserror(e))
        before = listed_hosts(current) if current is not None and is_managed(current) else None
        if current is not None and not is_managed(current) and not profile.mirror.adopt:
            return FileResult(
                profile.name,
                runtime,
                path,
                WriteOutcome.REFUSED,
                urls,
                error="the file exists and is not managed by dnsctl (set the profile's mirror.adopt: true)",
            )
        if current is not None and order.keep_existing:
            return FileResult(profile.name, runtime, path, WriteOutcome.KEPT, before or (), before)
        if current == text:
            return FileResult(profile.name, runtime, path, WriteOutcome.UNCHANGED, urls, before)
        try:
            write_atomically(path, text, mode=0o644)
        except OSError as e:
            return FileResult(profile.name, runtime, path, WriteOutcome.FAILED, urls, before, _oserror(e))
        return FileResult(profile.name, runtime, path, WriteOutcome.WRITTEN, urls, before)


def _oserror(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.strerror or type(e).__name__}" + (f": {e.filename}" if e.filename else "")
    return type(e).__name__
