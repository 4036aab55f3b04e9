"""The agent and supervisor consoles in Chromium against a live server: an agent goes
available, an offer arrives with its countdown, the agent accepts it and its tab opens;
the supervisor sees the queue's figures and the agent busy."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from plateaux.tenants.models import Role
from tests.support.browser import chromium, sign_in
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer, own_address

pytestmark = pytest.mark.browser
API = "/api/v1"


async def test_an_agent_accepts_an_offer_and_the_supervisor_sees_it(
    live_server: LiveServer, tenants: TenantFactory, tmp_path: Path
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT, name="Ann Agent")
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR, name="Sam Supervisor")
    async with httpx.AsyncClient(base_url=live_server.url, headers=own_address()) as api:
        admin_h = await bearer(api, world)
        queue = await api.post(f"{API}/routing/queues", headers=admin_h, json={
            "name": f"Support {uuid.uuid4().hex[:4]}", "sla_threshold_seconds": 20,
            "accept_timeout_seconds": 120})
        assert queue.status_code == 201, queue.text
        queue_id = queue.json()["id"]
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin_h, json={
            "queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text

        async with chromium() as browser:
            agent_context = await browser.new_context(base_url=live_server.url,
                                                      extra_http_headers=own_address(),
                                                      viewport={"width": 1400, "height": 900})
            desk = await agent_context.new_page()
            await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
            await expect(desk.locator("#connection")).to_have_attribute("data-state", "open")
            await desk.select_option("#presence", "available")
            await expect(desk.locator("body")).to_have_attribute("data-presence", "available")

            created = await api.post(f"{API}/contacts", headers=admin_h, json={
                "channel": "chat", "queue_id": queue_id, "customer_key": "visitor-browser",
                "attributes": {"name": "Zoé Client"}})
            assert created.status_code == 201, created.text
            contact_id = created.json()["id"]

            offer = desk.locator(f".offer[data-contact='{contact_id}']")
            await expect(offer).to_be_visible()
            await expect(offer.locator(".offer-who")).to_have_text("Zoé Client")
            await expect(offer.locator(".countdown")).to_have_text(re.compile(r"^\d+ s$"))
            await desk.screenshot(path=str(tmp_path / "plateaux-agent-offer.png"))
            await offer.locator("button.accept").click()
            await expect(offer).to_have_count(0)
            tab = desk.locator(f".chat-tab[data-contact='{contact_id}']")
            await expect(tab).to_have_text("Zoé Client")
            await expect(desk.locator(f".chat[data-contact='{contact_id}']")).to_be_visible()
            await desk.screenshot(path=str(tmp_path / "plateaux-agent-chat.png"))
            stored = (await api.get(f"{API}/contacts/{contact_id}", headers=admin_h)).json()
            assert stored["status"] == "assigned" and stored["agent_id"] == str(agent.id)

            boss_context = await browser.new_context(base_url=live_server.url,
                                                     extra_http_headers=own_address(),
                                                     viewport={"width": 1400, "height": 900})
            boss = await boss_context.new_page()
            await sign_in(boss, world.slug, supervisor.email, f"/t/{world.slug}/supervisor/")
            await expect(boss.locator("#connection")).to_have_attribute("data-state", "open")
            row = boss.locator(f"#queues tr[data-queue='{queue_id}']")
            await expect(row.locator(".waiting")).to_have_text("0")
            await expect(row.locator(".answered")).to_have_text(re.compile(r"^1 \("))
            agent_row = boss.locator(f"#agents tr[data-agent='{agent.id}']")
            await expect(agent_row).to_have_attribute("data-activity", "busy")
            await expect(agent_row.locator("button.watch")).to_have_count(1)

            # Ann has room for more chats: away, she is not offered the next one, it waits.
            await desk.select_option("#presence", "away:lunch")
            await expect(desk.locator("body")).to_have_attribute("data-presence", "away")
            waiting = await api.post(f"{API}/contacts", headers=admin_h, json={
                "channel": "chat", "queue_id": queue_id})
            assert waiting.status_code == 201
            # The routing change reaches the supervisor through the live connection.
            await expect(row.locator(".waiting")).to_have_text("1")
            await boss.screenshot(path=str(tmp_path / "plateaux-supervisor.png"),
                                  full_page=True)
            await agent_context.close()
            await boss_context.close()
