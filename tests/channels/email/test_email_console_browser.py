"""The agent console in Chromium: mail delivered to the IMAP server reaches the live
server's scheduler (IDLE), is offered to the agent, opens as an email tab with the new
part first, and the agent's answer leaves through SMTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.channels.email.email_world import mail
from tests.support.browser import chromium, sign_in
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory, bearer
from tests.support.servers import LiveServer, own_address
from tests.support.smtp_sink import SmtpSink

pytestmark = pytest.mark.browser
API = "/api/v1"


async def test_an_agent_answers_an_email_from_the_console(
        live_server: LiveServer, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink, tmp_path: Path) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, name="Ann Agent")
    login, password = dovecot.add_account()
    async with httpx.AsyncClient(base_url=live_server.url, headers=own_address()) as api:
        admin = await bearer(api, world)
        queue = await api.post(f"{API}/routing/queues", headers=admin, json={
            "name": f"Email {uuid.uuid4().hex[:4]}", "accept_timeout_seconds": 120})
        assert queue.status_code == 201, queue.text
        queue_id = queue.json()["id"]
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin, json={
            "queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text
        created = await api.post(f"{API}/email/mailboxes", headers=admin, json={
            "name": "Support", "address": f"help-{uuid.uuid4().hex[:6]}@acme-support.com",
            "imap_host": dovecot.host, "imap_port": dovecot.port, "imap_security": "none",
            "imap_username": login, "imap_password": password, "smtp_host": smtp_sink.host,
            "smtp_port": smtp_sink.port, "smtp_security": "none", "queue_id": queue_id})
        assert created.status_code == 201, created.text

        async with chromium() as browser:
            context = await browser.new_context(base_url=live_server.url,
                                                extra_http_headers=own_address(),
                                                viewport={"width": 1400, "height": 900})
            desk = await context.new_page()
            await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
            await expect(desk.locator("#connection")).to_have_attribute("data-state", "open")
            await desk.select_option("#presence", "available")
            await expect(desk.locator("body")).to_have_attribute("data-presence", "available")

            await dovecot.append(login, mail(
                sender="Gina Guest <gina@example.net>", subject="Wrong size",
                text="The shoes are too small.\n\nOn Tue, Shop wrote:\n> Your order shipped"))
            offer = desk.locator(".offer")
            await expect(offer).to_be_visible(timeout=20000)
            await expect(offer.locator(".offer-channel")).to_have_text("Email")
            await offer.locator("button.accept").click()
            thread = desk.locator(".email-thread")
            await expect(thread.locator(".e-subject")).to_have_text("Wrong size")
            first = thread.locator(".emails .email").first
            await expect(first.locator(".text").first).to_have_text("The shoes are too small.")
            await expect(first.locator("details.quoted")).to_have_count(1)
            await thread.locator(".e-composer textarea").fill("We will send a larger pair.")
            await thread.locator(".e-composer button.send").click()
            answer = thread.locator(".emails .email.from-agent")
            await expect(answer).to_have_attribute("data-status", "sent", timeout=20000)
            await desk.screenshot(path=str(tmp_path / "plateaux-agent-email.png"))
        # The session's live server stops watching the mailbox.
        switched = await api.patch(f"{API}/email/mailboxes/{created.json()['id']}",
                                   headers=admin, json={"enabled": False})
        assert switched.status_code == 200, switched.text
    [sent] = await smtp_sink.wait_for("gina@example.net")
    assert sent["Subject"] == "Re: Wrong size"
    assert "larger pair" in sent.get_body(preferencelist=("plain",)).get_content()
