"""The problems the rules find: each with its location; a rule touching a value that did not validate is
skipped (`dnsctl.config.partial`), and the others run."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from dnsctl.config.partial import Broken


class Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (location, message)

    def add(self, where: str, message: str) -> None:
        self.items.append((where, message))

    def check(self, where: str, fn: Callable[..., object], *args: Any) -> None:
        """Run a parser, recording its ValueError as a problem at `where`."""
        try:
            fn(*args)
        except ValueError as e:
            self.add(where, str(e))
        except Broken:
            pass

    @contextmanager
    def rule(self) -> Iterator[None]:
        """One rule: skipped, silently, if it touches a value that did not validate."""
        with suppress(Broken):
            yield


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
