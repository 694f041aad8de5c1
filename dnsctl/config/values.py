"""Parsers for the small value languages of the configuration: durations, status ranges, names."""

from __future__ import annotations

import ipaddress
import math
import re
import reprlib
from urllib.parse import urlsplit

from dnsctl.core.model import CanarySpec, HostPort, StatusRange
from dnsctl.process.secrets import is_secret_name, looks_like_credential, mask

MAX_SHOWN = 80
HIDDEN = "(value hidden: it reads like a credential)"

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict = 3, 6, 6
_repr.maxstring = _repr.maxother = MAX_SHOWN
_repr.maxlong = 40

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def shown(value: object, key: object = None) -> str:
    """`value` as a message may quote it: at most 80 characters, never a secret."""
    if isinstance(value, str | bytes) and len(value) > 4 * MAX_SHOWN:
        value = value[: 4 * MAX_SHOWN]  # what is quoted comes from here: no need to scan 10 MB
    if is_secret_name(key) or looks_like_credential(value):
        return HIDDEN
    text = mask(_repr.repr(value))
    if looks_like_credential(text):  # a credential inside a list or a mapping
        return HIDDEN
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def parse_duration(value: object) -> float:
    """`"500ms"`, `"10s"`, `"2m"`, `"1h"`, or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{shown(value)} is not a duration")
        if value < 0:
            raise ValueError(f"{shown(value)} is negative")
        return float(value)
    if isinstance(value, str) and len(value) <= 64:
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
            if math.isfinite(seconds):
                return seconds
    raise ValueError(f"{shown(value)} is not a duration like '500ms', '10s', '2m' or '1h'")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:g}s"


def parse_status_range(value: object) -> StatusRange:
    """`"200-299"`, `"401"` or `401`."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a status code or range")
    text = str(value).strip()
    m = re.fullmatch(r"(\d{3})(?:\s*-\s*(\d{3}))?", text)
    if not m:
        raise ValueError(f"{shown(value)} is not a status code or range like '200-299' or 401")
    low = int(m.group(1))
    high = int(m.group(2) or low)
    if not 100 <= low <= high <= 599:
        raise ValueError(f"{shown(value)} is not a valid range of HTTP status codes (100-599, low <= high)")
    return StatusRange(low, high)


def normalize_fqdn(value: str) -> str:
    """Lower-case, without the trailing dot; raises ValueError naming the problem."""
    name = value.strip().lower().rstrip(".")
    if not name:
        raise ValueError(f"{shown(value)} is not a valid DNS name")
    if len(name) > 253:
        raise ValueError(f"{shown(value)} is longer than 253 characters")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"{shown(value)} is not a valid DNS name (bad label {shown(label)})")
    return name


def token_host(value: str) -> str:
    """A host a registry's token realm may name: a DNS name or an IP address, nothing else (no scheme,
    port or path); raises ValueError naming the problem."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if any(c in text for c in ":/@?#"):
        raise ValueError(f"{shown(value)}: a host name only (no scheme, port or path)")
    return normalize_fqdn(text)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def parse_host_port(value: str, default_port: int | None) -> HostPort:
    """`"host:port"`, `"[v6]:port"`, or (with a default port) `"host"` / a bare IPv6 address."""
    text = value.strip()
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?", text)
    if m:
        host, port_text = m.group(1), m.group(2)
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port_text = text, None
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
    else:
        host, port_text = text, None
    if not host:
        raise ValueError(f"{shown(value)} has no host")
    if port_text is None:
        if default_port is None:
            raise ValueError(f"{shown(value)} needs a port, like '127.0.0.1:5353' or '[::1]:5353'")
        port = default_port
    elif port_text.isdigit() and 0 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ValueError(f"{shown(value)} has an invalid port")
    if not is_ip(host):
        try:
            normalize_fqdn(host)
        except ValueError as e:
            raise ValueError(f"{shown(value)}: host is neither an IP address nor a DNS name") from e
    return HostPort(host, port)


def parse_canary(value: str) -> CanarySpec:
    """`"host:port"` (a TCP connect) or an `http(s)://host[:port]/path` URL (any HTTP answer counts)."""
    text = value.strip()
    if "://" not in text:
        hp = parse_host_port(text, None)
        return CanarySpec(hp.host, hp.port)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown(value)} is neither host:port nor an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise ValueError(f"{shown(value)} has an invalid port") from e
    host = parts.hostname
    if not is_ip(host):
        try:
            normalize_fqdn(host)
        except ValueError as e:
            raise ValueError(f"{shown(value)}: host is neither an IP address nor a DNS name") from e
    return CanarySpec(host, port, parts.scheme, parts.path or "/")
