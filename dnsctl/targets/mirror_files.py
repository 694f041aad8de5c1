"""Container runtime mirror configuration on the node: containerd `hosts.toml` and a CRI-O drop-in.

Files are rendered from a profile's mirror order, written atomically (temp file, fsync, rename, fsync of
the directory) and only when their content changes. Every file carries a header naming dnsctl as its
manager; a file without it belongs to someone else and is left alone unless the profile says `adopt`.
What is at a file's path is read as the state file is (`read_regular_file`): a FIFO, a device, a
directory or a file larger than MAX_MIRROR_FILE_BYTES is refused, never read nor replaced.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from dnsctl.core.mirror import MirrorHost, MirrorOrder
from dnsctl.core.model import ProfileSpec
from dnsctl.process.atomic_file import UnsafeFile, read_regular_file, write_atomically

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
class Edit:
    """One setting in which the file on disk differed from what dnsctl wrote there (a hand edit)."""

    setting: str  # its path in the file, e.g. host."https://eastus.example".capabilities
    before: str  # the value on disk (the values of settings dnsctl does not write are not shown)
    after: str  # the value dnsctl puts back


@dataclass(frozen=True, slots=True)
class FileResult:
    profile: str
    runtime: Runtime
    path: Path
    outcome: WriteOutcome
    hosts: tuple[str, ...] = ()
    before: tuple[str, ...] | None = None  # the hosts the managed file listed before, if it existed
    error: str = ""
    edits: tuple[Edit, ...] = ()  # what a hand edit of the managed file had changed, now put back


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


def _parsed(text: str) -> dict[str, object] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def listed_hosts(text: str) -> tuple[str, ...]:
    """The hosts a file lists, in order (for the audit log's `before`): containerd's `[host."..."]`
    tables, or the locations of a CRI-O drop-in's mirrors. Nothing for a file that is not TOML."""
    doc = _parsed(text)
    if doc is None:
        return ()
    hosts = doc.get("host")
    if isinstance(hosts, dict):
        return tuple(hosts)
    out: list[str] = []
    registries = doc.get("registry")
    for registry in registries if isinstance(registries, list) else []:
        mirrors = registry.get("mirror") if isinstance(registry, dict) else None
        for m in mirrors if isinstance(mirrors, list) else []:
            if isinstance(m, dict) and isinstance(m.get("location"), str):
                out.append(m["location"])
    return tuple(out)


# Settings dnsctl writes: their values come from the configuration and are shown in the audit log. A
# setting added by hand (a `header` table, say) may hold a credential: only its name is shown.
_SHOWN = frozenset(
    {"server", "capabilities", "ca", "skip_verify", "override_path", "prefix", "location", "insecure"}
)
_ABSENT = "(absent)"


def _flat(value: object, path: tuple[str, ...], out: dict[tuple[str, ...], object]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(v, (*path, str(k)), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flat(v, (*path, f"[{i}]"), out)
    else:
        out[path] = value


def _setting(path: tuple[str, ...]) -> str:
    parts = [p if p.startswith("[") or p.replace("_", "").isalnum() else json.dumps(p) for p in path]
    return ".".join(parts).replace(".[", "[")


def _shown(path: tuple[str, ...], values: dict[tuple[str, ...], object]) -> str:
    if path not in values:
        return _ABSENT
    if path[-1] in _SHOWN:
        return json.dumps(values[path], separators=(",", ":"), default=str)
    return "(set)"


def hand_edits(current: str, written: str) -> tuple[Edit, ...]:
    """How `current` (a managed file as found) differs from `written` (what dnsctl puts there), setting
    by setting; for a file that differs in comments or layout only, one Edit that says so."""
    if current == written:
        return ()
    before_doc, after_doc = _parsed(current), _parsed(written)
    if before_doc is None or after_doc is None:
        return (Edit("file", "(not valid TOML)", "(rewritten)"),)
    before: dict[tuple[str, ...], object] = {}
    after: dict[tuple[str, ...], object] = {}
    _flat(before_doc, (), before)
    _flat(after_doc, (), after)
    paths = [*before, *(p for p in after if p not in before)]
    out = tuple(
        Edit(_setting(p), _shown(p, before), _shown(p, after))
        for p in paths
        if (p in before) != (p in after) or before[p] != after[p]
    )
    return out or (Edit("comments or layout", "(edited)", "(rewritten)"),)


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
        edits: tuple[Edit, ...] = ()
        if current is not None and before is not None:
            # Against what dnsctl would have written for the hosts the file lists, so that a change of the
            # hosts (health, or a reordering by hand) shows in before/after and anything else is an edit.
            if runtime is Runtime.CONTAINERD:
                edits = hand_edits(current, hosts_toml(profile, tuple(MirrorHost(None, h) for h in before)))
            elif before == tuple(_location(h) for h in urls):
                edits = hand_edits(current, text)
        try:
            write_atomically(path, text, mode=0o644)
        except OSError as e:
            return FileResult(
                profile.name, runtime, path, WriteOutcome.FAILED, urls, before, _oserror(e), edits
            )
        return FileResult(profile.name, runtime, path, WriteOutcome.WRITTEN, urls, before, edits=edits)


def _location(url: str) -> str:
    return url.partition("://")[2]


def _oserror(e: BaseException) -> str:
    if isinstance(e, OSError):
        return f"{e.strerror or type(e).__name__}" + (f": {e.filename}" if e.filename else "")
    return type(e).__name__
