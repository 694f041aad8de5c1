"""Opening a fresh TCP (optionally TLS) stream to an endpoint, recording the phase as it goes."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl

from dnsctl.probes.failures import Phase, Progress

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def open_stream(
    host: str,
    port: int,
    progress: Progress,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Stream:
    """Connect to `host` (an IP, or a name tried address by address) and optionally start TLS.

    The TLS server name (SNI and certificate check) is `server_hostname`, not the address connected to.
    Callers bound the whole call with a timeout; `progress.phase` tells them where it stopped.
    """
    progress.phase = Phase.RESOLVE
    addresses = [host] if _is_ip(host) else await _resolve(host, port)
    progress.phase = Phase.CONNECT
    first_error: OSError | None = None
    for address in addresses:
        try:
            reader, writer = await asyncio.open_connection(address, port)
            break
        except OSError as exc:
            first_error = first_error or exc
    else:
        raise first_error or OSError(f"{host} resolved to no address")
    if tls is not None:
        progress.phase = Phase.TLS
        try:
            await writer.start_tls(tls, server_hostname=server_hostname)
        except BaseException:
            writer.transport.abort()
            raise
        progress.heard = True  # the endpoint's TLS stack answered: the path works
    return reader, writer
