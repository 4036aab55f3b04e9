"""The help desk in Chromium against a live server: an agent accepts a chat, opens a case
from it, follows the queue's call script, gets the knowledge base's suggestions for what
the customer wrote and sends one into the chat; later the SLA sweep finds the case's
resolution late, escalates it and the agent is told in the console, and the supervisor
sees the case among those needing attention."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from plateaux.helpdesk import tasks
from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.support.browser import chromium, sign_in
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer, own_address

pytestmark = pytest.mark.browser
API = "/api/v1"
DESK = "/api/v1/helpdesk"
ORIGIN = {"Origin": "https://shop.example.com"}


async def test_case_script_article_and_breach_in_the_console(
        live_server: LiveServer, tenants: TenantFactory, services: Services,
        tmp_path: Path) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, name="Ann Agent")
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR, name="Sam Supervisor")
    async with httpx.AsyncClient(base_url=live_server.url, headers=own_address()) as api:
        admin = await bearer(api, world)
        queue = await api.post(f"{API}/routing/queues", headers=admin, json={
            "name": f"Support {uuid.uuid4().hex[:4]}", "accept_timeout_seconds": 120})
        assert queue.status_code == 201, queue.text
        queue_id = queue.json()["id"]
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin, json={
            "queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text
        widget = await api.post(f"{API}/widgets", headers=admin, json={
            "name": "Shop", "allowed_domains": ["shop.example.com"],
            "buttons": {"chat": {"enabled": True, "queue_id": queue_id}}})
        assert widget.status_code == 201, widget.text
        key = widget.json()["public_key"]
        for title, body, words in (
                ("Printer paper jams", "Open the tray and remove the jammed paper gently.",
                 ["paper", "jam"]),
                ("Change your billing address", "Invoices show your account's address.",
                 ["invoice"])):
            made = await api.post(f"{DESK}/kb/articles", headers=admin, json={
                "status": "published", "translations": [{
                    "language": "en", "title": title, "keywords": words,
                    "body_html": f"<p>{body}</p>"}]})
            assert made.status_code == 201, made.text
        script = await api.post(f"{DESK}/scripts", headers=admin, json={
            "name": "Printer triage", "queue_ids": [queue_id], "steps": [
                {"id": "model", "kind": "question", "text": "Which printer model?",
                 "answer": "choice", "choices": [{"value": "p100", "label": "P-100"},
                                                 {"value": "p200", "label": "P-200"}],
                 "next": "bye"},
                {"id": "bye", "kind": "end", "text": "Thank the customer"}]})
        assert script.status_code == 201, script.text
        policy = await api.post(f"{DESK}/sla-policies", headers=admin, json={
            "name": "Chats", "resolution_minutes": 60, "business_hours": False,
            "escalate_at_risk": False, "escalate_on_breach": True})
        assert policy.status_code == 201, policy.text

        async with chromium() as browser:
            context = await browser.new_context(base_url=live_server.url,
                                                extra_http_headers=own_address(),
                                                viewport={"width": 1400, "height": 1000})
            desk = await context.new_page()
            await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
            await expect(desk.locator("#connection")).to_have_attribute("data-state", "open")
            await desk.select_option("#presence", "available")
            await expect(desk.locator("body")).to_have_attribute("data-presence", "available")

            visitor = await api.post(f"/embed/v1/sites/{key}/visitors", headers=ORIGIN, json={
                "page": {"url": "https://shop.example.com/", "title": "Shop", "referrer": ""}})
            assert visitor.status_code == 200, visitor.text
            chat = await api.post(f"/embed/v1/sites/{key}/conversations", headers={
                **ORIGIN, "X-Visitor-Token": visitor.json()["visitor_token"]},
                json={"text": "Hello, my printer is jammed with paper, what can I do?"})
            assert chat.status_code == 201, chat.text
            await desk.locator(".offer button.accept").click()
            tab = desk.locator(".chat.active")

            # Open a case from the chat: the panel shows it with its SLA.
            await tab.locator(".hd-open button[type=submit]").click()
            link = tab.locator(".hd-case-link")
            await expect(link).to_have_text(
                "#1 Hello, my printer is jammed with paper, what can I do?")
            await expect(tab.locator(".hd-sla .badge[data-metric=resolution]")).to_contain_text(
                "Resolution: running")

            # Follow the queue's script.
            await tab.locator(".hd-start").click()
            await expect(tab.locator(".hd-step-text")).to_have_text("Which printer model?")
            await tab.locator(".hd-step select").select_option("p200")
            await tab.locator(".hd-step button[type=submit]").click()
            await expect(tab.locator(".hd-step-text")).to_have_text("Thank the customer")
            await tab.locator(".hd-step button[type=submit]").click()
            await expect(tab.locator(".hd-answers dd")).to_have_text("p200")

            # The suggestions follow what the customer wrote; send the first one.
            first = tab.locator(".hd-suggestions .hd-article").first
            await expect(first.locator("strong")).to_have_text("Printer paper jams")
            await first.locator(".hd-send").click()
            await expect(tab.locator(".messages .msg.from-agent").last).to_contain_text(
                "Open the tray and remove the jammed paper gently.")
            await desk.screenshot(path=str(tmp_path / "helpdesk-console.png"))

            # An hour and a half later the resolution is late: escalated, the agent told.
            [case] = (await api.get(f"{DESK}/cases", headers=admin)).json()["items"]
            assert case["owner_id"] == str(agent.id)
            later = datetime.fromisoformat(case["created_at"]) + timedelta(minutes=90)
            done = await tasks.sweep_tenant(services, world.tenant.id, now=later)
            assert done["checked"] == 1
            detail = (await api.get(f"{DESK}/cases/{case['id']}", headers=admin)).json()
            assert detail["case"]["sla_breached"] and detail["case"]["level"] == 2
            # The sweep ran in this test's process, whose event bus does not reach the live
            # server's consoles: the console shows what it missed when it loads.
            await desk.reload()
            notes = desk.locator(".hd-notes .hd-note.kind-escalated")
            await expect(notes.first).to_contain_text(
                "Case #1 escalated (SLA breached) to level 2")
            # What happens in the server reaches the open console at once: a supervisor
            # escalates by hand, the owner is told live.
            escalated = await api.post(f"{DESK}/cases/{case['id']}/escalate",
                                       headers=await bearer(api, world, supervisor.email),
                                       json={"note": "Send a technician"})
            assert escalated.status_code == 201, escalated.text
            await expect(notes.first).to_contain_text("Case #1 escalated to level 3")

            # The supervisor sees it among the cases needing attention.
            boss = await context.browser.new_context(base_url=live_server.url,  # type: ignore[union-attr]
                                                     extra_http_headers=own_address())
            page = await boss.new_page()
            await sign_in(page, world.slug, supervisor.email, f"/t/{world.slug}/supervisor/")
            row = page.locator(f"#cases-attention tr[data-case='{case['id']}']")
            # (Listed as breached; its clock now reads real time again, in this test a
            # moment after it opened.)
            await expect(row).to_contain_text("Hello, my printer is jammed")
            await boss.close()
