"""The public visitor endpoints: meeting and recognising visitors, signed identities,
pages viewed (with the live event), origin checks and rate limits."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from plateaux.embed.guard import PAGES, VISITORS
from plateaux.embed.identity import sign_identity
from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.embed.embed_helpers import (
    API,
    make_queue,
    make_widget,
    open_visitor,
    page,
    problem,
)
from tests.support.factories import TenantFactory, bearer

SHOP = {"Origin": "https://shop.example.com"}


async def test_a_new_visitor_gets_a_token_and_the_widget(client: httpx.AsyncClient,
                                                         tenants: TenantFactory) -> None:
    world = await tenants.create()
    queue_id = await make_queue(client, world)
    widget, _ = await make_widget(client, world, greeting={"fr": "Bonjour !"},
                                  buttons={"chat": {"enabled": True, "queue_id": queue_id},
                                           "email": {"enabled": True}})
    out = await open_visitor(client, widget["public_key"], language="fr-CA")
    assert len(out["visitor_token"]) >= 40
    assert out["language"] == "fr"
    assert out["verified"] is False
    assert out["widget"]["greeting"] == {"fr": "Bonjour !"}
    assert out["widget"]["buttons"] == ["chat", "email"]
    assert out["widget"]["languages"] == ["fr", "en"]
    assert set(out["availability"]) == {"open", "agents_available", "estimated_wait_seconds"}


async def test_a_returning_visitor_is_recognised(client: httpx.AsyncClient,
                                                 tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world)
    key = widget["public_key"]
    first = await open_visitor(client, key)
    again = await open_visitor(client, key, visitor_token=first["visitor_token"])
    assert again["visitor_id"] == first["visitor_id"]
    assert again["visitor_token"] == first["visitor_token"]
    # A token nobody issued is not adopted: the visitor gets a fresh one.
    made_up = await open_visitor(client, key, visitor_token="made-up-token")
    assert made_up["visitor_id"] != first["visitor_id"]
    assert made_up["visitor_token"] != "made-up-token"
    # Nor is another site's visitor.
    other, _ = await make_widget(client, world, name="Other site")
    elsewhere = await open_visitor(client, other["public_key"],
                                   visitor_token=first["visitor_token"])
    assert elsewhere["visitor_id"] != first["visitor_id"]


async def test_a_signed_identity_is_believed(client: httpx.AsyncClient,
                                             tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world)
    token = sign_identity(widget["secret"], {"sub": "cust-42", "email": "ada@example.com",
                                             "name": "Ada", "exp": int(time.time()) + 300})
    out = await open_visitor(client, widget["public_key"], identity=token)
    assert out["verified"] is True
    assert out["name"] == "Ada"
    visitor = (await client.get(f"{API}/visitors/{out['visitor_id']}", headers=h)).json()
    assert visitor["external_id"] == "cust-42"
    assert visitor["email"] == "ada@example.com"
    assert visitor["verified"] is True


async def test_expired_forged_or_unsigned_identities_are_ignored(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world)
    claims = {"sub": "cust-42", "email": "ada@example.com", "name": "Ada"}
    now = int(time.time())
    expired = sign_identity(widget["secret"], {**claims, "exp": now - 3600})
    no_expiry = sign_identity(widget["secret"], claims)
    forged = sign_identity("whsec_not-the-site-secret-at-all-0123456789", {**claims,
                                                                            "exp": now + 300})
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjdXN0LTQyIiwiZXhwIjo0MTAyNDQ0ODAwfQ."
    for token in (expired, no_expiry, forged, unsigned, "garbage"):
        out = await open_visitor(client, widget["public_key"], identity=token)
        assert out["verified"] is False, token
        visitor = (await client.get(f"{API}/visitors/{out['visitor_id']}", headers=h)).json()
        assert visitor["external_id"] is None
        assert visitor["email"] is None
    # After rotation, tokens signed with the old secret are ignored too.
    valid = sign_identity(widget["secret"], {**claims, "exp": now + 300})
    await client.post(f"{API}/widgets/{widget['id']}/rotate-secret", headers=h)
    assert (await open_visitor(client, widget["public_key"], identity=valid))["verified"] is False


async def test_pages_are_recorded_and_published(client: httpx.AsyncClient,
                                                tenants: TenantFactory,
                                                services: Services) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world)
    key = widget["public_key"]
    out = await open_visitor(client, key)
    headers = {**SHOP, "X-Visitor-Token": out["visitor_token"]}
    audience = f"visitor:{out['visitor_id']}"
    async with services.bus.subscribe(world.tenant.id, [audience]) as subscription:
        response = await client.post(f"/embed/v1/sites/{key}/pages", headers=headers,
                                     json=page("https://shop.example.com/cart", "Cart"))
        assert response.status_code == 204, response.text
        event = await asyncio.wait_for(subscription.__anext__(), 10)
    assert event.type == "visitor.page"
    assert event.payload["url"] == "https://shop.example.com/cart"
    assert event.payload["title"] == "Cart"
    pages = (await client.get(f"{API}/visitors/{out['visitor_id']}/pages", headers=h)).json()
    assert [p["url"] for p in pages] == ["https://shop.example.com/cart",
                                         "https://shop.example.com/products"]
    visitor = (await client.get(f"{API}/visitors/{out['visitor_id']}", headers=h)).json()
    assert visitor["current_url"] == "https://shop.example.com/cart"
    # Not a web page, not a known visitor.
    problem(await client.post(f"/embed/v1/sites/{key}/pages", headers=headers,
                              json=page("javascript:alert(1)")), 422)
    problem(await client.post(f"/embed/v1/sites/{key}/pages",
                              headers={**SHOP, "X-Visitor-Token": "nope"}, json=page()), 401)


async def test_agents_push_a_page_to_the_visitor(client: httpx.AsyncClient,
                                                 tenants: TenantFactory,
                                                 services: Services) -> None:
    world, other = await tenants.create(), await tenants.create()
    widget, h = await make_widget(client, world)
    out = await open_visitor(client, widget["public_key"])
    audience = f"visitor:{out['visitor_id']}"
    url = f"{API}/visitors/{out['visitor_id']}/push-page"
    async with services.bus.subscribe(world.tenant.id, [audience]) as subscription:
        response = await client.post(url, headers=h,
                                     json={"url": "https://shop.example.com/help"})
        assert response.status_code == 204, response.text
        event = await asyncio.wait_for(subscription.__anext__(), 10)
    assert event.type == "visitor.push_page"
    assert event.payload["url"] == "https://shop.example.com/help"
    problem(await client.post(url, headers=h, json={"url": "javascript:alert(1)"}), 422)
    problem(await client.post(url, headers=await bearer(client, other),
                              json={"url": "https://shop.example.com/"}), 404)
    # An agent who is not talking with this visitor cannot steer their browser.
    stranger = await tenants.add_user(world, role=Role.AGENT)
    problem(await client.post(url, headers=await bearer(client, world, stranger.email),
                              json={"url": "https://shop.example.com/"}), 403)


async def test_unknown_sites_are_not_found(client: httpx.AsyncClient,
                                           tenants: TenantFactory) -> None:
    world = await tenants.create()
    for key in ("nope", f"pk_{world.tenant.id.hex}_000000", f"pk_{uuid.uuid4().hex}_abc"):
        problem(await client.post(f"/embed/v1/sites/{key}/visitors", json={}), 404)


async def test_requests_from_other_origins_are_refused(client: httpx.AsyncClient,
                                                       tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world,
                                  allowed_domains=["shop.example.com", "*.example.org"])
    key = widget["public_key"]
    url = f"/embed/v1/sites/{key}/visitors"
    for origin in ("https://evil.example.net", "http://shop.example.com",
                   "https://example.org", "https://shop.example.com.evil.net", "null"):
        problem(await client.post(url, headers={"Origin": origin}, json={}), 403)
    for origin in ("https://shop.example.com", "https://www.example.org",
                   "http://testserver"):  # the platform's own origin: the widget's iframe
        response = await client.post(url, headers={"Origin": origin}, json={})
        assert response.status_code == 200, (origin, response.text)
    out = response.json()
    problem(await client.post(f"/embed/v1/sites/{key}/pages",
                              headers={"Origin": "https://evil.example.net",
                                       "X-Visitor-Token": out["visitor_token"]},
                              json=page()), 403)


async def test_public_endpoints_are_rate_limited(client: httpx.AsyncClient,
                                                 tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world)
    key = widget["public_key"]
    for _ in range(VISITORS.count):
        assert (await client.post(f"/embed/v1/sites/{key}/visitors", json={})).status_code == 200
    limited = await client.post(f"/embed/v1/sites/{key}/visitors", json={})
    problem(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    # Per site: another site of the same client address is not affected.
    other, _ = await make_widget(client, world, name="Other")
    assert (await client.post(f"/embed/v1/sites/{other['public_key']}/visitors",
                              json={})).status_code == 200

    token = (await open_visitor(client, other["public_key"]))["visitor_token"]
    headers = {"X-Visitor-Token": token}
    for _ in range(PAGES.count):
        response = await client.post(f"/embed/v1/sites/{other['public_key']}/pages",
                                     headers=headers, json=page())
        assert response.status_code == 204
    problem(await client.post(f"/embed/v1/sites/{other['public_key']}/pages",
                              headers=headers, json=page()), 429)
