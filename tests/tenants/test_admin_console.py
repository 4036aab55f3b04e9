"""The tenant admin console over HTTP, as a browser uses it: sign-in cookie, forms with
their CSRF token, redirects with a notice, refusals re-rendered with their reason."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from plateaux.platform.services import Services
from plateaux.tenants import repository
from plateaux.tenants.models import Role, User
from tests.support.console_pages import csrf_from, sign_in
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld, bearer

HTML = {"Accept": "text/html"}


@asynccontextmanager
async def browser(
    client: httpx.AsyncClient, world: TenantWorld, user: User | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A separate browser (cookie jar) signed in as ``user`` (the admin by default), with
    the CSRF token of its session."""
    transport = client._transport
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=HTML
    ) as b:
        email = (user or world.admin).email
        signed = await sign_in(b, world.slug, email, PASSWORD)
        assert signed.status_code == 303, signed.text
        account = await b.get(f"/t/{world.slug}/agent/")
        assert account.status_code == 200, account.text
        yield b, csrf_from(account.text)


def notice_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:500]
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["notice"][0]


async def follow(b: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text[:500]
    page = await b.get(response.headers["location"])
    assert page.status_code == 200
    return page


def error_of(page: httpx.Response) -> str:
    match = re.search(r'<div class="error" role="alert">(.*?)</div>', page.text, re.S)
    assert match, page.text[:2000]
    return match.group(1)


# --- pages -----------------------------------------------------------------------------


async def test_every_page_renders_and_escapes(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create(name="Acme <Support>")
    agent = await tenants.add_user(world, name="<script>alert(1)</script>")
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        team = await b.post(base + "/teams", data={"csrf_token": csrf, "name": "<b>Team</b>"})
        team_url = team.headers["location"].split("?")[0]
        for path in (
            "/",
            "/users",
            f"/users/{agent.id}",
            f"/users/{world.admin.id}",
            "/teams",
            team_url.removeprefix(base),
            "/sites",
            "/skills",
            "/skills/levels",
            "/domains",
            "/hours",
            "/settings",
            "/api-keys",
        ):
            page = await b.get(base + path)
            assert page.status_code == 200, path
            assert "Acme &lt;Support&gt;" in page.text and "<Support>" not in page.text, path
            assert "<script>alert" not in page.text and "<b>Team</b>" not in page.text, path
            assert f'action="/t/{world.slug}/logout"' in page.text, path
            assert f'href="/t/{world.slug}/agent/"' in page.text, path
            assert page.headers["cache-control"] == "no-store"
        overview = await b.get(base + "/")
        assert "&lt;b&gt;Team&lt;/b&gt;" in overview.text  # in the recent activity
        assert "Getting started" in overview.text and 'id="count-teams"' in overview.text


async def test_empty_states_guide_the_admin(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, _):
        base = f"/t/{world.slug}/admin"
        for path, text in [
            ("/teams", "No teams yet"),
            ("/sites", "No sites yet"),
            ("/skills", "No skills yet"),
            ("/skills/levels", "No skills yet"),
            ("/domains", "No domain yet"),
            ("/hours", "No holidays"),
            ("/api-keys", "No API keys"),
        ]:
            assert text in (await b.get(base + path)).text, path


# --- users -----------------------------------------------------------------------------


async def test_users_are_created_edited_and_deleted(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        h = await bearer(client, world)
        site = (await client.post("/api/v1/sites", headers=h, json={"name": "Lyon"})).json()
        skill = (await client.post("/api/v1/skills", headers=h, json={"name": "Billing"})).json()

        created = await b.post(
            base + "/users",
            data={
                "csrf_token": csrf,
                "email": "Chloe@Example.com",
                "name": "Chloé",
                "role": "agent",
                "site_id": site["id"],
                "password": "a-long-enough-password",
            },
        )
        assert notice_of(created) == "chloe@example.com can now sign in."
        user_url = created.headers["location"].split("?")[0]
        page = await follow(b, created)
        assert "chloe@example.com can now sign in." in page.text
        user_id = user_url.rsplit("/", 1)[1]
        person = (await client.get(f"/api/v1/users/{user_id}", headers=h)).json()
        assert person["role"] == "agent" and person["site_id"] == site["id"]

        duplicate = await b.post(
            base + "/users",
            data={
                "csrf_token": csrf,
                "email": "chloe@example.com",
                "name": "Again",
                "role": "agent",
                "password": "a-long-enough-password",
            },
        )
        assert duplicate.status_code == 409 and "already exists" in error_of(duplicate)
        for bad, reason in [
            ({"email": "not-an-email"}, "email"),
            ({"role": "emperor"}, "Role"),
            ({"password": "short"}, "password"),
            ({"site_id": "nonsense"}, "Unknown site"),
            ({"site_id": str(uuid.uuid4())}, "Unknown site"),
            ({"name": ""}, "name"),
        ]:
            refused = await b.post(
                base + "/users",
                data={
                    "csrf_token": csrf,
                    "email": f"{uuid.uuid4().hex[:8]}@example.com",
                    "name": "X",
                    "role": "agent",
                    "password": "a-long-enough-password",
                    **bad,
                },
            )
            assert 400 <= refused.status_code < 500, bad
            assert reason.lower() in error_of(refused).lower(), (bad, error_of(refused))
        # A refused creation leaves no account behind (the site came after the insert).
        assert (await client.get("/api/v1/users", headers=h)).json()["total"] == 2

        saved = await b.post(
            base + f"/users/{user_id}",
            data={"csrf_token": csrf, "name": "Chloé B.", "role": "supervisor", "site_id": ""},
        )
        assert notice_of(saved) == "Chloé B. saved."
        person = (await client.get(f"/api/v1/users/{user_id}", headers=h)).json()
        assert person["role"] == "supervisor" and person["site_id"] is None
        assert person["is_active"] is False  # the box was left unticked

        levels = await b.post(
            base + f"/users/{user_id}/skills",
            data={"csrf_token": csrf, f"level:{skill['id']}": "4"},
        )
        assert notice_of(levels) == "Skills of Chloé B. saved."
        skills = (await client.get(f"/api/v1/users/{user_id}/skills", headers=h)).json()
        assert skills["skills"] == [{"skill_id": skill["id"], "name": "Billing", "level": 4}]
        too_high = await b.post(
            base + f"/users/{user_id}/skills",
            data={"csrf_token": csrf, f"level:{skill['id']}": "9"},
        )
        assert too_high.status_code == 422 and "1 to 5" in error_of(too_high)

        myself = await b.post(
            base + f"/users/{world.admin.id}",
            data={"csrf_token": csrf, "name": "Admin", "role": "agent", "is_active": "on"},
        )
        assert myself.status_code == 422 and "yourself" in error_of(myself)
        self_delete = await b.post(
            base + f"/users/{world.admin.id}/delete", data={"csrf_token": csrf}
        )
        assert self_delete.status_code == 422

        deleted = await b.post(base + f"/users/{user_id}/delete", data={"csrf_token": csrf})
        assert notice_of(deleted) == "chloe@example.com was deleted."
        assert (await client.get(f"/api/v1/users/{user_id}", headers=h)).status_code == 404
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        actions = [e.action for e in await repository.recent_audit(session, world.tenant.id)]
    assert {"user.created", "user.updated", "user.skills_changed", "user.deleted"} <= set(actions)


async def test_invitations_are_sent_listed_and_cancelled(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        sent = await b.post(
            base + "/users/invite",
            data={
                "csrf_token": csrf,
                "email": "New.Agent@example.com",
                "name": "New",
                "role": "agent",
            },
        )
        assert notice_of(sent) == "Invitation sent to new.agent@example.com."
        page = await follow(b, sent)
        assert "Pending invitations" in page.text and "new.agent@example.com" in page.text
        again = await b.post(
            base + "/users/invite",
            data={"csrf_token": csrf, "email": world.admin.email, "role": "agent"},
        )
        assert again.status_code == 409 and "already has an account" in error_of(again)
        bad = await b.post(base + "/users/invite", data={"csrf_token": csrf, "email": "nope"})
        assert bad.status_code == 422

        match = re.search(r"/users/invitations/([0-9a-f-]{36})/cancel", page.text)
        assert match
        cancelled = await b.post(
            base + f"/users/invitations/{match.group(1)}/cancel", data={"csrf_token": csrf}
        )
        assert notice_of(cancelled) == "The invitation to new.agent@example.com was cancelled."
        assert "Pending invitations" not in (await follow(b, cancelled)).text
        gone = await b.post(
            base + f"/users/invitations/{match.group(1)}/cancel", data={"csrf_token": csrf}
        )
        assert gone.status_code == 404


async def test_user_list_filters_by_role_and_pages(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    await tenants.add_user(world, role=Role.SUPERVISOR, name="Sam Supervisor")
    for n in range(51):
        await tenants.add_user(world, name=f"Agent {n:02d}")
    async with browser(client, world) as (b, _):
        base = f"/t/{world.slug}/admin/users"
        first = await b.get(base + "?role=agent")
        assert "Agent 00" in first.text and "Sam Supervisor" not in first.text
        assert "Page 1 of 2" in first.text and "Agent 50" not in first.text
        second = await b.get(base + "?role=agent&page=2")
        assert "Agent 50" in second.text
        assert (await b.get(base + "?role=emperor&page=x")).status_code == 200


# --- teams, sites, skills --------------------------------------------------------------


async def test_teams_are_managed(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    ann = await tenants.add_user(world, name="Ann")
    bob = await tenants.add_user(world, name="Bob")
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        created = await b.post(
            base + "/teams",
            data={"csrf_token": csrf, "name": "Back office", "description": "Refunds"},
        )
        assert notice_of(created) == "Team Back office created."
        team_path = urlsplit(created.headers["location"]).path
        duplicate = await b.post(base + "/teams", data={"csrf_token": csrf, "name": "back office"})
        assert duplicate.status_code == 409 and "already exists" in error_of(duplicate)
        blank = await b.post(base + "/teams", data={"csrf_token": csrf, "name": "  "})
        assert blank.status_code == 422

        members = await b.post(
            team_path + "/members", data={"csrf_token": csrf, "user_id": [str(ann.id), str(bob.id)]}
        )
        assert notice_of(members) == "Back office now has 2 members."
        page = await follow(b, members)
        assert page.text.count("checked") >= 2
        stranger = await b.post(
            team_path + "/members",
            data={"csrf_token": csrf, "user_id": [str(ann.id), str(uuid.uuid4())]},
        )
        assert stranger.status_code == 422 and "Unknown user" in error_of(stranger)
        garbage = await b.post(
            team_path + "/members", data={"csrf_token": csrf, "user_id": "garbage"}
        )
        assert garbage.status_code == 422
        h = await bearer(client, world)
        team_id = team_path.rsplit("/", 1)[1]
        team = (await client.get(f"/api/v1/teams/{team_id}", headers=h)).json()
        assert len(team["member_ids"]) == 2  # the refused changes left the members alone

        renamed = await b.post(
            team_path, data={"csrf_token": csrf, "name": "Refunds", "description": ""}
        )
        assert notice_of(renamed) == "Team Refunds saved."
        deleted = await b.post(team_path + "/delete", data={"csrf_token": csrf})
        assert notice_of(deleted) == "Team Refunds deleted."
        assert (await b.get(team_path)).status_code == 404


async def test_sites_and_skills_are_managed(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    ann = await tenants.add_user(world, name="Ann")
    bob = await tenants.add_user(world, name="Bob")
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        site = await b.post(
            base + "/sites",
            data={"csrf_token": csrf, "name": "Lyon", "city": "Lyon", "timezone": ""},
        )
        assert notice_of(site) == "Site Lyon created."
        zone = await b.post(
            base + "/sites", data={"csrf_token": csrf, "name": "Mars", "timezone": "Mars/Olympus"}
        )
        assert zone.status_code == 422 and "time zone" in error_of(zone)
        h = await bearer(client, world)
        site_id = (await client.get("/api/v1/sites", headers=h)).json()["items"][0]["id"]
        edited = await b.post(
            f"{base}/sites/{site_id}",
            data={
                "csrf_token": csrf,
                "name": "Lyon Part-Dieu",
                "city": "Lyon",
                "timezone": "Europe/Paris",
            },
        )
        assert notice_of(edited) == "Site Lyon Part-Dieu saved."
        assert "Europe/Paris" in (await follow(b, edited)).text

        for name in ("Billing", "German"):
            made = await b.post(
                base + "/skills",
                data={"csrf_token": csrf, "name": name, "description": f"{name} requests"},
            )
            assert notice_of(made) == f"Skill {name} created."
        skills = (await client.get("/api/v1/skills", headers=h)).json()["items"]
        billing, german = skills[0]["id"], skills[1]["id"]
        grid = await b.post(
            base + "/skills/levels",
            data={
                "csrf_token": csrf,
                "user": [str(ann.id), str(bob.id)],
                f"level:{ann.id}:{billing}": "5",
                f"level:{ann.id}:{german}": "2",
                f"level:{bob.id}:{german}": "3",
            },
        )
        assert notice_of(grid) == "Skill levels saved (2 people changed)."
        grid_page = await follow(b, grid)
        assert grid_page.text.count("selected") == 3
        ann_skills = (await client.get(f"/api/v1/users/{ann.id}/skills", headers=h)).json()
        assert {(s["name"], s["level"]) for s in ann_skills["skills"]} == {
            ("Billing", 5),
            ("German", 2),
        }
        refused = await b.post(
            base + "/skills/levels",
            data={
                "csrf_token": csrf,
                "user": [str(ann.id), str(bob.id)],
                f"level:{ann.id}:{billing}": "1",
                f"level:{bob.id}:{german}": "0",
            },
        )
        assert refused.status_code == 422
        ann_after = (await client.get(f"/api/v1/users/{ann.id}/skills", headers=h)).json()
        assert ann_after == ann_skills  # all or nothing

        renamed = await b.post(
            f"{base}/skills/{german}",
            data={"csrf_token": csrf, "name": "billing", "description": ""},
        )
        assert renamed.status_code == 409
        deleted = await b.post(f"{base}/skills/{billing}/delete", data={"csrf_token": csrf})
        assert notice_of(deleted) == "Skill Billing deleted."
        gone = await b.post(f"{base}/sites/{site_id}/delete", data={"csrf_token": csrf})
        assert notice_of(gone) == "Site Lyon Part-Dieu deleted."


# --- domains, hours, settings, keys ----------------------------------------------------


async def test_domains_hours_and_settings(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        h = await bearer(client, world)
        added = await b.post(
            base + "/domains", data={"csrf_token": csrf, "domain": "Shop.Example.com"}
        )
        assert notice_of(added) == "shop.example.com is allowed."
        bad = await b.post(
            base + "/domains", data={"csrf_token": csrf, "domain": "https://shop.example.com/"}
        )
        assert bad.status_code == 422 and "host name" in error_of(bad)
        again = await b.post(
            base + "/domains", data={"csrf_token": csrf, "domain": "shop.example.com"}
        )
        assert again.status_code == 409
        domain_id = (await client.get("/api/v1/domains", headers=h)).json()["items"][0]["id"]
        removed = await b.post(f"{base}/domains/{domain_id}/delete", data={"csrf_token": csrf})
        assert notice_of(removed) == "shop.example.com was removed."

        hours = await b.post(
            base + "/hours",
            data={
                "csrf_token": csrf,
                "d0_open1": "09:00",
                "d0_close1": "12:00",
                "d0_open2": "14:00",
                "d0_close2": "18:00",
                "d5_open1": "20:00",
                "d5_close1": "00:00",
                "d6_open1": "",
                "d6_close1": "",
            },
        )
        assert notice_of(hours) == "Opening hours saved."
        page = await follow(b, hours)
        assert 'value="14:00"' in page.text and 'name="d0_open3"' in page.text
        saved = (await client.get("/api/v1/business-hours", headers=h)).json()["intervals"]
        assert [(i["weekday"], i["opens"][:5], i["closes"][:5]) for i in saved] == [
            (0, "09:00", "12:00"),
            (0, "14:00", "18:00"),
            (5, "20:00", "00:00"),
        ]
        for form, reason in [
            ({"d2_open1": "18:00", "d2_close1": "09:00"}, "close after"),
            ({"d2_open1": "09:00"}, "both an opening and a closing"),
            ({"d2_open1": "9h", "d2_close1": "10:00"}, "09:30"),
            (
                {
                    "d2_open1": "09:00",
                    "d2_close1": "12:00",
                    "d2_open2": "11:00",
                    "d2_close2": "13:00",
                },
                "overlap",
            ),
        ]:
            refused = await b.post(base + "/hours", data={"csrf_token": csrf, **form})
            assert refused.status_code == 422 and reason in error_of(refused), form
        assert len((await client.get("/api/v1/business-hours", headers=h)).json()["intervals"]) == 3

        holiday = await b.post(
            base + "/hours/holidays",
            data={"csrf_token": csrf, "day": "2030-12-25", "name": "Christmas"},
        )
        assert notice_of(holiday) == "Christmas (2030-12-25) added."
        for form in (
            {"day": "2030-12-25", "name": "Again"},
            {"day": "soon", "name": "x"},
            {"day": "2030-12-26", "name": ""},
        ):
            refused = await b.post(base + "/hours/holidays", data={"csrf_token": csrf, **form})
            assert 400 <= refused.status_code < 500, form
        holiday_id = (await client.get("/api/v1/holidays", headers=h)).json()["items"][0]["id"]
        removed = await b.post(
            f"{base}/hours/holidays/{holiday_id}/delete", data={"csrf_token": csrf}
        )
        assert notice_of(removed) == "Christmas (2030-12-25) removed."

        settings = await b.post(
            base + "/settings",
            data={
                "csrf_token": csrf,
                "name": "Acme",
                "timezone": "America/Montreal",
                "languages": "fr, en de",
                "default_language": "en",
            },
        )
        assert notice_of(settings) == "Settings saved."
        tenant = (await client.get("/api/v1/tenant", headers=h)).json()
        assert tenant["languages"] == ["fr", "en", "de"] and tenant["name"] == "Acme"
        for form, status in [
            ({"timezone": "Mars/Olympus"}, 422),
            ({"default_language": "it"}, 422),
            ({"languages": "français"}, 422),
            ({"name": ""}, 422),
        ]:
            refused = await b.post(
                base + "/settings",
                data={
                    "csrf_token": csrf,
                    "name": "Acme",
                    "timezone": "Europe/Paris",
                    "languages": "fr, en",
                    "default_language": "fr",
                    **form,
                },
            )
            assert refused.status_code == status, form
        assert (await client.get("/api/v1/tenant", headers=h)).json()["timezone"] == (
            "America/Montreal"
        )
        sso = await b.post(
            base + "/settings/sso",
            data={
                "csrf_token": csrf,
                "issuer": "not a url",
                "client_id": "x",
                "client_secret": "y",
            },
        )
        assert sso.status_code == 422


async def test_api_key_is_shown_once_and_revoked(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        page = await b.post(
            base + "/api-keys",
            data={"csrf_token": csrf, "name": "Sync", "scope": ["tenant:read", "users:read"]},
        )
        assert page.status_code == 201
        match = re.search(r'id="new-api-key">(plx_[^<]+)<', page.text)
        assert match and 'data-copy="#new-api-key"' in page.text
        key = match.group(1)
        listing = await b.get(base + "/api-keys")
        assert key not in listing.text and "Sync" in listing.text
        as_key = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/api/v1/users", headers=as_key)).status_code == 200
        assert (
            await client.post("/api/v1/skills", headers=as_key, json={"name": "x"})
        ).status_code == 403

        for form in (
            {"name": "No scope"},
            {"name": "", "scope": "tenant:read"},
            {"name": "Bad", "scope": "root"},
        ):
            refused = await b.post(base + "/api-keys", data={"csrf_token": csrf, **form})
            assert refused.status_code == 422, form
            assert "new-api-key" not in refused.text

        key_id = re.search(r"/api-keys/([0-9a-f-]{36})/revoke", listing.text)
        assert key_id
        revoked = await b.post(
            f"{base}/api-keys/{key_id.group(1)}/revoke", data={"csrf_token": csrf}
        )
        assert notice_of(revoked) == "The key Sync was revoked."
        assert "revoked" in (await follow(b, revoked)).text
        assert (await client.get("/api/v1/users", headers=as_key)).status_code == 401


# --- protections -----------------------------------------------------------------------


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        for data in (
            {"name": "Forged"},
            {"name": "Forged", "csrf_token": "0" * 64},
            {"name": "Forged", "csrf_token": ""},
        ):
            forged = await b.post(base + "/skills", data=data)
            assert forged.status_code == 403, data
        h = await bearer(client, world)
        assert (await client.get("/api/v1/skills", headers=h)).json()["total"] == 0
        # The token of another session does not work either.
        async with browser(client, world) as (_, other_csrf):
            assert other_csrf != csrf
            assert (
                await b.post(base + "/skills", data={"csrf_token": other_csrf, "name": "Forged"})
            ).status_code == 403
        assert (
            await b.post(base + "/skills", data={"csrf_token": csrf, "name": "Real"})
        ).status_code == 303


async def test_notices_cannot_be_forged(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    async with browser(client, world) as (b, csrf):
        base = f"/t/{world.slug}/admin"
        made = await b.post(base + "/skills", data={"csrf_token": csrf, "name": "Billing"})
        location = made.headers["location"]
        assert "Skill Billing created." in (await b.get(location)).text
        forged = location.replace("Billing", "Call+0800+now")
        assert "Call 0800 now" not in (await b.get(forged)).text
        unsigned = await b.get(base + "/skills?notice=Your+account+is+locked")
        assert "Your account is locked" not in unsigned.text


async def test_roles_and_tenants_are_enforced(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world, other = await tenants.create(), await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR, name="Sue")
    h_other = await bearer(client, other)
    their_team = (
        await client.post("/api/v1/teams", headers=h_other, json={"name": "Theirs"})
    ).json()
    their_user = await tenants.add_user(other)
    base = f"/t/{world.slug}/admin"
    admin_only = [
        "/sites",
        "/skills",
        "/skills/levels",
        "/domains",
        "/hours",
        "/settings",
        "/api-keys",
    ]

    async with browser(client, world, agent) as (b, csrf):
        for path in ["/", "/users", "/teams", f"/users/{agent.id}", *admin_only]:
            assert (await b.get(base + path)).status_code == 403, path
        refused = await b.post(base + "/skills", data={"csrf_token": csrf, "name": "x"})
        assert refused.status_code == 403

    async with browser(client, world, supervisor) as (b, csrf):
        for path in ("/", "/users", "/teams", f"/users/{agent.id}"):
            page = await b.get(base + path)
            assert page.status_code == 200, path
            assert "<select" not in page.text or path == "/users", path  # read-only
        users_page = await b.get(base + "/users")
        assert "Send invitation" not in users_page.text
        nav = re.search(r'<nav class="mainnav">(.*?)</nav>', users_page.text, re.S)
        assert nav and "Sites" not in nav.group(1) and "Teams" in nav.group(1)
        for path in admin_only:
            assert (await b.get(base + path)).status_code == 403, path
        for path, data in [
            ("/teams", {"name": "x"}),
            (f"/users/{agent.id}/delete", {}),
            ("/users/invite", {"email": "x@example.com"}),
        ]:
            assert (
                await b.post(base + path, data={"csrf_token": csrf, **data})
            ).status_code == 403, path

    async with browser(client, world) as (b, csrf):
        # Another workspace's console sends to its own sign-in page.
        cross = await b.get(f"/t/{other.slug}/admin/", follow_redirects=False)
        assert cross.status_code == 303 and cross.headers["location"].startswith(
            f"/t/{other.slug}/login"
        )
        # Another tenant's ids are not found here, and nothing of theirs changes.
        for method, path, data in [
            ("GET", f"/teams/{their_team['id']}", None),
            ("POST", f"/teams/{their_team['id']}/delete", {}),
            ("POST", f"/teams/{their_team['id']}", {"name": "Hijacked"}),
            ("POST", f"/teams/{their_team['id']}/members", {"user_id": str(agent.id)}),
            ("GET", f"/users/{their_user.id}", None),
            ("POST", f"/users/{their_user.id}", {"name": "x", "role": "admin"}),
            ("POST", f"/users/{their_user.id}/skills", {}),
            ("POST", f"/users/{their_user.id}/delete", {}),
        ]:
            form: dict[str, Any] | None = None if data is None else {"csrf_token": csrf, **data}
            response = await b.request(method, base + path, data=form)
            assert response.status_code == 404, (method, path)
        team = await client.get(f"/api/v1/teams/{their_team['id']}", headers=h_other)
        assert team.json()["name"] == "Theirs"

    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", headers=HTML
    ) as anonymous:
        page = await anonymous.get(base + "/users")
        assert page.status_code == 303 and "/login?next=" in page.headers["location"]
