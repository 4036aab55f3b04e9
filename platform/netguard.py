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


class UnresolvableHost(OSError):
    """The name has no address, or cannot be a host name at all (IDNA refuses it)."""


def is_public_address(address: str) -> bool:
    """A routable unicast address: not private, loopback, link-local or multicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone says nothing here
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_host(host: str, port: int | None = None) -> list[str]:
    """Every address the name resolves to. Names come from tenants: one the IDNA codec
    refuses is as unresolvable as one DNS does not know (not a server error)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"the host '{host}' cannot be resolved") from exc
    return [str(info[4][0]) for info in infos]


async def check_public_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadRequest("The URL must be an absolute http(s) URL.")
    if allow_private:
        return
    if parts.scheme != "https":
        raise BadRequest("The URL must use https.")
    try:
        addresses = await resolve_host(parts.hostname, parts.port or 443)
    except UnresolvableHost as exc:
        raise BadRequest(f"The host '{parts.hostname}' cannot be resolved.") from exc
    for address in addresses:
        if not is_public_address(address):
            raise BadRequest(f"The host '{parts.hostname}' resolves to a private address.")
