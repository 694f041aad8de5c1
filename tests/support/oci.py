"""Real container runtime pieces for tests: docker-registry processes, a containerd daemon, a tiny image.

    with Registry(tmp_path / "east", "127.0.0.21") as reg:      # docker-registry, plain HTTP
        push_image(reg.url, "app", "1")                           # a small OCI image via the registry API
        reg.served("app", "1")                                    # did a manifest GET for app:1 reach it?

    with Containerd(tmp_path / "ctrd") as ctrd:                   # its own root, state and socket
        ctrd.pull("myregistry.azurecr.io/app:1", hosts_dir)       # `ctr images pull --hosts-dir`

`etc_hosts({"eastus.lab.test": "127.0.0.21"})` maps names to loopback in /etc/hosts (root only) and
removes exactly its own lines afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.support.system_packages import ensure_command, ensure_commands
from tests.support.waits import run_process, text_since, wait_exit, wait_in_file

HOSTS_FILE = Path("/etc/hosts")
RUNTIME = ("containerd", "ctr", "docker-registry")  # installed from their Debian packages when missing


def ensure_runtime() -> None:
    """containerd, ctr and docker-registry installed, and root to run containerd and edit /etc/hosts."""
    if os.geteuid() != 0:
        raise PermissionError(
            "the container runtime tests need root: they run containerd and map the registries' names "
            "in /etc/hosts"
        )
    ensure_commands(*RUNTIME)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


# --- a tiny image ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


def tiny_image(marker: str = "hello") -> tuple[Blob, Blob, Blob]:
    """(config, layer, manifest) of a one-file OCI image; deterministic for a given marker."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        body = f"{marker}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(body))
    tar_bytes = raw.getvalue()
    layer = Blob("application/vnd.oci.image.layer.v1.tar+gzip", gzip.compress(tar_bytes, mtime=0))
    config = Blob(
        "application/vnd.oci.image.config.v1+json",
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
            }
        ).encode(),
    )
    manifest = Blob(
        "application/vnd.oci.image.manifest.v1+json",
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ).encode(),
    )
    return config, layer, manifest


def push_image(
    base_url: str,
    repository: str,
    tag: str,
    *,
    headers: Mapping[str, str] | None = None,
    verify: str | bool = True,
) -> str:
    """Push the tiny image through the registry API (monolithic blob uploads); returns the manifest digest."""
    config, layer, manifest = tiny_image()
    with httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=10.0, verify=verify) as c:
        for blob in (config, layer):
            r = c.post(f"/v2/{repository}/blobs/uploads/")
            r.raise_for_status()
            location = r.headers["location"]
            sep = "&" if "?" in location else "?"
            r = c.put(
                f"{location}{sep}digest={blob.digest}",
                content=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            )
            r.raise_for_status()
        r = c.put(
            f"/v2/{repository}/manifests/{tag}",
            content=manifest.data,
            headers={"Content-Type": manifest.media_type},
        )
        r.raise_for_status()
    return manifest.digest


# --- docker-registry ----------------------------------------------------------------------------------


class Registry:
    """A docker-registry process on `host`, storage and log under `root`; plain HTTP unless `tls`."""

    def __init__(
        self,
        root: Path,
        host: str,
        *,
        port: int | None = None,
        auth: Mapping[str, object] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.root = root
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "registry.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def _config(self) -> Path:
        http: dict[str, object] = {"addr": f"{self.host}:{self.port}"}
        if self.tls:
            http["tls"] = {"certificate": str(self.tls[0]), "key": str(self.tls[1])}
        doc: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self.auth:
            doc["auth"] = dict(self.auth)
        path = self.root / "config.json"  # JSON is YAML
        path.write_text(json.dumps(doc))
        return path

    def start(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self._config()
        with self.log_path.open("ab") as log:
            start = log.tell()
            self.proc = subprocess.Popen(
                [ensure_command("docker-registry"), "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        listening = re.compile(rf"listening on {re.escape(self.host)}:{self.port}\b")
        proc = self.proc
        try:
            wait_in_file(
                self.log_path,
                lambda: listening.search(text_since(self.log_path, start)),
                30,
                "the registry",
                proc=proc,
            )
        except AssertionError as e:
            raise TimeoutError(f"docker-registry on {self.host}:{self.port} did not start: {e}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.terminate()
            try:
                wait_exit(self.proc, 5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                wait_exit(self.proc, 5)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            wait_exit(self.proc, 5)
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def manifest_gets(self, repository: str, reference: str) -> int:
        """How many manifest requests for repository:reference this registry answered."""
        needle = f"/v2/{repository}/manifests/{reference}"
        return sum(1 for line in self.log().splitlines() if needle in line and "response completed" in line)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- containerd ------------------------------------------------------------------------------------


class Containerd:
    """A containerd daemon with its own root, state and socket; pulls with ctr's client-side resolver."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "containerd.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "containerd.log"

    def start(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.toml"
        # Only what a pull needs: content store, metadata, the native snapshotter (works on any
        # filesystem, overlay inside a container often does not). The CRI plugin would want a CNI.
        config.write_text(
            "version = 2\n"
            f'root = "{self.root / "root"}"\n'
            f'state = "{self.root / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",'
            ' "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",'
            ' "io.containerd.snapshotter.v1.devmapper"]\n'
            "[grpc]\n"
            f'  address = "{self.socket}"\n'
            "[ttrpc]\n"
            f'  address = "{self.socket}.ttrpc"\n'
        )
        with self.log_path.open("ab") as log:
            start = log.tell()
            self.proc = subprocess.Popen(
                [ensure_command("containerd"), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        proc = self.proc
        try:
            wait_in_file(
                self.log_path,
                lambda: "containerd successfully booted" in text_since(self.log_path, start),
                20,
                "containerd to boot",
                proc=proc,
            )
        except AssertionError as e:
            raise RuntimeError(f"containerd did not come up: {e}") from None
        version = self._ctr("version")
        if version.returncode != 0:
            raise RuntimeError(f"containerd booted but ctr cannot reach it: {version.stderr.strip()}")
        return self

    def _ctr(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return run_process(
            [ensure_command("ctr"), "--address", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pull(
        self, ref: str, hosts_dir: Path, *, user: str | None = None, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Pull `ref` through `hosts_dir`, then forget it (so the next pull fetches again)."""
        args = ["images", "pull", "--snapshotter", "native", "--hosts-dir", str(hosts_dir)]
        if user:
            args += ["--user", user]
        try:
            return self._ctr(*args, ref, timeout=timeout)
        finally:
            self._ctr("images", "rm", "--sync", ref)
            self._ctr("content", "prune", "references")
            self.gc()

    def gc(self) -> None:
        # Drop the fetched blobs so that the next pull goes to a registry again.
        listed = self._ctr("content", "ls", "-q")
        digests = [d for d in listed.stdout.split() if d.startswith("sha256:")]
        if digests:
            self._ctr("content", "rm", *digests)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                wait_exit(self.proc, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                wait_exit(self.proc, 5)
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- /etc/hosts ----------------------------------------------------------------------------------


class EtcHosts:
    """Adds name -> address lines to /etc/hosts and removes exactly those lines on exit."""

    TAG = "# dnsctl-test"

    def __init__(self, entries: Mapping[str, str], path: Path = HOSTS_FILE) -> None:
        self.entries = dict(entries)
        self.path = path
        self.lines = [f"{addr} {name} {self.TAG}-{os.getpid()}" for name, addr in self.entries.items()]

    def __enter__(self) -> Self:
        with _hosts_lock():
            text = self.path.read_text()
            if text and not text.endswith("\n"):
                text += "\n"
            # Written in place: /etc/hosts is often a bind mount that a rename would not replace.
            self.path.write_text(text + "".join(line + "\n" for line in self.lines))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        ours = set(self.lines)
        with _hosts_lock():
            kept = [line for line in self.path.read_text().splitlines() if line not in ours]
            self.path.write_text("".join(line + "\n" for line in kept))


@contextlib.contextmanager
def _hosts_lock() -> Iterator[None]:
    # Test sessions and the benchmark may edit /etc/hosts at the same time: one at a time.
    with open("/tmp/dnsctl-etc-hosts.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def etc_hosts(entries: Mapping[str, str]) -> Iterator[EtcHosts]:
    with EtcHosts(entries) as h:
        yield h
