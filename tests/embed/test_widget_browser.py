"""The snippet in a real browser: a plain page served from another origin than the
platform embeds it; the launcher appears, the iframe loads in the page's language, pages
(also single-page navigation) are reported, a chat is started and its message stored; a
page on a domain the site does not allow cannot load the widget (frame-ancestors)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlmodel import select

from plateaux.channels.chat.models import Conversation
from plateaux.embed.models import PageView, Visitor
from plateaux.platform.services import Services
from tests.support.browser import chromium
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer
from tests.support.waiting import until

pytestmark = pytest.mark.browser


PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Boutique</title></head>
<body><h1>Boutique</h1>
{snippet}
</body></html>"""


@contextmanager
def page_server(html: str) -> Iterator[int]:
    """A plain web page on its own loopback port: the tenant's website."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def in_browser(check: Any) -> Any:
    """Wait for something the browser does (its round trips take longer than the API's)."""
    return await until(check, timeout=20.0, every=0.1)


async def test_the_snippet_on_allowed_and_refused_pages(
        live_server: LiveServer, client: httpx.AsyncClient, tenants: TenantFactory,
        services: Services) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    queue = (await client.post("/api/v1/routing/queues", headers=h,
                               json={"name": "Boutique", "follow_business_hours": False})
             ).json()
    created = await client.post("/api/v1/widgets", headers=h, json={
        "name": "Boutique", "allowed_domains": ["localhost"],
        "greeting": {"fr": "Bonjour, une question ?", "en": "Hello, a question?"},
        "theme": {"color": "#aa3300", "position": "bottom-left"},
        "buttons": {"chat": {"enabled": True, "queue_id": queue["id"]},
                    "email": {"enabled": True}}})
    assert created.status_code == 201, created.text
    widget = created.json()
    snippet = widget["snippet"].replace("http://testserver", live_server.url)
    assert live_server.url in snippet

    async def visitors() -> list[Visitor]:
        async with services.unit_of_work(tenant_id=world.tenant.id) as session:
            rows = await session.scalars(select(Visitor).where(
                Visitor.tenant_id == world.tenant.id))
            return list(rows.all())

    async def pages_of(visitor_id: Any) -> list[str]:
        async with services.unit_of_work(tenant_id=world.tenant.id) as session:
            rows = await session.scalars(select(PageView).where(
                PageView.tenant_id == world.tenant.id, PageView.visitor_id == visitor_id))
            return [p.url for p in rows.all()]

    with page_server(PAGE.format(snippet=snippet)) as port:
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # The tenant's page on an allowed origin (localhost, another port than the
            # platform's 127.0.0.1): the launcher appears once the iframe is ready.
            site = f"http://localhost:{port}"
            await page.goto(f"{site}/produits")
            launcher = page.locator("button[data-plateaux=launcher]")
            await launcher.wait_for(state="visible")
            assert await launcher.get_attribute("aria-label") == "Ouvrir la discussion"
            frame = page.frame_locator("iframe[data-plateaux=frame]")
            await launcher.click()
            await frame.locator(".plx-greeting").wait_for(state="visible")
            assert await frame.locator(".plx-greeting").text_content() == \
                "Bonjour, une question ?"
            assert await frame.locator("[data-action=chat]").text_content() == \
                "Démarrer une discussion"
            box = await page.locator("iframe[data-plateaux=frame]").bounding_box()
            assert box is not None and box["x"] < 100  # bottom-left, as configured

            found = await in_browser(visitors)
            assert len(found) == 1 and found[0].language == "fr"
            visitor = found[0]
            assert await pages_of(visitor.id) == [f"{site}/produits"]

            # Single-page navigation is reported too.
            await page.evaluate("history.pushState({}, '', '/panier'); document.title = 'Panier'")
            await in_browser(lambda: _contains(pages_of(visitor.id), f"{site}/panier"))
            await page.evaluate("location.hash = 'livraison'")
            await in_browser(lambda: _contains(pages_of(visitor.id), f"{site}/panier#livraison"))

            # A chat: the visitor writes, the message is stored with its number.
            await frame.locator("[data-action=chat]").click()
            composer = frame.locator(".plx-composer textarea")
            await composer.fill("Bonjour, où en est ma commande ?")
            await composer.press("Enter")
            await frame.locator(".plx-mine").first.wait_for(state="visible")
            iframe = page.frame(url=lambda u: "/frame" in u)
            assert iframe is not None

            async def conversation() -> Any:
                async with services.unit_of_work(tenant_id=world.tenant.id) as session:
                    return (await session.scalars(select(Conversation).where(
                        Conversation.tenant_id == world.tenant.id,
                        Conversation.visitor_id == visitor.id))).first()

            conversation_id = (await in_browser(conversation)).id

            async def stored() -> list[dict[str, Any]]:
                response = await client.get(
                    f"/api/v1/conversations/{conversation_id}/messages", headers=h)
                assert response.status_code == 200, response.text
                body = response.json()
                items = body["items"] if isinstance(body, dict) else body
                return [m for m in items if m.get("author_type") == "visitor"]

            messages = await in_browser(stored)
            assert messages[0]["text"] == "Bonjour, où en est ma commande ?"
            assert messages[0]["seq"] >= 1
            # The widget saw its own message come back (acknowledged, numbered).
            await in_browser(lambda: iframe.evaluate(
                "document.querySelector('.plx-mine').getAttribute('data-seq') !== null"))

            # The returning visitor is recognised on the next visit.
            await page.goto(f"{site}/encore")
            await launcher.wait_for(state="visible")
            await in_browser(lambda: _contains(pages_of(visitor.id), f"{site}/encore"))
            assert len(await visitors()) == 1
            assert errors == []

            # The same snippet on an origin the site does not allow: the browser refuses
            # to render the frame, so the widget never starts and no launcher is drawn.
            refused = await context.new_page()
            blocked: list[str] = []
            refused.on("console", lambda m: blocked.append(m.text))
            frames: list[Any] = []
            refused.on("response", lambda r: frames.append(r) if "/frame" in r.url else None)
            await refused.goto(f"http://127.0.0.1:{port}/produits")
            await refused.wait_for_function(
                "document.querySelector('iframe[data-plateaux=frame]') !== null")
            await in_browser(lambda: _async(any("frame-ancestors" in m for m in blocked)))
            assert frames, "the frame was requested"
            policy = (await frames[0].all_headers())["content-security-policy"]
            assert "frame-ancestors https://localhost http://localhost:*" in policy
            child = refused.frame(url=lambda u: "/frame" in u)
            has_app = False
            if child is not None:
                try:
                    has_app = await child.evaluate(
                        "document.getElementById('plx-app') !== null")
                except Exception:
                    has_app = False
            assert not has_app
            assert await refused.locator("button[data-plateaux=launcher]").count() == 0
            assert len(await visitors()) == 1
            await context.close()


async def _contains(items: Any, wanted: str) -> bool:
    return wanted in await items


async def _async(value: bool) -> bool:
    return value
