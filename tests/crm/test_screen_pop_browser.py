"""End to end in Chromium: a customer chats from the tenant's site signed in with their
email, later writes from the same address; both land on one person's timeline, and the
agent console pops that person (with the earlier chat) the moment the email is offered."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from plateaux.embed.identity import sign_identity
from tests.channels.email.email_world import mail
from tests.support.browser import chromium, sign_in
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer, own_address
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.browser
API = "/api/v1"
ORIGIN = {"Origin": "https://shop.example.com"}


async def test_chat_then_email_pop_one_person(
        live_server: LiveServer, tenants: TenantFactory, crm_dovecot: Dovecot,
        crm_smtp: SmtpSink, tmp_path: Path) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, name="Ann Agent")
    login, password = crm_dovecot.add_account()
    address = f"lea-{uuid.uuid4().hex[:6]}@example.net"
    async with httpx.AsyncClient(base_url=live_server.url, headers=own_address()) as api:
        admin = await bearer(api, world)
        queue = await api.post(f"{API}/routing/queues", headers=admin, json={
            "name": f"Front {uuid.uuid4().hex[:4]}", "accept_timeout_seconds": 120})
        assert queue.status_code == 201, queue.text
        queue_id = queue.json()["id"]
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin, json={
            "queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text
        widget = await api.post(f"{API}/widgets", headers=admin, json={
            "name": "Shop", "allowed_domains": ["shop.example.com"],
            "buttons": {"chat": {"enabled": True, "queue_id": queue_id}}})
        assert widget.status_code == 201, widget.text
        key, secret = widget.json()["public_key"], widget.json()["secret"]
        mailbox = await api.post(f"{API}/email/mailboxes", headers=admin, json={
            "name": "Support", "address": f"help-{uuid.uuid4().hex[:6]}@acme-support.com",
            "imap_host": crm_dovecot.host, "imap_port": crm_dovecot.port,
            "imap_security": "none", "imap_username": login, "imap_password": password,
            "smtp_host": crm_smtp.host, "smtp_port": crm_smtp.port, "smtp_security": "none",
            "queue_id": queue_id})
        assert mailbox.status_code == 201, mailbox.text

        async with chromium() as browser:
            context = await browser.new_context(base_url=live_server.url,
                                                extra_http_headers=own_address(),
                                                viewport={"width": 1400, "height": 900})
            desk = await context.new_page()
            await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
            await expect(desk.locator("#connection")).to_have_attribute("data-state", "open")
            await desk.select_option("#presence", "available")
            await expect(desk.locator("body")).to_have_attribute("data-presence", "available")

            # The customer, signed in on the tenant's site, chats.
            token = sign_identity(secret, {"sub": "cust-42", "email": address,
                                           "name": "Léa Martin",
                                           "exp": int(time.time()) + 600})
            visitor = await api.post(f"/embed/v1/sites/{key}/visitors", headers=ORIGIN, json={
                "identity": token, "page": {"url": "https://shop.example.com/shoes",
                                            "title": "Shoes", "referrer": ""}})
            assert visitor.status_code == 200, visitor.text
            chat = await api.post(f"/embed/v1/sites/{key}/conversations", headers={
                **ORIGIN, "X-Visitor-Token": visitor.json()["visitor_token"]},
                json={"text": "Do you have these shoes in 39?"})
            assert chat.status_code == 201, chat.text
            offer = desk.locator(".offer")
            await expect(offer.locator(".offer-person .crm-name")).to_have_text("Léa Martin")
            await expect(offer.locator(".crm-known")).to_have_text("First contact")
            await offer.locator("button.accept").click()
            panel = desk.locator(".chat.active .crm-panel")
            await expect(panel.locator(".crm-ids")).to_contain_text(address)
            await desk.locator(".chat.active .wrap-up .complete").click()

            # Later, an email from the same address: the pop shows the chat before it.
            await crm_dovecot.append(login, mail(sender=f"Lea <{address}>",
                                                 subject="Shoes in 39", text="Any news?"))
            email_offer = desk.locator(".offer")
            await expect(email_offer.locator(".offer-channel")).to_have_text(
                "Email", timeout=30000)
            await expect(email_offer.locator(".crm-known")).to_have_text("1 earlier contact")
            await expect(email_offer.locator(".crm-timeline li").first).to_contain_text("Chat")
            await expect(email_offer.locator(".offer-who")).to_have_text("Léa Martin")
            await email_offer.locator("button.accept").click()
            tab = desk.locator(".email-thread.active .crm-panel")
            await expect(tab.locator(".crm-timeline li[data-channel=chat]")).to_contain_text(
                "Do you have these shoes in 39?")
            await desk.screenshot(path=str(tmp_path / "crm-screen-pop.png"))

        switched = await api.patch(f"{API}/email/mailboxes/{mailbox.json()['id']}",
                                   headers=admin, json={"enabled": False})
        assert switched.status_code == 200, switched.text
        # One person, both contacts on their timeline, newest first.
        people = await api.get(f"{API}/crm/people", headers=admin, params={"q": address})
        assert people.status_code == 200, people.text
        [person] = people.json()["items"]
        assert {(i["kind"], i["value"]) for i in person["identities"]} >= {
            ("email", address), ("verified", "cust-42")}
        timeline = await api.get(f"{API}/crm/people/{person['id']}/timeline", headers=admin)
        assert [i["channel"] for i in timeline.json() if i["kind"] == "contact"] == [
            "email", "chat"]
        pages = await api.get(f"{API}/crm/people/{person['id']}/pages", headers=admin)
        assert [p["url"] for p in pages.json()] == ["https://shop.example.com/shoes"]
