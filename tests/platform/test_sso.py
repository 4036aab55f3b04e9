"""Per-tenant single sign-on against a real OpenID Connect provider on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from plateaux.tenants.models import Role
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.oidc import OidcProvider, complete_login, ensure_oidc_provider_installed

CLIENT_ID = "plateaux-test"
CLIENT_SECRET = "a-client-secret-for-the-test-provider"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    ensure_oidc_provider_installed()
    # The platform's callback URL: the tests' ASGI base URL, one tenant slug per test.
    with OidcProvider(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://testserver/t/sso-{i}/sso/callback" for i in range(6)],
    ) as running:
        yield running


async def _tenant_with_sso(
    client: httpx.AsyncClient,
    tenants: TenantFactory,
    provider: OidcProvider,
    index: int,
    *,
    auto_provision: str | None = None,
) -> TenantWorld:
    world = await tenants.create()
    async with tenants.services.unit_of_work() as session:
        from plateaux.tenants.models import Tenant

        tenant = await session.get(Tenant, world.tenant.id)
        assert tenant is not None
        tenant.slug = f"sso-{index}"
    world.tenant.slug = f"sso-{index}"
    headers = await bearer(client, world)
    response = await client.put(
        "/api/v1/sso",
        headers=headers,
        json={
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "auto_provision_role": auto_provision,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["redirect_uri"].endswith(f"/t/sso-{index}/sso/callback")
    return world


async def _sign_in(client: httpx.AsyncClient, slug: str, login: str) -> httpx.Response:
    start = await client.get(f"/t/{slug}/sso/login")
    assert start.status_code == 303
    async with httpx.AsyncClient(timeout=10) as browser:
        final = await complete_login(browser, start.headers["location"], login=login)
    parts = urlsplit(final)
    assert parts.path == f"/t/{slug}/sso/callback", final
    return await client.get(f"{parts.path}?{parts.query}")


async def test_verified_email_links_the_existing_account_then_the_subject_is_used(
    client: httpx.AsyncClient, tenants: TenantFactory, provider: OidcProvider
) -> None:
    world = await _tenant_with_sso(client, tenants, provider, 0)
    await tenants.add_user(world, role=Role.AGENT, email="alice@example.com", name="Alice")
    done = await _sign_in(client, world.slug, "alice")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/t/{world.slug}/agent/"
    assert "plateaux_session" in done.headers.get("set-cookie", "")
    # The cookie is a real session: the account page answers.
    me = await client.get(f"/t/{world.slug}/agent/")
    assert me.status_code == 200
    assert "alice@example.com" in me.text
    # Second time: linked by (issuer, subject), not by email any more.
    client.cookies.clear()
    again = await _sign_in(client, world.slug, "alice")
    assert again.status_code == 303


async def test_unverified_email_never_links_to_an_account(
    client: httpx.AsyncClient, tenants: TenantFactory, provider: OidcProvider
) -> None:
    world = await _tenant_with_sso(client, tenants, provider, 1, auto_provision="agent")
    await tenants.add_user(world, role=Role.ADMIN, email="victim@example.com", name="Victim")
    client.cookies.clear()
    refused = await _sign_in(client, world.slug, "mallory")
    assert refused.status_code == 403
    assert "confirm" in refused.json()["detail"]
    assert "plateaux_session" not in refused.headers.get("set-cookie", "")


async def test_auto_provisioning_creates_an_account_for_a_verified_email(
    client: httpx.AsyncClient, tenants: TenantFactory, provider: OidcProvider
) -> None:
    world = await _tenant_with_sso(client, tenants, provider, 2, auto_provision="agent")
    client.cookies.clear()
    done = await _sign_in(client, world.slug, "bob")
    assert done.status_code == 303
    headers = await bearer(client, world)
    users = (await client.get("/api/v1/users", headers=headers)).json()["items"]
    assert any(u["email"] == "bob@example.com" and u["role"] == "agent" for u in users)


async def test_forged_state_is_refused(
    client: httpx.AsyncClient, tenants: TenantFactory, provider: OidcProvider
) -> None:
    world = await _tenant_with_sso(client, tenants, provider, 3)
    start = await client.get(f"/t/{world.slug}/sso/login")
    async with httpx.AsyncClient(timeout=10) as browser:
        final = await complete_login(browser, start.headers["location"], login="alice")
    query = parse_qs(urlsplit(final).query)
    forged = await client.get(
        f"/t/{world.slug}/sso/callback", params={"code": query["code"][0], "state": "not-the-state"}
    )
    assert forged.status_code == 401


async def test_private_issuers_are_refused_unless_allowed(
    client: httpx.AsyncClient, tenants: TenantFactory, provider: OidcProvider
) -> None:
    from plateaux.platform.errors import BadRequest
    from plateaux.platform.netguard import check_public_url

    with pytest.raises(BadRequest):
        await check_public_url(provider.issuer, allow_private=False)
    with pytest.raises(BadRequest):
        await check_public_url("https://169.254.169.254/latest", allow_private=False)
    await check_public_url(provider.issuer, allow_private=True)
