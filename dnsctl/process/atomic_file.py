"""Replacing a file so that a crash or a power cut leaves either the old content or the new, never half;
and reading a file that someone else may have put in its place without blocking or growing without end."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Temp file in the same directory, fsync, rename over, fsync the directory.

    `mode` sets the permissions of the new file; without it the file keeps mkstemp's owner-only 0600.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename, creation or removal in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class UnsafeFile(Exception):
    """A file that is not read: not a regular file, or larger than the limit. The message says which."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def read_regular_file(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of `path`, or None when it does not exist.

    Opened non-blocking (a FIFO never blocks the open) and checked before anything is read: a directory,
    a FIFO, a device (a link to /dev/zero) or a socket raises UnsafeFile, as does a file of more than
    `max_bytes` (nothing past the limit is read). Other failures raise OSError.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnsafeFile("is a directory, not a file")
        if not stat.S_ISREG(mode):
            # Reading it could block forever (a FIFO) or never end (a link to /dev/zero).
            raise UnsafeFile(f"is not a regular file ({_kind(mode)})")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise UnsafeFile(f"is larger than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
