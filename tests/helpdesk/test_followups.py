"""Email threads and cases: a new thread opens a case by the tenant's rule, the customer's
reply reopens it once solved, a reply after it is closed opens a follow-up case; and the
CRM's privacy and merge carry the cases along (export, erasure, merge)."""

from __future__ import annotations

import uuid

import httpx

from plateaux.channels.email import contacts as email_contacts
from plateaux.channels.email.models import EmailMessage, EmailThread, Mailbox
from plateaux.platform.services import Services
from tests.helpdesk.conftest import delivered
from tests.helpdesk.world import API, DESK, desk_world
from tests.support.console_pages import SmtpSink
from tests.support.factories import TenantFactory


async def mail_in(services: Services, world: object, thread_id: uuid.UUID | None, *,
                  address: str, subject: str, text: str) -> uuid.UUID:
    """A customer's email on a thread (a new one when ``thread_id`` is None), handed to
    the email channel's contact rules as its ingestion does."""
    tenant_id = world.tenant_id  # type: ignore[attr-defined]
    queue_id = world.chat.queue.id  # type: ignore[attr-defined]
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        if thread_id is None:
            thread = EmailThread(tenant_id=tenant_id, subject=subject, customer_address=address,
                                 customer_name="Ada", reply_token=uuid.uuid4().hex[:20])
            session.add(thread)
            await session.flush()
        else:
            found = await session.get(EmailThread, thread_id)
            assert found is not None
            thread = found
        key = f"<{uuid.uuid4().hex}@example.net>"
        session.add(EmailMessage(tenant_id=tenant_id, thread_id=thread.id, direction="in",
                                 message_key=key, message_id=key, from_address=address,
                                 subject=subject, text=text, new_text=text))
        await email_contacts.open_contact(session, thread, target={"queue_id": queue_id},
                                          source=world.chat.widget.id)  # type: ignore[attr-defined]
        return thread.id


async def test_threads_reopen_and_follow_up_and_privacy_carries_cases(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory,
        desk_smtp: SmtpSink) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    agent, admin = world.agent, world.admin
    address = f"ada-{uuid.uuid4().hex[:6]}@example.net"
    thread_id = await mail_in(desk_services, world, None, address=address,
                              subject="Refund for order 1042", text="I want a refund.")
    [case] = (await desk.get(f"{DESK}/cases", headers=agent)).json()["items"]
    assert (case["subject"], case["channel"], case["source"]) == (
        "Refund for order 1042", "email", "rule")
    # An article sent to an email contact goes out as the reply on its thread.
    async with desk_services.unit_of_work(tenant_id=world.tenant_id) as session:
        mailbox = Mailbox(tenant_id=world.tenant_id, name="Support",
                          address=f"help-{uuid.uuid4().hex[:6]}@acme-support.com",
                          imap_host="127.0.0.1", imap_username="-", imap_password_encrypted="-",
                          smtp_host="127.0.0.1", smtp_port=desk_smtp.port, smtp_security="none",
                          queue_id=world.chat.queue.id, enabled=False)
        session.add(mailbox)
        await session.flush()
        thread = await session.get(EmailThread, thread_id)
        assert thread is not None
        thread.mailbox_id = mailbox.id
        session.add(thread)
    article = await desk.post(f"{DESK}/kb/articles", headers=world.supervisor_headers, json={
        "status": "published", "translations": [{
            "language": "en", "title": "Refunds", "body_html": "<p>Refunds take 5 days.</p>"}]})
    assert article.status_code == 201, article.text
    detail = (await desk.get(f"{DESK}/cases/{case['id']}", headers=agent)).json()
    contact_id = detail["contacts"][0]["contact_id"]
    sent = await desk.post(f"{DESK}/kb/articles/{article.json()['id']}/send",
                           headers=world.supervisor_headers, json={"contact_id": contact_id})
    assert sent.status_code == 200, sent.text
    assert sent.json()["channel"] == "email"
    await delivered(desk_services)
    [reply] = desk_smtp.to(address)
    text = next(SmtpSink.body(part) for part in reply.walk()
                if part.get_content_type() == "text/plain")
    assert "Refunds\n\nRefunds take 5 days." in text.replace("\r\n", "\n")
    assert reply["Subject"].endswith("Refund for order 1042")
    solved = await desk.post(f"{DESK}/cases/{case['id']}/solve", headers=agent, json={})
    assert solved.json()["status"] == "solved"
    # The customer answers on the same thread: the same case, open again.
    await mail_in(desk_services, world, thread_id, address=address,
                  subject="Re: Refund for order 1042", text="Not received yet.")
    cases = (await desk.get(f"{DESK}/cases", headers=agent)).json()
    assert cases["total"] == 1 and cases["items"][0]["status"] == "open"
    detail = (await desk.get(f"{DESK}/cases/{case['id']}", headers=agent)).json()
    assert len(detail["contacts"]) == 2
    reopened = next(e for e in detail["events"] if e["kind"] == "reopened")
    assert reopened["data"]["why"] == "customer"
    # Closed for good: the next message opens a follow-up case.
    closed = await desk.post(f"{DESK}/cases/{case['id']}/solve", headers=agent,
                             json={"close": True})
    assert closed.json()["status"] == "closed"
    await mail_in(desk_services, world, thread_id, address=address,
                  subject="Re: Refund for order 1042", text="Thanks, one more thing.")
    cases = (await desk.get(f"{DESK}/cases", headers=agent)).json()
    assert cases["total"] == 2
    follow_up = next(c for c in cases["items"] if c["id"] != case["id"])
    assert follow_up["follow_up_of_id"] == case["id"] and follow_up["status"] == "new"
    person_id = follow_up["person_id"]
    assert person_id == case["person_id"]

    # Another person's case follows them into a merge.
    other = await desk.post(f"{API}/crm/people", headers=admin, json={"name": "Ada L."})
    theirs = await desk.post(f"{DESK}/cases", headers=agent, json={
        "subject": "Duplicate account", "person_id": other.json()["id"]})
    merged = await desk.post(f"{API}/crm/people/{person_id}/merge", headers=admin,
                             json={"duplicate_id": other.json()["id"]})
    assert merged.status_code == 200, merged.text
    moved = (await desk.get(f"{DESK}/cases/{theirs.json()['id']}", headers=agent)).json()
    assert moved["case"]["person_id"] == person_id
    # The person's export holds their cases; erasing them empties what was said.
    exported = (await desk.get(f"{API}/crm/people/{person_id}/export", headers=admin)).json()
    assert {c["subject"] for c in exported["cases"]} >= {"Refund for order 1042",
                                                         "Duplicate account"}
    assert any(e["kind"] == "reopened" for c in exported["cases"] for e in c["events"])
    erased = await desk.post(f"{API}/crm/people/{person_id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["erase_cases"] == 3
    after = (await desk.get(f"{DESK}/cases/{case['id']}", headers=agent)).json()
    assert after["case"]["subject"] == "[erased]" and after["case"]["person_id"] is None
    assert all(not e["body"] for e in after["events"])
