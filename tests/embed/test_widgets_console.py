"""The Widgets section of the tenant admin console, as a browser uses it: the list, the
new-widget form (secret shown once), the snippet to copy, edits with the tenant's queues,
refusals re-rendered with their reason, rotation and deletion, CSRF and roles."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx

from plateaux.tenants.models import Role, User
from tests.embed.embed_helpers import make_queue
from tests.support.console_pages import csrf_from, sign_in
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld, bearer

HTML = {"Accept": "text/html"}


@asynccontextmanager
async def browser(client: httpx.AsyncClient, world: TenantWorld, user: User | None = None
                  ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver",
                                 headers=HTML) as b:
        signed = await sign_in(b, world.slug, (user or world.admin).email, PASSWORD)
        assert signed.status_code == 303, signed.text
        page = await b.get(f"/t/{world.slug}/admin/widgets")
        yield b, csrf_from(page.text) if page.status_code == 200 else ""


def form(csrf: str, **fields: str) -> dict[str, str]:
    base = {"csrf_token": csrf, "name": "Main website", "allowed_domains": "shop.example.com",
            "color": "#2454d6", "position": "bottom-right", "default_language": "fr",
            "greeting_fr": "Bonjour !", "greeting_en": "Hello!", "button_chat": "on",
            "target_chat": ""}
    base.update(fields)
    return base


async def test_create_a_widget_and_copy_its_snippet(client: httpx.AsyncClient,
                                                    tenants: TenantFactory) -> None:
    world = await tenants.create()
    queue_id = await make_queue(client, world)
    async with browser(client, world) as (b, csrf):
        listing = await b.get(f"/t/{world.slug}/admin/widgets")
        assert listing.status_code == 200
        assert "No widgets yet" in listing.text
        assert f'href="/t/{world.slug}/admin/widgets"' in listing.text  # in the navigation
        # An enabled chat that feeds nothing is refused, with the reason beside the form.
        nowhere = await b.post(f"/t/{world.slug}/admin/widgets",
                               data={**form(csrf), "languages": ["fr", "en"]})
        assert nowhere.status_code == 422
        assert "needs a workflow or a queue" in nowhere.text
        data: dict[str, str | list[str]] = {**form(csrf, target_chat=f"queue:{queue_id}"),
                                            "languages": ["fr", "en"]}
        created = await b.post(f"/t/{world.slug}/admin/widgets", data=data)
        assert created.status_code == 201, created.text[:3000]
        page = html.unescape(created.text)
        secret = re.search(r'id="widget-secret">(whsec_[^<]+)<', page)
        assert secret, "the new secret is shown"
        snippet = re.search(r'id="widget-snippet">(.*?)</pre>', page, re.S)
        assert snippet
        key = re.search(r'data-site="(pk_[0-9a-f]+_[0-9a-f]+)"', snippet.group(1))
        assert key
        assert snippet.group(1).startswith('<script async src="http')
        assert snippet.group(1).endswith(
            f'/embed/v1/loader.js" data-site="{key.group(1)}"></script>')
        # The strict console policy holds: no inline script on the page.
        assert "script-src 'self'" in created.headers["content-security-policy"]
        assert "<script>" not in created.text
        widgets = (await client.get("/api/v1/widgets", headers=await bearer(client, world))
                   ).json()["items"]
        assert [w["public_key"] for w in widgets] == [key.group(1)]
        assert widgets[0]["languages"] == ["fr", "en"]
        assert widgets[0]["greeting"] == {"fr": "Bonjour !", "en": "Hello!"}
        # Shown once: the widget's page does not show it again.
        detail = await b.get(f"/t/{world.slug}/admin/widgets/{widgets[0]['id']}")
        assert secret.group(1) not in detail.text
        assert "widget-snippet" in detail.text


async def test_edit_refuse_rotate_delete(client: httpx.AsyncClient,
                                         tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    queue = (await client.post("/api/v1/routing/queues", headers=h,
                               json={"name": "Support"})).json()
    widget = (await client.post("/api/v1/widgets", headers=h, json={"name": "Site"})).json()
    url = f"/t/{world.slug}/admin/widgets/{widget['id']}"
    async with browser(client, world) as (b, csrf):
        page = await b.get(url)
        assert "Support" in page.text  # the tenant's queue is offered for the buttons
        saved = await b.post(url, data=form(csrf, name="Renamed", languages="en",
                                            default_language="en",
                                            target_chat=f"queue:{queue['id']}",
                                            button_email="on"))
        assert saved.status_code == 303, saved.text[:2000]
        assert "saved" in parse_qs(urlsplit(saved.headers["location"]).query)["notice"][0]
        stored = (await client.get(f"/api/v1/widgets/{widget['id']}", headers=h)).json()
        assert stored["name"] == "Renamed"
        assert stored["buttons"]["chat"]["queue_id"] == queue["id"]
        assert stored["buttons"]["email"]["enabled"] is True

        refused = await b.post(url, data=form(csrf, allowed_domains="https://bad/"))
        assert refused.status_code == 422
        assert "host name" in html.unescape(refused.text)
        assert (await client.get(f"/api/v1/widgets/{widget['id']}", headers=h)
                ).json()["allowed_domains"] == ["shop.example.com"]

        rotated = await b.post(f"{url}/rotate-secret", data={"csrf_token": csrf})
        assert rotated.status_code == 200
        assert re.search(r'id="widget-secret">whsec_', rotated.text)

        no_csrf = await b.post(f"{url}/delete", data={})
        assert no_csrf.status_code == 403
        deleted = await b.post(f"{url}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 303
        assert (await client.get(f"/api/v1/widgets/{widget['id']}", headers=h)
                ).status_code == 404


async def test_only_admins_see_the_section(client: httpx.AsyncClient,
                                          tenants: TenantFactory) -> None:
    world = await tenants.create()
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    async with browser(client, world, supervisor) as (b, _):
        page = await b.get(f"/t/{world.slug}/admin/widgets")
        assert page.status_code == 403
