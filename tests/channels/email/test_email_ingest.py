"""Mail fetched from a real dovecot becomes threads and routed contacts, exactly once."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from plateaux.channels.email import repository as repo
from plateaux.channels.email.ingest import Outcome
from plateaux.channels.email.models import EmailQuarantine, EmailReceipt, Mailbox
from plateaux.platform.services import Services
from tests.channels.email.email_world import email_world, mail
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory
from tests.support.smtp_sink import SmtpSink

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def test_a_new_mail_becomes_a_routed_email_contact(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(mail(
        text="Where is my order?\n\n-- \nCarol\n\nOn Mon, Support wrote:\n> Hello",
        html='<p>Where is <b>my</b> order?<script>alert(1)</script>'
             '<img src="https://tracker.example/p.png"><img src="cid:logo@x"></p>',
        attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4 test")]))
    report = await box.fetch()
    assert report.error is None and report.outcomes == {"stored": 1}
    [message] = await box.messages()
    assert message.from_address == "carol@example.org"
    assert message.new_text == "Where is my order?"
    assert message.signature.startswith("--") and "wrote:" in message.quoted_text
    assert message.html is not None and "<script>" not in message.html
    assert "tracker.example" not in message.html
    assert [a["name"] for a in message.attachments] == ["invoice.pdf"]
    [thread] = await box.threads()
    [contact] = await box.contacts()
    assert thread.contact_id == contact.id and contact.customer_key == "carol@example.org"
    assert contact.attributes["email_thread_id"] == str(thread.id)
    assert contact.queue_id == box.queue.id


async def test_threads_by_headers_reply_first_and_token(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    parent_id, child_id = "<parent-1@example.org>", "<child-1@example.org>"
    # The reply arrives before its parent: both end in one thread.
    await box.deliver(mail(message_id=child_id, in_reply_to=parent_id, references=[parent_id],
                           subject="Re: Refund"))
    await box.fetch()
    await box.deliver(mail(message_id=parent_id, subject="Refund"))
    await box.fetch()
    threads = await box.threads()
    assert len(threads) == 1
    # A client that strips In-Reply-To and References still writes to the reply address.
    local, _, domain = box.mailbox.address.partition("@")
    await box.deliver(mail(to=f"{local}+t-{threads[0].reply_token}@{domain}",
                           subject="another thing", message_id="<stripped@example.org>"))
    await box.fetch()
    assert len(await box.threads()) == 1
    assert len(await box.messages()) == 3
    # Replies while the contact is live only update it.
    assert len(await box.contacts()) == 1


async def test_a_reply_after_the_contact_ended_routes_it_again(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(mail(message_id="<first@example.org>"))
    await box.fetch()
    [contact] = await box.contacts()
    assert services.routing is not None
    await services.routing.cancel(box.tenant_id, contact.id, reason="cancelled")

    async def ended() -> bool:
        [row] = await box.contacts()
        return row.ended_at is not None or row.status == "cancelled"

    from tests.support.waiting import until

    await until(ended, timeout=20, what="the contact recorded as ended")
    await box.deliver(mail(message_id="<second@example.org>", in_reply_to="<first@example.org>"))
    await box.fetch()
    contacts = await box.contacts()
    assert len(contacts) == 2
    [thread] = await box.threads()
    assert thread.contact_id == contacts[1].id
    assert contacts[1].attributes["reopened"] is True


async def test_every_message_exactly_once_whatever_happens(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    """Chaos: a fetcher killed mid-batch, two fetchers at once, the same message without a
    Message-ID twice, a padded Message-ID, a malformed message."""
    box = await email_world(services, tenants, dovecot, smtp_sink, folder="Support")
    batch = [mail(subject=f"Question {n}", message_id=f"<q{n}@example.org>") for n in range(12)]
    await box.deliver(*batch)
    # Killed mid-batch: cancelled as soon as a few messages are stored.
    fetch = asyncio.create_task(box.fetch())

    async def some_stored() -> bool:
        return len(await box.messages()) >= 3

    from tests.support.waiting import until

    await until(some_stored, timeout=30, every=0.005, what="part of the batch")
    fetch.cancel()
    await asyncio.gather(fetch, return_exceptions=True)
    assert len(await box.messages()) < 12
    # Two fetchers at once finish the job.
    await asyncio.gather(box.fetch(), box.fetch())
    assert sorted(m.subject for m in await box.messages()) == sorted(
        f"Question {n}" for n in range(12))
    # No Message-ID, delivered twice (another UID): one message. A padded id is the id.
    bare = mail(subject="No id", message_id=None, text="same body")
    await box.deliver(bare, bare, mail(subject="Padded", message_id="   <q1@example.org>   "),
                      b"\x01 not a mail at all \xff")
    await asyncio.gather(box.fetch(), box.fetch())
    subjects = [m.subject for m in await box.messages()]
    assert subjects.count("No id") == 1 and "Padded" not in subjects
    assert len(subjects) == 13
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        held = (await session.scalars(select(EmailQuarantine).where(
            EmailQuarantine.tenant_id == box.tenant_id))).all()
        receipts = (await session.scalars(select(EmailReceipt).where(
            EmailReceipt.tenant_id == box.tenant_id))).all()
        mailbox = await session.get(Mailbox, box.mailbox.id)
    assert len(held) == 1 and "sender" in held[0].reason
    assert len(receipts) == 16 and len({(r.uid_validity, r.uid) for r in receipts}) == 16
    assert mailbox is not None and mailbox.last_uid == 16
    # The quarantined raw source is kept as it came.
    from plateaux.channels.email.ingest import storage_of

    assert await storage_of(services).open(held[0].raw_key) == b"\x01 not a mail at all \xff"
    assert len(await box.contacts()) == 13
    # A UIDVALIDITY change: the folder renumbered, old mail again plus one new message.
    validity = mailbox.uid_validity
    await dovecot.recreate_folder(box.login, "Support")
    await box.deliver(*batch[:5], mail(subject="After the change", message_id="<new@x.org>"))
    report = await box.fetch()
    assert report.resynced and report.uid_validity != validity
    assert report.outcomes == {Outcome.DUPLICATE.value: 5, Outcome.STORED.value: 1}
    assert len(await box.messages()) == 14


async def test_automatic_mail_is_never_answered_and_bounces_mark_the_address(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink, ack=True)
    corpus = [
        mail(sender="ooo@example.org", headers={"Auto-Submitted": "auto-replied"}),
        mail(sender="ooo2@example.org", subject="Out of Office: back Monday"),
        mail(sender="list@example.org", headers={"List-Id": "<news.example.org>"}),
        mail(sender="bulk@example.org", headers={"Precedence": "bulk"}),
        mail(sender="null@example.org", headers={"Return-Path": "<>"}),
        mail(sender="vacation@example.org", headers={"X-Autoreply": "yes"}),
        mail(sender="exchange@example.org", headers={"X-Auto-Response-Suppress": "All"}),
        mail(sender="noreply@example.org"),
        mail(sender=box.mailbox.address, subject="our own mail came back"),
    ]
    await box.deliver(*corpus)
    await box.fetch()
    # A person's mail is acknowledged once; a robot without automatic headers writing
    # again and again gets at most a few acknowledgements an hour.
    await box.deliver(*[mail(sender="robot@example.org", subject=f"Ticket {n}")
                        for n in range(8)])
    await box.fetch()
    sent = await smtp_sink.wait_for("robot@example.org", count=3)
    await asyncio.sleep(0.5)
    assert len(smtp_sink.to("robot@example.org")) == 3
    for automatic in ("ooo@example.org", "ooo2@example.org", "list@example.org",
                      "bulk@example.org", "null@example.org", "vacation@example.org",
                      "exchange@example.org", "noreply@example.org", box.mailbox.address):
        assert smtp_sink.to(automatic) == []
    ack = sent[0]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "+t-" in str(ack["Reply-To"])
    # The acknowledgement bounces: a DSN names it; the address is marked, no answer goes.
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {box.mailbox.address}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
        "\r\nFinal-Recipient: rfc822; robot@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ack['Message-ID']}\r\nSubject: {ack['Subject']}\r\n--B--\r\n").encode()
    await box.deliver(dsn)
    await box.fetch()
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        record = await repo.address(session, box.tenant_id, "robot@example.org")
        bounced = await repo.message_by_key(session, box.tenant_id, str(ack["Message-ID"]))
    assert record is not None and record.bounced_at is not None
    assert bounced is not None and bounced.status == "bounced"
    assert "no such user" in (bounced.last_error or "")
    # Only the person's... nothing else: 9 automatic, 8 robot mails, the DSN: 17 threads,
    # the bounce threads with the mail that bounced; no acknowledgement to any of them.
    assert len(smtp_sink.to("carol@example.org")) == 0
    contacts = await box.contacts()
    assert len(contacts) == 8 + 8  # the loop (our own address) and the DSN route nothing


async def test_a_fetcher_process_killed_mid_batch_loses_and_doubles_nothing(
        services: Services, tenants: TenantFactory, dovecot: Dovecot,
        smtp_sink: SmtpSink) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.support.waiting import until

    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(*[mail(subject=f"Batch {n}", message_id=f"<b{n}@example.org>",
                             attachments=[("a.pdf", "application/pdf", b"%PDF" * 5000)])
                        for n in range(20)])
    settings = services.settings
    env = {**os.environ, "PLATEAUX_ENVIRONMENT": "test",
           "PLATEAUX_DATABASE_URL": settings.database_url,
           "PLATEAUX_MIGRATION_DATABASE_URL": settings.migration_database_url,
           "PLATEAUX_SECRET_KEY": settings.secret_key,
           "PLATEAUX_DATA_DIR": str(settings.data_dir), "PLATEAUX_LOG_JSON": "false",
           "PLATEAUX_JOB_QUEUE_NAME": settings.job_queue_name,
           "PLATEAUX_ROUTING_KEY_PREFIX": settings.routing_key_prefix,
           "PLATEAUX_EMAIL_ALLOW_PRIVATE_HOSTS": "true", "PLATEAUX_EMAIL_FETCH_BATCH": "5",
           **({"PLATEAUX_REDIS_URL": settings.redis_url} if settings.redis_url else {})}
    log_path = settings.data_dir / f"fetch-process-{box.mailbox.id}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.channels.email.fetch_process", str(box.tenant_id),
         str(box.mailbox.id)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async def some_stored() -> bool:
            assert process.poll() is None, f"the fetcher exited: {log_path.read_text()}"
            return len(await box.messages()) >= 3

        await until(some_stored, timeout=60, every=0.01, what="part of the batch")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()
    killed_at = len(await box.messages())
    assert killed_at < 20
    await asyncio.gather(box.fetch(), box.fetch())
    messages = await box.messages()
    assert sorted(m.subject for m in messages) == sorted(f"Batch {n}" for n in range(20))
    assert len(await box.contacts()) == 20
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        receipts = (await session.scalars(select(EmailReceipt).where(
            EmailReceipt.tenant_id == box.tenant_id))).all()
    assert sorted(r.uid for r in receipts) == list(range(1, 21))
