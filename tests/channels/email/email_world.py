"""A tenant with a queue, an agent serving it and a mailbox on the test dovecot whose
replies go to the SMTP sink; built through the real services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage as Mime
from email.utils import format_datetime, make_msgid

from sqlmodel import col, select

from plateaux.channels.email import service as email_service
from plateaux.channels.email.fetcher import SyncReport, sync_mailbox
from plateaux.channels.email.models import EmailMessage, EmailThread, Mailbox
from plateaux.channels.email.schemas import MailboxIn
from plateaux.platform.services import Services
from plateaux.routing.models import Contact, RoutingQueue
from plateaux.tenants.models import User
from tests.routing.test_live_routing import make_queue
from tests.support.dovecot import Dovecot
from tests.support.factories import TenantFactory, TenantWorld
from tests.support.smtp_sink import SmtpSink


@dataclass
class EmailWorld:
    world: TenantWorld
    queue: RoutingQueue
    agent: User
    mailbox: Mailbox
    login: str
    services: Services
    dovecot: Dovecot

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.world.tenant.id

    async def deliver(self, *messages: bytes) -> None:
        await self.dovecot.append(self.login, *messages, folder=self.mailbox.imap_folder)

    async def fetch(self) -> SyncReport:
        return await sync_mailbox(self.services, self.tenant_id, self.mailbox.id)

    async def messages(self) -> list[EmailMessage]:
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            return list((await session.scalars(select(EmailMessage).where(
                EmailMessage.tenant_id == self.tenant_id)
                .order_by(col(EmailMessage.created_at)))).all())

    async def threads(self) -> list[EmailThread]:
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            return list((await session.scalars(select(EmailThread).where(
                EmailThread.tenant_id == self.tenant_id)
                .order_by(col(EmailThread.created_at)))).all())

    async def contacts(self) -> list[Contact]:
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            return list((await session.scalars(select(Contact).where(
                Contact.tenant_id == self.tenant_id, Contact.channel == "email")
                .order_by(col(Contact.created_at)))).all())


async def email_world(services: Services, tenants: TenantFactory, dovecot: Dovecot,
                      smtp: SmtpSink, *, folder: str = "INBOX", ack: bool = False,
                      enabled: bool = False) -> EmailWorld:
    """``enabled=False`` keeps the scheduler away: the test fetches by itself."""
    world = await tenants.create()
    queue = await make_queue(services, world, f"Email {uuid.uuid4().hex[:6]}")
    agent = await tenants.add_user(world, name="Eve Agent")
    login, password = dovecot.add_account()
    if folder != "INBOX":
        await dovecot.append(login, folder=folder)
    address = f"support-{uuid.uuid4().hex[:6]}@acme-support.com"
    body = MailboxIn(
        name="Support", address=address, display_name="Acme Support",
        imap_host=dovecot.host, imap_port=dovecot.port, imap_security="none",
        imap_username=login, imap_password=password, imap_folder=folder,
        smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none", queue_id=queue.id,
        enabled=enabled, ack_enabled=ack, ack_subject="Received: {subject}",
        ack_text="Hello {name}, we got your message and will answer soon.")
    from plateaux.platform.auth.subject import Subject

    subject = Subject(tenant_id=world.tenant.id, kind="user", principal_id=world.admin.id,
                      role=world.admin.role, scopes=frozenset(), label="test",
                      user_id=world.admin.id)
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        mailbox = await email_service.create_mailbox(session, subject, body)
    CREATED.append((world.tenant.id, mailbox.id))
    return EmailWorld(world=world, queue=queue, agent=agent, mailbox=mailbox, login=login,
                      services=services, dovecot=dovecot)


# Mailboxes made by the running test: switched off when it ends, so no other process of the
# session (a live server, a routing floor) goes on watching them.
CREATED: list[tuple[uuid.UUID, uuid.UUID]] = []


async def switch_off_created(services: Services) -> None:
    from plateaux.channels.email.scheduler import notify

    while CREATED:
        tenant_id, mailbox_id = CREATED.pop()
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            mailbox = await session.get(Mailbox, mailbox_id)
            if mailbox is None or not mailbox.enabled:
                continue
            mailbox.enabled = False
            session.add(mailbox)
        await notify(services, tenant_id, mailbox_id)


def mail(*, sender: str = "Carol Customer <carol@example.org>", to: str = "support@acme.test",
         subject: str = "My order", text: str = "Where is my order?",
         message_id: str | None = "auto", in_reply_to: str | None = None,
         references: list[str] | None = None, headers: dict[str, str] | None = None,
         html: str | None = None, attachments: list[tuple[str, str, bytes]] | None = None,
         ) -> bytes:
    message = Mime()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    if message_id == "auto":
        message["Message-ID"] = make_msgid(domain="example.org")
    elif message_id is not None:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, kind, data in attachments or []:
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
