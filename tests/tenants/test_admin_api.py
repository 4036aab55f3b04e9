"""The tenant administration API: teams, sites, skills and levels, website domains, hours
and holidays, settings, API keys; scopes, tenant isolation, validation, idempotency."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from plateaux.platform.services import Services
from plateaux.tenants import repository
from plateaux.tenants.models import Role
from tests.support.factories import TenantFactory, TenantWorld, bearer

API = "/api/v1"
Headers = dict[str, str]


async def post(
    client: httpx.AsyncClient, h: Headers, path: str, body: Any, status: int = 201
) -> dict[str, Any]:
    response = await client.post(API + path, headers=h, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def get(client: httpx.AsyncClient, h: Headers, path: str, status: int = 200) -> Any:
    response = await client.get(API + path, headers=h)
    assert response.status_code == status, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def audit_actions(services: Services, world: TenantWorld) -> list[str]:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        entries = await repository.recent_audit(session, world.tenant.id, limit=200)
    return [e.action for e in entries]


# --- teams -----------------------------------------------------------------------------


async def test_teams_and_their_members(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    ann = await tenants.add_user(world, name="Ann")
    bob = await tenants.add_user(world, name="Bob")
    h = await bearer(client, world)

    team = await post(client, h, "/teams", {"name": "  Front office ", "description": "Level 1"})
    assert team["name"] == "Front office" and team["member_ids"] == []
    team_url = f"/teams/{team['id']}"
    assert (await get(client, h, team_url))["description"] == "Level 1"
    for clash in ("Front office", "FRONT OFFICE"):
        assert_problem(await client.post(API + "/teams", headers=h, json={"name": clash}), 409)

    members = await client.put(
        API + team_url + "/members",
        headers=h,
        json={"user_ids": [str(bob.id), str(ann.id), str(ann.id)]},
    )
    assert members.status_code == 200
    assert members.json()["member_ids"] == [str(ann.id), str(bob.id)]  # by name, once each
    listed = await get(client, h, team_url + "/members?limit=1")
    assert listed["total"] == 2 and [m["name"] for m in listed["items"]] == ["Ann"]
    assert set(listed["items"][0]) == {"id", "email", "name", "role", "is_active"}

    assert (await client.delete(f"{API}{team_url}/members/{ann.id}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"{API}{team_url}/members/{ann.id}", headers=h), 404)
    added = await post(client, h, team_url + "/members", {"user_id": str(ann.id)})
    assert added["email"] == ann.email
    again = await post(client, h, team_url + "/members", {"user_id": str(ann.id)})
    assert again["id"] == str(ann.id)  # already a member: nothing changes
    assert len((await get(client, h, team_url))["member_ids"]) == 2

    renamed = await client.patch(API + team_url, headers=h, json={"name": "Front"})
    assert renamed.json()["name"] == "Front" and renamed.json()["description"] == "Level 1"
    other = await post(client, h, "/teams", {"name": "Back office"})
    assert_problem(await client.patch(API + team_url, headers=h, json={"name": "back office"}), 409)
    same = await client.patch(API + team_url, headers=h, json={"name": "FRONT"})
    assert same.status_code == 200  # a team may change the case of its own name

    page = await get(client, h, "/teams?limit=1&offset=1")
    assert page["total"] == 2 and page["offset"] == 1 and page["limit"] == 1
    assert [t["name"] for t in page["items"]] == ["FRONT"]
    assert (await client.delete(f"{API}/teams/{other['id']}", headers=h)).status_code == 204
    assert_problem(await client.get(f"{API}/teams/{other['id']}", headers=h), 404)
    actions = await audit_actions(services, world)
    for action in (
        "team.created",
        "team.members_changed",
        "team.member_removed",
        "team.member_added",
        "team.updated",
        "team.deleted",
    ):
        assert action in actions


async def test_members_must_be_people_of_the_tenant(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world, other = await tenants.create(), await tenants.create()
    stranger = await tenants.add_user(other)
    h = await bearer(client, world)
    team = await post(client, h, "/teams", {"name": "Support"})
    url = f"{API}/teams/{team['id']}/members"
    refused = await client.put(url, headers=h, json={"user_ids": [str(stranger.id)]})
    assert_problem(refused, 422)
    assert "Unknown user" in refused.json()["detail"]
    assert_problem(await client.post(url, headers=h, json={"user_id": str(uuid.uuid4())}), 422)
    assert (await get(client, h, f"/teams/{team['id']}"))["member_ids"] == []


# --- sites -----------------------------------------------------------------------------


async def test_sites(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world)
    h = await bearer(client, world)
    site = await post(
        client, h, "/sites", {"name": "Lyon", "city": "Lyon", "timezone": "Europe/Paris"}
    )
    url = f"{API}/sites/{site['id']}"
    assert (await get(client, h, f"/sites/{site['id']}"))["city"] == "Lyon"
    assert_problem(await client.post(API + "/sites", headers=h, json={"name": "lyon"}), 409)
    for bad in (
        {"name": "Mars", "timezone": "Mars/Olympus"},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 121},
        {"name": "Home", "floor": 3},
        {"name": "Home", "city": 5},
    ):
        assert_problem(await client.post(API + "/sites", headers=h, json=bad), 422)

    moved = await client.patch(f"{API}/users/{agent.id}", headers=h, json={"site_id": site["id"]})
    assert moved.json()["site_id"] == site["id"]
    patched = await client.patch(url, headers=h, json={"timezone": None, "city": "Villeurbanne"})
    assert patched.json()["timezone"] is None and patched.json()["name"] == "Lyon"
    assert_problem(await client.patch(url, headers=h, json={"name": None}), 422)
    listing = await get(client, h, "/sites")
    assert listing["total"] == 1

    assert (await client.delete(url, headers=h)).status_code == 204
    person = await get(client, h, f"/users/{agent.id}")
    assert person["site_id"] is None  # the person stays, without a site


# --- skills and levels -----------------------------------------------------------------


async def test_skills_and_agents_levels(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world)
    h = await bearer(client, world)
    sales = await post(client, h, "/skills", {"name": "Sales", "description": "Quotes"})
    french = await post(client, h, "/skills", {"name": "French"})
    assert_problem(await client.post(API + "/skills", headers=h, json={"name": "sales"}), 409)
    updated = await client.patch(
        f"{API}/skills/{sales['id']}", headers=h, json={"description": "Quotes and orders"}
    )
    assert updated.json()["description"] == "Quotes and orders"

    url = f"{API}/users/{agent.id}/skills"
    levels = await client.put(
        url,
        headers=h,
        json={
            "skills": [
                {"skill_id": sales["id"], "level": 4},
                {"skill_id": french["id"], "level": 5},
            ]
        },
    )
    assert levels.status_code == 200
    body = levels.json()
    assert body["user_id"] == str(agent.id)
    assert [(s["name"], s["level"]) for s in body["skills"]] == [("French", 5), ("Sales", 4)]

    for bad in (0, 6, "4", 2.5, True, None):
        refused = await client.put(
            url, headers=h, json={"skills": [{"skill_id": sales["id"], "level": bad}]}
        )
        assert_problem(refused, 422)
    twice = await client.put(
        url,
        headers=h,
        json={
            "skills": [{"skill_id": sales["id"], "level": 1}, {"skill_id": sales["id"], "level": 2}]
        },
    )
    assert_problem(twice, 422)
    unknown = await client.put(
        url, headers=h, json={"skills": [{"skill_id": str(uuid.uuid4()), "level": 1}]}
    )
    assert_problem(unknown, 422)
    # Refusals changed nothing.
    assert len((await get(client, h, f"/users/{agent.id}/skills"))["skills"]) == 2

    assert (await client.delete(f"{API}/skills/{sales['id']}", headers=h)).status_code == 204
    after = await get(client, h, f"/users/{agent.id}/skills")
    assert [s["name"] for s in after["skills"]] == ["French"]
    cleared = await client.put(url, headers=h, json={"skills": []})
    assert cleared.json()["skills"] == []
    assert_problem(await client.get(f"{API}/users/{uuid.uuid4()}/skills", headers=h), 404)
    assert "user.skills_changed" in await audit_actions(services, world)


# --- website domains -------------------------------------------------------------------


async def test_website_domains(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    ok = await post(client, h, "/domains", {"domain": " Shop.Example.com. "})
    assert ok["domain"] == "shop.example.com"
    assert (await post(client, h, "/domains", {"domain": "*.example.org"}))["domain"] == (
        "*.example.org"
    )
    assert (await post(client, h, "/domains", {"domain": "café.fr"}))["domain"] == (
        "xn--caf-dma.fr"
    )
    assert (await post(client, h, "/domains", {"domain": "localhost"}))["domain"] == "localhost"
    assert (await post(client, h, "/domains", {"domain": "127.0.0.1"}))["domain"] == "127.0.0.1"
    assert_problem(
        await client.post(API + "/domains", headers=h, json={"domain": "SHOP.example.com"}), 409
    )
    for bad in (
        "http://x.com",
        "x.com/path",
        "x.com:8080",
        "exa mple.com",
        "-x.com",
        "a..b",
        "x_y.com",
        "*.com",
        "*",
        "a.*.com",
        "192.168.1.300",
        "*.192.168.1.10",
        "010.0.0.1",
        "[::1]",
        "",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "user@x.com",
        "shop",
        42,
    ):
        refused = await client.post(API + "/domains", headers=h, json={"domain": bad})
        assert_problem(refused, 422)
    listing = await get(client, h, "/domains?limit=2")
    assert listing["total"] == 5 and len(listing["items"]) == 2
    assert (await get(client, h, f"/domains/{ok['id']}"))["domain"] == "shop.example.com"
    assert (await client.delete(f"{API}/domains/{ok['id']}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"{API}/domains/{ok['id']}", headers=h), 404)


# --- hours, holidays, settings ---------------------------------------------------------


async def test_business_hours_and_the_open_state(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    empty = await get(client, h, "/business-hours")
    assert empty == {"timezone": "Europe/Paris", "intervals": []}
    week = [{"weekday": d, "opens": "09:00", "closes": "12:00"} for d in range(5)] + [
        {"weekday": d, "opens": "14:00", "closes": "18:00"} for d in range(5)
    ]
    saved = await client.put(API + "/business-hours", headers=h, json={"intervals": week})
    assert saved.status_code == 200
    intervals = saved.json()["intervals"]
    assert len(intervals) == 10 and intervals[0] == {
        "weekday": 0,
        "opens": "09:00:00",
        "closes": "12:00:00",
    }
    for bad in (
        [
            {"weekday": 1, "opens": "09:00", "closes": "12:00"},
            {"weekday": 1, "opens": "11:00", "closes": "18:00"},
        ],  # overlap
        [{"weekday": 1, "opens": "18:00", "closes": "09:00"}],  # backwards
        [{"weekday": 7, "opens": "09:00", "closes": "10:00"}],
        [{"weekday": 1, "opens": "09:00+02:00", "closes": "10:00"}],  # local times only
        [{"weekday": 1, "opens": "25:00", "closes": "26:00"}],
        [{"weekday": "1", "opens": "09:00", "closes": "10:00"}],
    ):
        assert_problem(
            await client.put(API + "/business-hours", headers=h, json={"intervals": bad}), 422
        )
    assert len((await get(client, h, "/business-hours"))["intervals"]) == 10

    # Monday 2030-01-07 10:00 in Paris is 09:00 UTC; 12:30 is the lunch break.
    state = await get(client, h, "/tenant/open?at=2030-01-07T09:00:00Z")
    assert state["open"] is True and state["timezone"] == "Europe/Paris"
    lunch = await get(client, h, "/tenant/open?at=2030-01-07T11:30:00%2B00:00")
    assert lunch["open"] is False
    assert lunch["next_opening"].startswith("2030-01-07T14:00:00+01:00")
    assert_problem(await client.get(API + "/tenant/open?at=2030-01-07T09:00:00", headers=h), 422)
    assert (await get(client, h, "/tenant/open"))["at"]

    holiday = await post(client, h, "/holidays", {"day": "2030-01-07", "name": "Closed"})
    assert (await get(client, h, "/tenant/open?at=2030-01-07T09:00:00Z"))["open"] is False
    assert_problem(
        await client.post(
            API + "/holidays", headers=h, json={"day": "2030-01-07", "name": "Again"}
        ),
        409,
    )
    other = await post(client, h, "/holidays", {"day": "2030-12-25", "name": "Christmas"})
    moved = await client.patch(f"{API}/holidays/{other['id']}", headers=h, json={"name": "Noël"})
    assert moved.json() == {"id": other["id"], "day": "2030-12-25", "name": "Noël"}
    assert_problem(
        await client.patch(f"{API}/holidays/{other['id']}", headers=h, json={"day": "2030-01-07"}),
        409,
    )
    assert_problem(
        await client.post(API + "/holidays", headers=h, json={"day": "2030-02-30", "name": "x"}),
        422,
    )
    listing = await get(client, h, "/holidays")
    assert [x["day"] for x in listing["items"]] == ["2030-01-07", "2030-12-25"]
    assert (await client.delete(f"{API}/holidays/{holiday['id']}", headers=h)).status_code == 204
    assert (await get(client, h, "/tenant/open?at=2030-01-07T09:00:00Z"))["open"] is True

    cleared = await client.put(API + "/business-hours", headers=h, json={"intervals": []})
    assert cleared.json()["intervals"] == []
    never = await get(client, h, "/tenant/open?at=2030-01-07T09:00:00Z")
    assert never == {**never, "open": False, "next_opening": None}


async def test_tenant_settings(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    current = await get(client, h, "/tenant")
    assert current["slug"] == world.slug and current["languages"] == ["fr", "en"]
    changed = await client.patch(
        API + "/tenant",
        headers=h,
        json={
            "name": " Acme Support ",
            "timezone": "America/Montreal",
            "languages": ["fr", "EN", "pt-br", "fr"],
            "default_language": "en",
        },
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["name"] == "Acme Support" and body["timezone"] == "America/Montreal"
    assert body["languages"] == ["fr", "en", "pt-BR"] and body["default_language"] == "en"
    assert (await get(client, h, "/business-hours"))["timezone"] == "America/Montreal"

    mismatch = await client.patch(API + "/tenant", headers=h, json={"default_language": "de"})
    assert_problem(mismatch, 422)
    assert "default language" in mismatch.json()["detail"]
    dropped = await client.patch(API + "/tenant", headers=h, json={"languages": ["fr"]})
    assert_problem(dropped, 422)  # English is still the default
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"timezone": "UTC+2"},
        {"languages": []},
        {"languages": ["french"]},
        {"name": ""},
        {"name": None},
        {"slug": "other"},
        {"status": "active"},
        {"default_language": "e"},
    ):
        assert_problem(await client.patch(API + "/tenant", headers=h, json=bad), 422)
    assert (await get(client, h, "/tenant"))["timezone"] == "America/Montreal"
    assert "tenant.settings_changed" in await audit_actions(services, world)


# --- API keys --------------------------------------------------------------------------


async def test_api_key_lifecycle_and_scopes(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    created = await client.post(
        API + "/api-keys",
        headers=h,
        json={"name": "CRM sync", "scopes": ["tenant:read", "tenant:read"]},
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key = created.json()
    assert key["key"].startswith(f"plx_{world.tenant.id.hex}_{key['prefix']}_")
    assert key["scopes"] == ["tenant:read"] and key["revoked_at"] is None

    listing = await get(client, h, "/api-keys")
    assert listing["total"] == 1 and "key" not in listing["items"][0]
    assert "key" not in await get(client, h, f"/api-keys/{key['id']}")

    as_key = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get(API + "/skills", headers=as_key)).status_code == 200
    assert (await get(client, h, f"/api-keys/{key['id']}"))["last_used_at"] is not None
    assert_problem(await client.post(API + "/skills", headers=as_key, json={"name": "x"}), 403)
    assert_problem(await client.get(API + "/users", headers=as_key), 403)
    assert_problem(await client.get(API + "/api-keys", headers=as_key), 403)

    # A key with api_keys:write cannot mint a key with more than it has itself.
    keys_only = await post(
        client, h, "/api-keys", {"name": "Rotator", "scopes": ["api_keys:write"]}
    )
    rotator = {"Authorization": f"Bearer {keys_only['key']}"}
    assert_problem(
        await client.post(
            API + "/api-keys",
            headers=rotator,
            json={"name": "Escalation", "scopes": ["tenant:write"]},
        ),
        403,
    )
    assert (
        await client.post(
            API + "/api-keys",
            headers=rotator,
            json={"name": "Next rotator", "scopes": ["api_keys:write"]},
        )
    ).status_code == 201

    for bad in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["tenant:read"]},
        {"scopes": ["tenant:read"]},
    ):
        assert_problem(await client.post(API + "/api-keys", headers=h, json=bad), 422)

    assert (await client.delete(f"{API}/api-keys/{key['id']}", headers=h)).status_code == 204
    assert_problem(await client.get(API + "/skills", headers=as_key), 401)
    assert (await get(client, h, f"/api-keys/{key['id']}"))["revoked_at"] is not None
    assert (await client.delete(f"{API}/api-keys/{key['id']}", headers=h)).status_code == 204
    tampered = key["key"][:-4] + ("AAAA" if not key["key"].endswith("AAAA") else "BBBB")
    assert_problem(
        await client.get(API + "/skills", headers={"Authorization": f"Bearer {tampered}"}), 401
    )


async def test_idempotent_creates_replay_the_first_answer(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    once = {**h, "Idempotency-Key": "create-support-team"}
    first = await client.post(API + "/teams", headers=once, json={"name": "Support"})
    replay = await client.post(API + "/teams", headers=once, json={"name": "Support"})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    assert (await get(client, h, "/teams"))["total"] == 1
    other_body = await client.post(API + "/teams", headers=once, json={"name": "Sales"})
    assert_problem(other_body, 409)

    # The key is shown to the first request only: the replay has the record, not the secret.
    key_once = {**h, "Idempotency-Key": "crm-key"}
    body = {"name": "CRM", "scopes": ["tenant:read"]}
    made = await client.post(API + "/api-keys", headers=key_once, json=body)
    again = await client.post(API + "/api-keys", headers=key_once, json=body)
    assert made.json()["key"].startswith("plx_") and again.json()["key"] is None
    assert again.json()["id"] == made.json()["id"]
    assert made.json()["key"] not in again.text
    assert (await get(client, h, "/api-keys"))["total"] == 1


# --- who may do what -------------------------------------------------------------------


async def test_roles_limit_the_admin_api(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    h = await bearer(client, world)
    team = await post(client, h, "/teams", {"name": "Support"})
    writes: list[tuple[str, str, Any]] = [
        ("POST", "/teams", {"name": "x"}),
        ("PATCH", f"/teams/{team['id']}", {"name": "y"}),
        ("DELETE", f"/teams/{team['id']}", None),
        ("PUT", f"/teams/{team['id']}/members", {"user_ids": []}),
        ("POST", "/sites", {"name": "x"}),
        ("POST", "/skills", {"name": "x"}),
        ("PUT", f"/users/{agent.id}/skills", {"skills": []}),
        ("POST", "/domains", {"domain": "x.example.com"}),
        ("PUT", "/business-hours", {"intervals": []}),
        ("POST", "/holidays", {"day": "2030-01-01", "name": "x"}),
        ("PATCH", "/tenant", {"name": "x"}),
        ("POST", "/api-keys", {"name": "x", "scopes": ["tenant:read"]}),
        ("GET", "/api-keys", None),
    ]
    for email in (agent.email, supervisor.email):
        as_user = await bearer(client, world, email)
        # Everyone of the tenant reads its configuration (agents see their teams, hours).
        for path in (
            "/teams",
            "/sites",
            "/skills",
            "/domains",
            "/business-hours",
            "/holidays",
            "/tenant",
            "/tenant/open",
            f"/teams/{team['id']}",
        ):
            assert (await client.get(API + path, headers=as_user)).status_code == 200, path
        for method, path, body in writes:
            response = await client.request(method, API + path, headers=as_user, json=body)
            assert_problem(response, 403)
    assert_problem(await client.get(API + "/teams"), 401)


@pytest.mark.parametrize(
    "kind", ["teams", "sites", "skills", "domains", "holidays", "api-keys", "users"]
)
async def test_another_tenants_ids_are_not_found(
    client: httpx.AsyncClient, tenants: TenantFactory, kind: str
) -> None:
    mine, theirs = await tenants.create(), await tenants.create()
    h_mine, h_theirs = await bearer(client, mine), await bearer(client, theirs)
    their_user = await tenants.add_user(theirs)
    my_user = await tenants.add_user(mine)
    my_team = await post(client, h_mine, "/teams", {"name": "Mine"})
    their_id = {
        "teams": lambda: post(client, h_theirs, "/teams", {"name": "Theirs"}),
        "sites": lambda: post(client, h_theirs, "/sites", {"name": "Theirs"}),
        "skills": lambda: post(client, h_theirs, "/skills", {"name": "Theirs"}),
        "domains": lambda: post(client, h_theirs, "/domains", {"domain": "their.example"}),
        "holidays": lambda: post(
            client, h_theirs, "/holidays", {"day": "2030-05-01", "name": "Theirs"}
        ),
        "api-keys": lambda: post(
            client, h_theirs, "/api-keys", {"name": "Theirs", "scopes": ["tenant:read"]}
        ),
    }
    foreign = str(their_user.id) if kind == "users" else (await their_id[kind]())["id"]
    calls: dict[str, list[tuple[str, str, Any]]] = {
        "teams": [
            ("GET", "/teams/{id}", None),
            ("PATCH", "/teams/{id}", {"name": "Hijacked"}),
            ("DELETE", "/teams/{id}", None),
            ("GET", "/teams/{id}/members", None),
            ("PUT", "/teams/{id}/members", {"user_ids": [str(my_user.id)]}),
            ("POST", "/teams/{id}/members", {"user_id": str(my_user.id)}),
            ("DELETE", "/teams/{id}/members/" + str(my_user.id), None),
        ],
        "sites": [
            ("GET", "/sites/{id}", None),
            ("PATCH", "/sites/{id}", {"name": "Hijacked"}),
            ("DELETE", "/sites/{id}", None),
        ],
        "skills": [
            ("GET", "/skills/{id}", None),
            ("PATCH", "/skills/{id}", {"name": "Hijacked"}),
            ("DELETE", "/skills/{id}", None),
        ],
        "domains": [("GET", "/domains/{id}", None), ("DELETE", "/domains/{id}", None)],
        "holidays": [
            ("GET", "/holidays/{id}", None),
            ("PATCH", "/holidays/{id}", {"name": "Hijacked"}),
            ("DELETE", "/holidays/{id}", None),
        ],
        "api-keys": [("GET", "/api-keys/{id}", None), ("DELETE", "/api-keys/{id}", None)],
        "users": [
            ("GET", "/users/{id}/skills", None),
            ("PUT", "/users/{id}/skills", {"skills": []}),
            ("DELETE", f"/teams/{my_team['id']}/members/{{id}}", None),
        ],
    }
    for method, template, body in calls[kind]:
        response = await client.request(
            method, API + template.replace("{id}", foreign), headers=h_mine, json=body
        )
        assert_problem(response, 404)
        assert foreign not in response.text
    # Nothing of theirs changed.
    if kind in ("teams", "sites", "skills", "domains", "holidays"):
        theirs_now = await get(client, h_theirs, f"/{kind}/{foreign}")
        assert theirs_now.get("name", "their.example") in ("Theirs", "their.example")
    if kind == "api-keys":
        assert (await get(client, h_theirs, f"/api-keys/{foreign}"))["revoked_at"] is None
    if kind == "users":
        # Their person cannot be added to my team either (unknown here, so 422).
        added = await client.post(
            f"{API}/teams/{my_team['id']}/members", headers=h_mine, json={"user_id": foreign}
        )
        assert_problem(added, 422)
