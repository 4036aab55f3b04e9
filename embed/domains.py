"""Allowed domains of a site: validation, matching an Origin, and the CSP they give.

A domain is a host name (``shop.example.com``), a wildcard for its subdomains
(``*.example.com``, which does not match ``example.com`` itself, as in CSP), or a host
with a port (``localhost:8080``) for development. Schemes are not part of the setting:
https is always allowed; plain http only for loopback hosts, so a production site is
never framed over an unencrypted page.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*(:\d{{1,5}})?$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1"})
MAX_DOMAINS = 50


def normalise_domain(value: str) -> str:
    """The canonical form of one allowed domain, or ValueError saying what is wrong."""
    domain = value.strip().lower().rstrip(".")
    if "://" in domain:
        raise ValueError(f"'{value}': give the host name only, without http:// or https://")
    if not domain or len(domain) > 253:
        raise ValueError(f"'{value}' is not a host name")
    if "/" in domain or not (_HOST.match(domain) or _IPV4.match(domain)):
        raise ValueError(f"'{value}' is not a host name (like shop.example.com or *.example.com)")
    if domain.startswith("*.") and "." not in domain[2:]:
        raise ValueError(f"'{value}': a wildcard needs a domain under it, like *.example.com")
    return domain


def normalise_domains(values: list[str]) -> list[str]:
    if len(values) > MAX_DOMAINS:
        raise ValueError(f"at most {MAX_DOMAINS} domains")
    seen: list[str] = []
    for value in values:
        domain = normalise_domain(value)
        if domain not in seen:
            seen.append(domain)
    return seen


def _hostport(domain: str) -> tuple[str, str | None]:
    host, _, port = domain.partition(":")
    return host, port or None


def _is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.endswith(".localhost")


def origin_allowed(origin: str, domains: list[str]) -> bool:
    """Whether a browser Origin (``https://shop.example.com``) is one of the site's."""
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return False
    if parts.scheme == "http" and not _is_loopback(host):
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    for domain in domains:
        want_host, want_port = _hostport(domain)
        if want_port is not None and str(port) != want_port:
            continue
        if want_port is None and port is not None and not _is_loopback(host):
            continue
        if want_host.startswith("*."):
            if host.endswith(want_host[1:]) and host != want_host[2:]:
                return True
        elif host == want_host:
            return True
    return False


def frame_ancestors(domains: list[str]) -> str:
    """The CSP ``frame-ancestors`` sources for the allowed domains ('none' when empty)."""
    sources: list[str] = []
    for domain in domains:
        host, port = _hostport(domain)
        sources.append(f"https://{domain}")
        if _is_loopback(host.removeprefix("*.")):
            # Loopback development pages are plain http; a port-less loopback entry
            # stands for any port, as origin_allowed treats it.
            sources.append(f"http://{host}:*" if port is None else f"http://{domain}")
    return " ".join(sources) if sources else "'none'"
