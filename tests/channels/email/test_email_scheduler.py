"""The scheduler fetches on its own (IMAP IDLE), a temporary SMTP refusal is retried, and
another tenant's email objects are out of reach."""

from __future__ import annotations

import asyncio

import httpx

from plateaux.platform.services import Services
from tests.channels.email.email_world import email_world, mail
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory, bearer
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import until

API = "/api/v1"


async def test_new_mail_is_fetched_as_it_arrives(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink, enabled=True)

    async def watching() -> bool:
        mailboxes = [await _mailbox(services, box.tenant_id, box.mailbox.id)]
        return mailboxes[0].last_fetch_at is not None

    await until(watching, timeout=20, what="the first fetch")
    await box.deliver(mail(subject="Pushed by IDLE"))

    async def stored() -> bool:
        return any(m.subject == "Pushed by IDLE" for m in await box.messages())

    await until(stored, timeout=20, what="the message fetched without a poll")
    assert len(await box.contacts()) == 1


async def test_without_idle_the_mailbox_is_polled(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    from plateaux.channels.email.models import Mailbox
    from plateaux.channels.email.scheduler import notify

    box = await email_world(services, tenants, dovecot, smtp_sink)
    # A server without IDLE (or IDLE switched off): the poll interval alone brings mail.
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        mailbox = await session.get(Mailbox, box.mailbox.id)
        assert mailbox is not None
        mailbox.use_idle, mailbox.poll_seconds, mailbox.enabled = False, 1, True
        session.add(mailbox)
    await notify(services, box.tenant_id, box.mailbox.id)

    async def fetched_once() -> bool:
        found = await _mailbox(services, box.tenant_id, box.mailbox.id)
        return getattr(found, "last_fetch_at", None) is not None

    await until(fetched_once, timeout=20, what="the first poll")
    await box.deliver(mail(subject="Found by polling"))

    async def stored() -> bool:
        return any(m.subject == "Found by polling" for m in await box.messages())

    await until(stored, timeout=20, what="the message found by the next poll")


async def _mailbox(services: Services, tenant_id: object, mailbox_id: object) -> object:
    from plateaux.channels.email import repository as repo

    async with services.unit_of_work(tenant_id=tenant_id) as session:  # type: ignore[arg-type]
        return await repo.get_mailbox(session, tenant_id, mailbox_id)  # type: ignore[arg-type]


async def test_a_temporary_refusal_is_retried(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    admin = await bearer(client, box.world)
    await box.deliver(mail(sender="hugo@example.net"))
    await box.fetch()
    [thread] = await box.threads()
    smtp_sink.handler.refuse_with = "451 4.3.0 try again later"
    sent = await client.post(f"{API}/email/threads/{thread.id}/replies", headers=admin,
                             json={"text": "Hello Hugo"})
    assert sent.status_code == 201

    async def retrying() -> bool:
        found = (await client.get(f"{API}/email/threads/{thread.id}", headers=admin)).json()
        last = found["messages"][-1]
        return last["attempts"] >= 1 and "retrying" in str(last["last_error"])

    try:
        await until(retrying, timeout=15, what="a failed first attempt")
    finally:
        smtp_sink.handler.refuse_with = None
    [out] = await smtp_sink.wait_for("hugo@example.net", timeout=30)
    assert out["Subject"].startswith("Re:")

    async def sent_once() -> dict[str, object] | None:
        found = (await client.get(f"{API}/email/threads/{thread.id}", headers=admin)).json()
        last = found["messages"][-1]
        return last if last["status"] == "sent" else None

    last = await until(sent_once, timeout=15)
    assert int(str(last["attempts"])) >= 2 and last["last_error"] is None


async def test_another_tenants_email_objects_are_not_found(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(mail(attachments=[("a.pdf", "application/pdf", b"%PDF-1.4 x")]),
                      b"garbage without headers")
    await box.fetch()
    [message] = await box.messages()
    [thread] = await box.threads()
    [contact] = await box.contacts()
    owner = await bearer(client, box.world)
    held = (await client.get(f"{API}/email/quarantine", headers=owner)).json()
    assert len(held) == 1
    raw = await client.get(f"{API}/email/quarantine/{held[0]['id']}/raw", headers=owner)
    assert raw.status_code == 200 and raw.content == b"garbage without headers"
    other = await tenants.create()
    stranger = await bearer(client, other)
    paths = [
        f"/email/mailboxes/{box.mailbox.id}", f"/email/threads/{thread.id}",
        f"/email/attachments/{message.attachments[0]['id']}",
        f"/email/messages/{message.id}/raw", f"/email/quarantine/{held[0]['id']}/raw",
        f"/contacts/{contact.id}/email-thread",
    ]
    for path in paths:
        assert (await client.get(API + path, headers=owner)).status_code == 200, path
        answer = await client.get(API + path, headers=stranger)
        assert answer.status_code == 404, (path, answer.status_code)
    for path in (f"/email/mailboxes/{box.mailbox.id}/test",
                 f"/email/threads/{thread.id}/replies",
                 f"/email/messages/{message.id}/retry",
                 f"/email/quarantine/{held[0]['id']}/discard"):
        answer = await client.post(API + path, headers=stranger, json={"text": "x"})
        assert answer.status_code == 404, (path, answer.status_code)
    assert (await client.get(f"{API}/email/quarantine", headers=stranger)).json() == []


async def test_a_reply_whose_job_was_lost_is_sent_by_the_sweep(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    from datetime import timedelta

    from plateaux.channels.email import service as email_service
    from plateaux.channels.email.scheduler import MailScheduler
    from plateaux.platform.auth.subject import Subject
    from plateaux.platform.database import POST_COMMIT_KEY
    from plateaux.platform.types import utcnow

    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(mail(sender="ines@example.net"))
    await box.fetch()
    [thread] = await box.threads()
    admin = Subject(tenant_id=box.tenant_id, kind="user", principal_id=box.world.admin.id,
                    role=box.world.admin.role, scopes=frozenset(), label="test",
                    user_id=box.world.admin.id)
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        message, _ = await email_service.reply(session, admin, thread, text="Lost job",
                                               cc=[], attachment_ids=[], client_id=None)
        message.created_at = utcnow() - timedelta(minutes=10)
        session.add(message)
        # The process "stops" between the commit and the enqueue: no job is queued.
        session.info.pop(POST_COMMIT_KEY, None)
    await asyncio.sleep(0.5)
    assert smtp_sink.to("ines@example.net") == []
    sweeper = MailScheduler(services)
    sweeper.tenants.add(box.tenant_id)
    assert await sweeper.sweep() == 1
    [out] = await smtp_sink.wait_for("ines@example.net")
    assert "Lost job" in out.get_body(preferencelist=("plain",)).get_content()
