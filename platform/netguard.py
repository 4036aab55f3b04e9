"""Refuse outgoing requests to private, loopback, link-local and metadata addresses.

Tenants give us URLs (identity providers, later webhooks and CRM lookups); without this
guard a tenant could make the platform probe its own internal network (SSRF).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from plateaux.platform.errors import BadRequest


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_public_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadRequest("The URL must be an absolute http(s) URL.")
    if allow_private:
        return
    if parts.scheme != "https":
        raise BadRequest("The URL must use https.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise BadRequest(f"The host '{parts.hostname}' cannot be resolved.") from exc
    for info in infos:
        if not _is_public(str(info[4][0])):
            raise BadRequest(f"The host '{parts.hostname}' resolves to a private address.")
