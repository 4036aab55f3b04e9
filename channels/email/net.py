"""Reaching a tenant's mail servers: the address check (no SSRF), TLS contexts, and the
stage a connection failed at, so "test connection" can say what went wrong."""

from __future__ import annotations

import asyncio
import socket
import ssl

from plateaux.platform.netguard import UnresolvableHost, is_public_address, resolve_host


class ConnectionProblem(Exception):
    """A failed connection, with the stage it failed at: dns, address, connect, tls,
    login, folder or protocol."""

    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage = stage
        self.detail = detail


async def check_host(host: str, port: int, *, allow_private: bool, timeout: float) -> None:
    """The host must resolve, and (unless allowed) only to public addresses: a tenant may
    not make the platform talk to its internal network."""
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve_host(host, port)
    except UnresolvableHost as exc:
        raise ConnectionProblem("dns", f"the host '{host}' cannot be resolved") from exc
    except TimeoutError as exc:
        raise ConnectionProblem("dns", f"resolving '{host}' timed out") from exc
    if allow_private:
        return
    for address in addresses:
        if not is_public_address(address):
            raise ConnectionProblem(
                "address", f"the host '{host}' resolves to a private address")


def tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def describe(exc: BaseException) -> ConnectionProblem:
    """A connection failure as the stage it happened at."""
    if isinstance(exc, ConnectionProblem):
        return exc
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ConnectionProblem("tls", f"the TLS handshake failed: {exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectionProblem("dns", str(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ConnectionProblem("connect", "the server did not answer in time")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionProblem("connect", "the connection was refused")
    if isinstance(exc, OSError):
        return ConnectionProblem("connect", exc.strerror or str(exc))
    return ConnectionProblem("protocol", f"{type(exc).__name__}: {exc}")
