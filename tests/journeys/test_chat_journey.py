"""The whole chat journey in Chromium: a plain page on another origin embeds the snippet,
the visitor starts a chat, the agent signed into the console accepts the offer, sees the
visitor's page and replies, the visitor sees the reply; the visitor's network drops, the
agent writes on, the network comes back and every message arrives once; the agent then
pushes a page and the visitor's browser opens it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import expect

from plateaux.tenants.models import Role
from tests.embed.test_widget_browser import PAGE, page_server
from tests.support.browser import chromium, sign_in
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer, own_address

pytestmark = pytest.mark.browser
API = "/api/v1"


async def test_visitor_and_agent_chat_through_the_snippet_and_survive_a_network_drop(
    live_server: LiveServer, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT, name="Ann Agent")
    async with httpx.AsyncClient(base_url=live_server.url, headers=own_address()) as api:
        admin_h = await bearer(api, world)
        queue = await api.post(f"{API}/routing/queues", headers=admin_h, json={
            "name": f"Boutique {uuid.uuid4().hex[:4]}", "follow_business_hours": False,
            "accept_timeout_seconds": 120})
        assert queue.status_code == 201, queue.text
        queue_id = queue.json()["id"]
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin_h,
                                json={"queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text
        widget = await api.post(f"{API}/widgets", headers=admin_h, json={
            "name": "Boutique", "allowed_domains": ["localhost"],
            "greeting": {"fr": "Bonjour !", "en": "Hello!"},
            "buttons": {"chat": {"enabled": True, "queue_id": queue_id}}})
        assert widget.status_code == 201, widget.text
        snippet = widget.json()["snippet"]
        assert live_server.url in snippet

        with page_server(PAGE.format(snippet=snippet)) as port:
            async with chromium() as browser:
                # The agent, signed in and available.
                desk_context = await browser.new_context(
                    base_url=live_server.url, viewport={"width": 1400, "height": 900},
                    extra_http_headers=own_address())
                desk = await desk_context.new_page()
                await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
                await expect(desk.locator("#connection")).to_have_attribute(
                    "data-state", "open")
                await desk.select_option("#presence", "available")
                await expect(desk.locator("body")).to_have_attribute(
                    "data-presence", "available")

                # The visitor, on the tenant's own site (another origin).
                visitor_context = await browser.new_context(
                    viewport={"width": 1280, "height": 900})
                shop = await visitor_context.new_page()
                site = f"http://localhost:{port}"
                await shop.goto(f"{site}/commande")
                launcher = shop.locator("button[data-plateaux=launcher]")
                await launcher.wait_for(state="visible")
                await launcher.click()
                frame = shop.frame_locator("iframe[data-plateaux=frame]")
                await frame.locator("[data-action=chat]").click()
                composer = frame.locator(".plx-composer textarea")
                await composer.fill("Bonjour, où en est ma commande ?")
                await composer.press("Enter")

                # The offer reaches the agent, who accepts it.
                offer = desk.locator(".offer").first
                await expect(offer).to_be_visible(timeout=20_000)
                await offer.locator("button.accept").click()
                chat = desk.locator(".chat.active, .chat").first
                await expect(chat).to_be_visible()
                await expect(chat.locator(".msg.from-visitor")).to_contain_text(
                    "où en est ma commande")
                # The visitor's page, live in the customer panel.
                await expect(chat.locator(".c-page-link")).to_have_attribute(
                    "href", f"{site}/commande")

                reply = chat.locator(".composer textarea")
                await reply.fill("Elle part aujourd'hui.")
                await reply.press("Enter")
                theirs = frame.locator(".plx-theirs")
                await expect(theirs.filter(has_text="Elle part aujourd'hui.")).to_have_count(1)

                # The visitor's network drops; the agent writes on.
                await visitor_context.set_offline(True)
                for text in ("Numéro de suivi : 42.", "Livraison demain."):
                    await reply.fill(text)
                    await reply.press("Enter")
                    await expect(chat.locator(".msg.from-agent").filter(
                        has_text=text)).to_have_count(1)
                # Nothing reaches the visitor while the network is down.
                await shop.wait_for_timeout(1000)
                assert await theirs.filter(has_text="Livraison demain.").count() == 0
                await visitor_context.set_offline(False)
                for text in ("Elle part aujourd'hui.", "Numéro de suivi : 42.",
                             "Livraison demain."):
                    await expect(theirs.filter(has_text=text)).to_have_count(
                        1, timeout=30_000)
                # Every message once, in order, on both sides.
                seen = await theirs.locator(".plx-text").all_text_contents()
                assert seen == [
                    "Elle part aujourd'hui.", "Numéro de suivi : 42.", "Livraison demain."]
                assert await theirs.locator(".plx-author").first.text_content() == "Ann Agent"
                numbers = [int(n) for n in await theirs.evaluate_all(
                    "items => items.map(i => i.getAttribute('data-seq'))")]
                assert numbers == sorted(set(numbers))
                # "Look at this page": the agent shows the visitor where to follow the order.
                push = chat.locator(".push-page")
                await push.locator("input[name=url]").fill(f"{site}/suivi")
                await push.locator("button[type=submit]").click()
                await shop.wait_for_url(f"{site}/suivi", timeout=20_000)
                await desk_context.close()
                await visitor_context.close()
