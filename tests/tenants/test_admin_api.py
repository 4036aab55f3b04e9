"""The tenant administration API."""

from __future__ import annotations

import httpx

from plateaux.tenants.models import Role
from tests.support.factories import TenantFactory, bearer


async def test_teams_sites_skills_lifecycle(client: httpx.AsyncClient,
                                            tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    h = await bearer(client, world)
    team = await client.post("/api/v1/teams", headers=h, json={"name": "Front office"})
    assert team.status_code == 201
    team_id = team.json()["id"]
    dup = await client.post("/api/v1/teams", headers=h, json={"name": "Front office"})
    assert dup.status_code == 409
    members = await client.put(f"/api/v1/teams/{team_id}/members", headers=h,
                               json={"user_ids": [str(agent.id)]})
    assert members.json()["member_ids"] == [str(agent.id)]
    renamed = await client.patch(f"/api/v1/teams/{team_id}", headers=h, json={"name": "Front"})
    assert renamed.json()["name"] == "Front"

    site = await client.post("/api/v1/sites", headers=h,
                             json={"name": "Lyon", "city": "Lyon", "timezone": "Europe/Paris"})
    assert site.status_code == 201
    bad_zone = await client.post("/api/v1/sites", headers=h,
                                 json={"name": "Mars", "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422
    moved = await client.patch(f"/api/v1/users/{agent.id}", headers=h,
                               json={"site_id": site.json()["id"]})
    assert moved.json()["site_id"] == site.json()["id"]

    sales = (await client.post("/api/v1/skills", headers=h, json={"name": "Sales"})).json()
    french = (await client.post("/api/v1/skills", headers=h, json={"name": "French"})).json()
    levels = await client.put(f"/api/v1/users/{agent.id}/skills", headers=h, json={"skills": [
        {"skill_id": sales["id"], "level": 4}, {"skill_id": french["id"], "level": 5}]})
    assert levels.status_code == 200
    assert {(s["name"], s["level"]) for s in levels.json()} == {("Sales", 4), ("French", 5)}
    too_high = await client.put(f"/api/v1/users/{agent.id}/skills", headers=h,
                                json={"skills": [{"skill_id": sales["id"], "level": 6}]})
    assert too_high.status_code == 422
    listing = await client.get("/api/v1/skills", headers=h)
    assert listing.json()["total"] == 2
    assert (await client.delete(f"/api/v1/skills/{sales['id']}", headers=h)).status_code == 204
    after = await client.get(f"/api/v1/users/{agent.id}/skills", headers=h)
    assert [s["name"] for s in after.json()] == ["French"]


async def test_domains_hours_holidays_and_settings(client: httpx.AsyncClient,
                                                   tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    ok = await client.post("/api/v1/domains", headers=h, json={"domain": "Shop.Example.com."})
    assert ok.status_code == 201 and ok.json()["domain"] == "shop.example.com"
    wildcard = await client.post("/api/v1/domains", headers=h, json={"domain": "*.example.org"})
    assert wildcard.status_code == 201
    for bad in ("http://x.com", "exa mple.com", "-x.com", "a..b"):
        refused = await client.post("/api/v1/domains", headers=h, json={"domain": bad})
        assert refused.status_code == 422, bad
    hours = await client.put("/api/v1/business-hours", headers=h, json={"intervals": [
        {"weekday": 0, "opens": "09:00", "closes": "12:00"},
        {"weekday": 0, "opens": "14:00", "closes": "18:00"}]})
    assert hours.status_code == 200 and len(hours.json()) == 2
    overlap = await client.put("/api/v1/business-hours", headers=h, json={"intervals": [
        {"weekday": 1, "opens": "09:00", "closes": "12:00"},
        {"weekday": 1, "opens": "11:00", "closes": "18:00"}]})
    assert overlap.status_code == 400
    backwards = await client.put("/api/v1/business-hours", headers=h, json={"intervals": [
        {"weekday": 1, "opens": "18:00", "closes": "09:00"}]})
    assert backwards.status_code == 400
    holiday = await client.post("/api/v1/holidays", headers=h,
                                json={"day": "2030-12-25", "name": "Christmas"})
    assert holiday.status_code == 201
    assert (await client.post("/api/v1/holidays", headers=h,
                              json={"day": "2030-12-25", "name": "Again"})).status_code == 409
    state = await client.get("/api/v1/tenant/open", headers=h)
    assert state.status_code == 200 and state.json()["next_opening"] is not None
    settings = await client.patch("/api/v1/tenant", headers=h, json={
        "timezone": "America/Montreal", "languages": ["fr", "en", "pt-BR"],
        "default_language": "en"})
    assert settings.status_code == 200
    assert settings.json()["languages"] == ["fr", "en", "pt-BR"]
    mismatch = await client.patch("/api/v1/tenant", headers=h, json={"default_language": "de"})
    assert mismatch.status_code == 400


async def test_api_key_lifecycle_and_scopes(client: httpx.AsyncClient,
                                            tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    created = await client.post("/api/v1/api-keys", headers=h,
                                json={"name": "CRM sync", "scopes": ["tenant:read"]})
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("plx_")
    listing = await client.get("/api/v1/api-keys", headers=h)
    assert "key" not in listing.json()[0]
    as_key = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/api/v1/skills", headers=as_key)).status_code == 200
    assert (await client.post("/api/v1/skills", headers=as_key,
                              json={"name": "x"})).status_code == 403
    assert (await client.get("/api/v1/users", headers=as_key)).status_code == 403
    revoked = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=h)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/skills", headers=as_key)).status_code == 401
    tampered = key[:-4] + "AAAA"
    assert (await client.get("/api/v1/skills",
                             headers={"Authorization": f"Bearer {tampered}"})).status_code == 401


async def test_roles_limit_the_admin_api(client: httpx.AsyncClient,
                                         tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    as_agent = await bearer(client, world, agent.email)
    as_supervisor = await bearer(client, world, supervisor.email)
    assert (await client.get("/api/v1/teams", headers=as_agent)).status_code == 200
    assert (await client.post("/api/v1/teams", headers=as_agent,
                              json={"name": "x"})).status_code == 403
    assert (await client.post("/api/v1/teams", headers=as_supervisor,
                              json={"name": "x"})).status_code == 403
    assert (await client.get("/api/v1/api-keys", headers=as_supervisor)).status_code == 403
