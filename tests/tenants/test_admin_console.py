"""The tenant admin console over HTTP, as a browser uses it (forms, CSRF, redirects)."""

from __future__ import annotations

import re

import httpx

from plateaux.tenants.models import Role
from tests.support.console_pages import csrf_from, sign_in
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld, bearer


async def admin_browser(client: httpx.AsyncClient, world: TenantWorld) -> str:
    signed = await sign_in(client, world.slug, world.admin.email, PASSWORD)
    assert signed.status_code == 303 and signed.headers["location"] == f"/t/{world.slug}/admin/"
    page = await client.get(f"/t/{world.slug}/admin/")
    assert page.status_code == 200
    return csrf_from(page.text)


async def test_every_section_renders(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create(name="Acme <Support>")
    await admin_browser(client, world)
    for section in ("", "people", "teams", "sites", "skills", "website", "hours", "security",
                    "settings"):
        page = await client.get(f"/t/{world.slug}/admin/{section}")
        assert page.status_code == 200, section
        assert "Acme &lt;Support&gt;" in page.text and "<Support>" not in page.text


async def test_forms_change_the_configuration(client: httpx.AsyncClient,
                                              tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT, name="Chloé")
    csrf = await admin_browser(client, world)
    base = f"/t/{world.slug}/admin"
    for path, data in [
        ("/skills", {"name": "Billing"}), ("/sites", {"name": "Lyon", "city": "Lyon"}),
        ("/teams", {"name": "Back office"}), ("/website", {"domain": "shop.example.com"}),
        ("/hours/holidays", {"day": "2030-12-25", "name": "Christmas"}),
    ]:
        done = await client.post(base + path, data={"csrf_token": csrf, **data})
        assert done.status_code == 303, (path, done.text[:300])
        assert "notice=" in done.headers["location"]
    hours = await client.post(base + "/hours", data={
        "csrf_token": csrf, "d0_open1": "09:00", "d0_close1": "12:00", "d0_open2": "14:00",
        "d0_close2": "18:00"})
    assert hours.status_code == 303
    h = await bearer(client, world)
    skill_id = (await client.get("/api/v1/skills", headers=h)).json()["items"][0]["id"]
    site_id = (await client.get("/api/v1/sites", headers=h)).json()["items"][0]["id"]
    saved = await client.post(f"{base}/people/{agent.id}", data={
        "csrf_token": csrf, "name": "Chloé B.", "role": "supervisor", "site_id": site_id,
        "is_active": "on", f"skill:{skill_id}": "4"})
    assert saved.status_code == 303
    person = (await client.get(f"/api/v1/users/{agent.id}", headers=h)).json()
    assert person["role"] == "supervisor" and person["site_id"] == site_id
    skills = (await client.get(f"/api/v1/users/{agent.id}/skills", headers=h)).json()
    assert skills == [{"skill_id": skill_id, "name": "Billing", "level": 4}]
    assert len((await client.get("/api/v1/business-hours", headers=h)).json()) == 2


async def test_refusals_re_render_with_the_reason(client: httpx.AsyncClient,
                                                  tenants: TenantFactory) -> None:
    world = await tenants.create()
    csrf = await admin_browser(client, world)
    base = f"/t/{world.slug}/admin"
    await client.post(base + "/skills", data={"csrf_token": csrf, "name": "Sales"})
    again = await client.post(base + "/skills", data={"csrf_token": csrf, "name": "Sales"})
    assert again.status_code == 409 and "already exists" in again.text
    bad_domain = await client.post(base + "/website", data={"csrf_token": csrf,
                                                           "domain": "not a domain"})
    assert bad_domain.status_code == 400 and "host name" in bad_domain.text
    backwards = await client.post(base + "/hours", data={"csrf_token": csrf, "d2_open1": "18:00",
                                                         "d2_close1": "09:00"})
    assert backwards.status_code == 400 and "close after it opens" in backwards.text
    zone = await client.post(base + "/settings", data={
        "csrf_token": csrf, "name": "X", "timezone": "Mars/Olympus", "languages": "fr",
        "default_language": "fr"})
    assert zone.status_code == 422


async def test_api_key_is_shown_once_and_works(client: httpx.AsyncClient,
                                               tenants: TenantFactory) -> None:
    world = await tenants.create()
    csrf = await admin_browser(client, world)
    page = await client.post(f"/t/{world.slug}/admin/security/keys", data={
        "csrf_token": csrf, "name": "Sync", "scope": ["tenant:read", "users:read"]})
    assert page.status_code == 200
    match = re.search(r'id="new-api-key">(plx_[^<]+)<', page.text)
    assert match
    key = match.group(1)
    listing = await client.get(f"/t/{world.slug}/admin/security")
    assert key not in listing.text
    assert (await client.get("/api/v1/users",
                             headers={"Authorization": f"Bearer {key}"})).status_code == 200


async def test_csrf_and_roles_are_enforced(client: httpx.AsyncClient,
                                           tenants: TenantFactory) -> None:
    world = await tenants.create()
    await admin_browser(client, world)
    forged = await client.post(f"/t/{world.slug}/admin/skills", data={"name": "Forged"})
    assert forged.status_code == 403
    other = await tenants.create()
    cross = await client.get(f"/t/{other.slug}/admin/")
    assert cross.status_code == 303 and "/login" in cross.headers["location"]
    agent = await tenants.add_user(world, role=Role.AGENT)
    async with httpx.AsyncClient(transport=client._transport,
                                 base_url="http://testserver") as agent_browser:
        await sign_in(agent_browser, world.slug, agent.email, PASSWORD)
        assert (await agent_browser.get(f"/t/{world.slug}/admin/")).status_code == 403
        assert (await agent_browser.get(f"/t/{world.slug}/admin/skills")).status_code == 403
