"""Agents answer by mail (a retried job through a real SMTP server), mailboxes through
the API with a connection test that names the failed step, and the embed's email form."""

from __future__ import annotations

import httpx

from plateaux.platform.services import Services
from tests.channels.email.email_world import email_world, mail
from tests.routing.test_live_routing import serve
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory, bearer
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import until

API = "/api/v1"


async def test_an_agent_answers_and_the_customer_reply_threads_back(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    await serve(services, box.world, box.agent, box.queue)
    agent = await bearer(client, box.world, box.agent.email)
    assert (await client.put(f"{API}/me/presence", headers=agent,
                             json={"presence": "available"})).status_code == 200
    customer = "dana@example.net"
    await box.deliver(mail(sender=f"Dana <{customer}>", message_id="<q-1@example.net>",
                           subject="Broken lamp"))
    await box.fetch()
    [contact] = await box.contacts()

    async def accepted() -> bool:
        answer = await client.post(f"{API}/contacts/{contact.id}/accept", headers=agent)
        return answer.status_code == 200

    await until(accepted, timeout=20)
    found = await client.get(f"{API}/contacts/{contact.id}/email-thread", headers=agent)
    assert found.status_code == 200, found.text
    thread_id = found.json()["id"]
    # Another agent may not read it.
    other = await tenants.add_user(box.world)
    denied = await client.get(f"{API}/email/threads/{thread_id}",
                              headers=await bearer(client, box.world, other.email))
    assert denied.status_code == 403
    upload = await client.post(f"{API}/email/threads/{thread_id}/attachments", headers=agent,
                               files={"file": ("label.txt", b"return label", "text/plain")})
    assert upload.status_code == 201, upload.text
    body = {"text": "Sorry! A new one is on its way.", "client_id": "c-1",
            "attachments": [upload.json()["id"]]}
    sent = await client.post(f"{API}/email/threads/{thread_id}/replies", headers=agent, json=body)
    assert sent.status_code == 201, sent.text
    again = await client.post(f"{API}/email/threads/{thread_id}/replies", headers=agent,
                              json=body)
    assert again.status_code == 200 and again.json()["id"] == sent.json()["id"]
    [out] = await smtp_sink.wait_for(customer)
    assert out["In-Reply-To"] == "<q-1@example.net>"
    assert "<q-1@example.net>" in out["References"]
    assert out["Subject"] == "Re: Broken lamp"
    reply_to = str(out["Reply-To"])
    assert "+t-" in reply_to
    assert [p.get_filename() for p in out.iter_attachments()] == ["label.txt"]

    async def status() -> str:
        thread = await client.get(f"{API}/email/threads/{thread_id}", headers=agent)
        return str(thread.json()["messages"][-1]["status"])

    await until(lambda: _equals(status, "sent"), timeout=15)
    # The customer's client drops every threading header: the reply address still finds it.
    token_address = reply_to[reply_to.index("<") + 1:reply_to.index(">")]
    await box.deliver(mail(sender=customer, to=token_address, subject="thanks",
                           message_id="<q-2@example.net>", text="Thanks!\n\n> Sorry!"))
    await box.fetch()
    thread = (await client.get(f"{API}/email/threads/{thread_id}", headers=agent)).json()
    assert [m["direction"] for m in thread["messages"]] == ["in", "out", "in"]
    assert thread["messages"][-1]["new_text"] == "Thanks!"
    assert len(await box.contacts()) == 1


async def _equals(check: object, value: str) -> bool:
    return await check() == value  # type: ignore[operator]


async def test_a_refused_reply_fails_visibly_and_can_be_sent_again(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    admin = await bearer(client, box.world)
    await box.deliver(mail(sender="erin@example.net", message_id="<e-1@example.net>"))
    await box.fetch()
    [thread] = await box.threads()
    smtp_sink.handler.refuse_with = "550 5.7.1 relaying denied"
    try:
        sent = await client.post(f"{API}/email/threads/{thread.id}/replies", headers=admin,
                                 json={"text": "Hello"})
        assert sent.status_code == 201
        message_id = sent.json()["id"]

        async def failed() -> dict[str, object] | None:
            found = (await client.get(f"{API}/email/threads/{thread.id}", headers=admin)).json()
            last = found["messages"][-1]
            return last if last["status"] == "failed" else None

        last = await until(failed, timeout=15)
        assert "relaying denied" in str(last["last_error"])
    finally:
        smtp_sink.handler.refuse_with = None
    retried = await client.post(f"{API}/email/messages/{message_id}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    await smtp_sink.wait_for("erin@example.net")


async def test_mailboxes_through_the_api_and_a_connection_test(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    admin = await bearer(client, box.world)
    listed = await client.get(f"{API}/email/mailboxes", headers=admin)
    assert listed.status_code == 200 and "imap_password" not in listed.text
    assert "password_encrypted" not in listed.text
    url = f"{API}/email/mailboxes/{box.mailbox.id}"
    ok = await client.post(f"{url}/test", headers=admin)
    assert ok.status_code == 200 and ok.json()["ok"] is True, ok.text
    await client.patch(url, headers=admin, json={"imap_password": "wrong-password"})
    bad = (await client.post(f"{url}/test", headers=admin)).json()
    assert bad["ok"] is False and bad["imap"][-1]["stage"] == "login"
    await client.patch(url, headers=admin, json={"imap_password": dovecot.accounts[box.login],
                                                 "imap_folder": "Nope"})
    bad = (await client.post(f"{url}/test", headers=admin)).json()
    assert bad["imap"][-1]["stage"] == "folder"
    await client.patch(url, headers=admin, json={"imap_host": "no-such-host.invalid"})
    bad = (await client.post(f"{url}/test", headers=admin)).json()
    assert bad["imap"][-1]["stage"] == "dns"
    refused = await client.post(f"{API}/email/mailboxes", headers=admin, json={
        "name": "x", "address": "not-an-address", "imap_host": "h", "imap_username": "u",
        "imap_password": "p", "smtp_host": "h"})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    agent = await bearer(client, box.world, box.agent.email)
    assert (await client.get(f"{API}/email/mailboxes", headers=agent)).status_code == 403


async def test_the_embed_email_form_is_an_email_contact(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    from tests.channels.chat_world import add_widget

    box = await email_world(services, tenants, dovecot, smtp_sink, enabled=True)
    widget = await add_widget(services, box.world, box.queue)
    left = await client.post(f"/embed/v1/sites/{widget.public_key}/messages", json={
        "name": "Frank", "email": "frank@example.net", "text": "Do you ship to Belgium?"})
    assert left.status_code == 201, left.text
    [contact] = await box.contacts()
    assert contact.channel == "email" and contact.customer_key == "frank@example.net"
    [thread] = await box.threads()
    assert str(thread.id) == left.json()["conversation_id"]
    admin = await bearer(client, box.world)
    sent = await client.post(f"{API}/email/threads/{thread.id}/replies", headers=admin,
                             json={"text": "Yes we do."})
    assert sent.status_code == 201
    [out] = await smtp_sink.wait_for("frank@example.net")
    assert out.get_body(preferencelist=("plain",)).get_content().strip() == "Yes we do."
