"""Requests to addresses tenants give (webhooks, their CRM's lookup), guarded against
server-side request forgery.

Every address a host name resolves to must be public: private, loopback, link-local,
shared, reserved and cloud metadata addresses are refused unless they fall in a network
the platform operator allows (``PLATEAUX_CRM_PRIVATE_NETWORKS``: tests, a CRM on the same
LAN). The check runs three times: when the URL is saved, on every redirect (followed by
hand, each hop checked), and when the connection is opened, where the socket goes to the
address that was checked, so a name that resolves differently the second time (DNS
rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from plateaux.platform.errors import BadRequest
from plateaux.platform.netguard import resolve_host

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 256 * 1024
# Addresses that are "global" to Python yet must never be reached from here.
METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"),
            ipaddress.ip_network("100.100.100.200/32"))


class BlockedAddress(BadRequest):
    """The URL leads to an address tenants may not reach."""


@dataclass(frozen=True)
class Guard:
    allowed: tuple[Network, ...] = ()
    resolve: Resolver = resolve_host

    @classmethod
    def from_settings(cls, networks: Iterable[str], resolve: Resolver = resolve_host
                      ) -> Guard:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks), resolve)

    def permitted(self, address: str) -> bool:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self.allowed):
            return True
        if any(ip in network for network in METADATA):
            return False
        return ip.is_global and not ip.is_multicast

    async def addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, every one of them permitted, or BlockedAddress."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            found = [str(literal)]
        except ValueError:
            try:
                found = await self.resolve(host, port)
            except (socket.gaierror, OSError) as error:
                raise BlockedAddress(f"The host '{host}' cannot be resolved.") from error
        if not found:
            raise BlockedAddress(f"The host '{host}' cannot be resolved.")
        for address in found:
            if not self.permitted(address):
                raise BlockedAddress(
                    f"The host '{host}' leads to a private or reserved address.")
        return found

    async def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest("The URL must be an absolute http(s) URL.")
        if parts.username or parts.password:
            raise BadRequest("The URL must not carry a user name or password.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise BadRequest("The URL's port is not valid.") from error
        await self.addresses(parts.hostname, port)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard permits, resolved here, once."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.guard.addresses(host, port)
        except BlockedAddress as error:
            raise httpcore.ConnectError(error.detail) from error
        return await self.inner.connect_tcp(addresses[0], port, timeout=timeout,
                                            local_address=local_address,
                                            socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not reachable from here.")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: Guard) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend: the pool is
        # replaced by one whose connections go through the guard (TLS still checks the
        # certificate against the URL's host name).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(), network_backend=_GuardedBackend(guard),
            max_connections=10, max_keepalive_connections=0)


@dataclass
class Reply:
    status_code: int
    body: bytes
    url: str


class OutboundError(Exception):
    """The request could not be made or its answer was unusable (the message says why)."""


async def post(guard: Guard, url: str, *, content: bytes, headers: dict[str, str],
               timeout: float, redirects: Sequence[int] = (307, 308)) -> Reply:
    """POST ``content``, following at most a few redirects that keep the method (each new
    address checked again); any other redirect is an answer like another."""
    await guard.check_url(url)
    async with httpx.AsyncClient(transport=GuardedTransport(guard), timeout=timeout,
                                 follow_redirects=False, trust_env=False) as client:
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with client.stream("POST", target, content=content,
                                         headers=headers) as response:
                    body = await _read_limited(response)
            except httpx.TimeoutException as error:
                raise OutboundError(f"No answer within {timeout:g} s.") from error
            except httpx.HTTPError as error:
                raise OutboundError(str(error) or type(error).__name__) from error
            if response.status_code in redirects and response.headers.get("location"):
                target = urljoin(target, response.headers["location"])
                try:
                    await guard.check_url(target)
                except BadRequest as error:
                    raise OutboundError(f"Redirect refused: {error.detail}") from error
                continue
            return Reply(status_code=response.status_code, body=body, url=target)
    raise OutboundError("Too many redirects.")


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
        chunks.append(chunk)
    return b"".join(chunks)
