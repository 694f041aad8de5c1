"""Parsers for the small value languages of the configuration: durations, status ranges, names."""

from __future__ import annotations

import ipaddress
import math
import re
import reprlib
from urllib.parse import unquote, urlsplit

from dnsctl.core.model import (
    DEFAULT_PORTS,
    BlobLocation,
    CanarySpec,
    HostPort,
    Network,
    StatusRange,
)
from dnsctl.core.zone_records import MxData, SrvData, ZoneData, ZoneRecordSpec, ZoneRecordType
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
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as e:
        raise ValueError(f"{shown(value)} has an invalid port") from e
    host = parts.hostname
    if not is_ip(host):
        try:
            normalize_fqdn(host)
        except ValueError as e:
            raise ValueError(f"{shown(value)}: host is neither an IP address nor a DNS name") from e
    return CanarySpec(host, port, parts.scheme, parts.path or "/")


def parse_network(value: str) -> Network:
    """`"10.0.0.0/8"`, `"::1/128"` or a bare address (host bits are ignored, as in `10.1.2.3/8`)."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as e:
        raise ValueError(f"{shown(value)} is not an IP network like '10.0.0.0/8'") from e


def parse_blob_url(url: str) -> BlobLocation:
    """Split a blob URL; an IP or localhost host means an emulator's path-style URL (/ACCOUNT/...).
    Raises ValueError naming the problem; a query string (a SAS token: a secret) is refused."""
    parts = urlsplit(url.strip())
    segments = [unquote(s) for s in parts.path.split("/") if s]
    path_style = parts.hostname == "localhost" or is_ip(parts.hostname or "")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or len(segments) < (3 if path_style else 2)
    ):
        raise ValueError(_BLOB_URL_SHAPE.format(shown(url)))
    if parts.query or parts.fragment:
        raise ValueError(BLOB_URL_QUERY)
    account_path = "/" + segments.pop(0) if path_style else ""
    return BlobLocation(f"{parts.scheme}://{parts.netloc}{account_path}", segments[0], "/".join(segments[1:]))


BLOB_URL_QUERY = "no query string (a SAS token does not belong in the config): use azure.credential"
_BLOB_URL_SHAPE = (
    "{} is not a blob URL like https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB "
    "(or http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB for an emulator)"
)
# A TXT record's data is strings of up to 255 bytes each (dnsctl splits a long value), each with a
# length byte; the whole must fit in one DNS message with its header, question and owner name.
MAX_TXT_BYTES = 65_535 - 1_024


def zone_type(value: str) -> ZoneRecordType:
    try:
        return ZoneRecordType(value.upper())
    except ValueError:
        raise ValueError(f"{shown(value)} is not one of {', '.join(ZoneRecordType)}") from None


def absolute_name(name: str, origin: str) -> str:
    """A zone file's name, relative to `origin` unless it ends with a dot ('@' is `origin` itself)."""
    if name == "@":
        return origin
    if name.endswith("."):
        return name.lower().rstrip(".")
    return f"{name.lower()}.{origin}"


def owner_name(name: str, origin: str) -> str:
    """The absolute owner of a record of the zone `origin`; raises ValueError naming the problem."""
    if name == "@":
        return origin
    normalize_fqdn(name)
    owner = absolute_name(name, origin)
    if name.endswith("."):
        if owner != origin and not owner.endswith("." + origin):
            raise ValueError(f"{shown(name)} is outside the zone {origin!r}")
    elif len(owner) > 253:
        raise ValueError(f"{shown(name)} is longer than 253 characters with the zone's name")
    return owner


def zone_data(rtype: ZoneRecordType, value: str, origin: str) -> ZoneData:
    """The data of a record of type `rtype` in the zone `origin`; raises ValueError naming the problem."""
    text = value.strip()
    parts = text.split()
    if rtype in (ZoneRecordType.A, ZoneRecordType.AAAA):
        version = 4 if rtype is ZoneRecordType.A else 6
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            address = None
        if address is None or address.version != version:
            raise ValueError(f"{shown(value)} is not an IPv{version} address")
        return address
    if rtype is ZoneRecordType.CNAME:
        normalize_fqdn(value)
        return normalize_fqdn(absolute_name(text, origin))
    if rtype is ZoneRecordType.TXT:
        size = len(text.encode())
        if size > MAX_TXT_BYTES:
            raise ValueError(
                f"a TXT value of {size} bytes does not fit in a DNS message (at most {MAX_TXT_BYTES}, "
                "sent as strings of 255)"
            )
        return text
    if rtype is ZoneRecordType.MX and (len(parts) != 2 or not parts[0].isdigit()):
        raise ValueError(f"{shown(value)} is not 'PREFERENCE HOST', like '10 mail.lab.internal.'")
    if rtype is ZoneRecordType.SRV and (len(parts) != 4 or not all(x.isdigit() for x in parts[:3])):
        raise ValueError(
            f"{shown(value)} is not 'PRIORITY WEIGHT PORT HOST', like '10 5 443 host.lab.internal.'"
        )
    if any(int(x) > 65_535 for x in parts[:-1]):
        raise ValueError(f"{shown(value)}: numbers in a {rtype} record are at most 65535")
    normalize_fqdn(parts[-1])
    host = normalize_fqdn(absolute_name(parts[-1], origin))
    if rtype is ZoneRecordType.MX:
        return MxData(int(parts[0]), host)
    return SrvData(int(parts[0]), int(parts[1]), int(parts[2]), host)


def zone_record(origin: str, name: str, rtype: str, value: str, ttl: int = 300) -> ZoneRecordSpec:
    """A record as a zone file writes it (`"www"`, `"CNAME"`, `"lab.internal."`) in the zone `origin`
    (normalized), parsed; raises ValueError naming the first problem."""
    kind = zone_type(rtype)
    return ZoneRecordSpec(owner_name(name, origin), kind, zone_data(kind, value, origin), ttl)
