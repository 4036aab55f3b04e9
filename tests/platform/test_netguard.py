"""The outgoing-address guard: names tenants give that cannot be resolved are refused as
such (a 4xx), never as a server error, and only public unicast addresses pass."""

from __future__ import annotations

import pytest

from plateaux.platform.errors import BadRequest
from plateaux.platform.netguard import (
    UnresolvableHost,
    check_public_url,
    is_public_address,
    resolve_host,
)

# Names the IDNA codec refuses before any lookup: no DNS query leaves the machine.
UNENCODABLE = ["\x90pbx.example.com", "a" * 64 + ".example.com", "bad..example.com"]


@pytest.mark.parametrize("host", UNENCODABLE)
async def test_a_name_idna_refuses_is_unresolvable(host: str) -> None:
    with pytest.raises(UnresolvableHost):
        await resolve_host(host, 443)


@pytest.mark.parametrize("host", UNENCODABLE)
async def test_a_url_with_such_a_name_is_a_bad_request(host: str) -> None:
    with pytest.raises(BadRequest):
        await check_public_url(f"https://{host}/hook", allow_private=False)


async def test_loopback_resolves_and_is_not_public() -> None:
    addresses = await resolve_host("localhost", 80)
    assert addresses and not any(is_public_address(a) for a in addresses)


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1::1", True),
    ("10.0.0.1", False), ("192.168.1.1", False), ("127.0.0.1", False),
    ("169.254.169.254", False), ("::1", False), ("fe80::1%eth0", False),
    ("::ffff:10.0.0.1", False), ("224.0.0.1", False),
])
def test_only_public_unicast_addresses_pass(address: str, public: bool) -> None:
    assert is_public_address(address) is public
