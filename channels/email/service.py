"""Email rules: mailboxes (credentials encrypted at rest, a connection test that says what
failed), who may read and answer a thread, replies and their files, retries, the
quarantine and bounced addresses.

Services flush, they do not commit; sending and the scheduler hear of changes after the
commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.service import supervises
from plateaux.channels.email import repository as repo
from plateaux.channels.email.fetcher import imap_config
from plateaux.channels.email.imap import imap_session
from plateaux.channels.email.ingest import storage_of
from plateaux.channels.email.models import (
    EmailAttachment,
    EmailMessage,
    EmailQuarantine,
    EmailThread,
    Mailbox,
    MessageStatus,
    Security,
)
from plateaux.channels.email.net import ConnectionProblem
from plateaux.channels.email.outbound import create_outbound, enqueue_send
from plateaux.channels.email.schemas import (
    ConnectionReport,
    ConnectionStep,
    MailboxIn,
    MailboxPatch,
    MessageOut,
    ThreadOut,
)
from plateaux.channels.email.sending import smtp_check
from plateaux.channels.email.settings import email_settings
from plateaux.channels.storage import StorageError, new_key
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import after_commit, savepoint
from plateaux.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnprocessableContent,
)
from plateaux.platform.security import encrypt_secret
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing import contact_service
from plateaux.routing.models import Contact, RoutingQueue, RoutingWorkflow
from plateaux.routing.state import ContactStatus
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import User

SECRET_FIELDS = {"imap_password": "imap_password_encrypted",
                 "smtp_password": "smtp_password_encrypted"}


def services_of(session: AsyncSession) -> Services:
    services: Services | None = session.info.get("services")
    if services is None:
        raise RuntimeError("the session has no services attached")
    return services


def _notify_scheduler(session: AsyncSession, tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> None:
    services = services_of(session)

    async def tell() -> None:
        from plateaux.channels.email.scheduler import notify

        await notify(services, tenant_id, mailbox_id)

    after_commit(session, tell)


async def _check_target(session: AsyncSession, tenant_id: uuid.UUID,
                        queue_id: uuid.UUID | None, workflow_id: uuid.UUID | None) -> None:
    for model, value, what in ((RoutingQueue, queue_id, "queue"),
                               (RoutingWorkflow, workflow_id, "workflow")):
        if value is None:
            continue
        found = (await session.scalars(select(model.id).where(
            col(model.tenant_id) == tenant_id, col(model.id) == value))).first()
        if found is None:
            raise UnprocessableContent(f"Unknown {what} {value}.")


def _check_security(mailbox: Mailbox) -> None:
    if email_settings().allow_private_hosts:
        return
    if mailbox.imap_security == Security.NONE or mailbox.smtp_security == Security.NONE:
        raise UnprocessableContent("Plain-text connections are refused: the password would "
                                   "cross the network readable. Use TLS.")


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with savepoint(session):
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("Another mailbox already answers as this address.") from exc


async def create_mailbox(session: AsyncSession, subject: Subject, body: MailboxIn) -> Mailbox:
    secret = services_of(session).settings.secret_key
    await _check_target(session, subject.tenant_id, body.queue_id, body.workflow_id)
    values = body.model_dump(exclude=set(SECRET_FIELDS))
    values["address"] = str(body.address).lower()
    mailbox = Mailbox(tenant_id=subject.tenant_id, **values,
                      imap_password_encrypted=encrypt_secret(secret, body.imap_password),
                      smtp_password_encrypted=(encrypt_secret(secret, body.smtp_password)
                                               if body.smtp_password else ""))
    _check_security(mailbox)
    session.add(mailbox)
    await _flush_unique(session)
    tenant_service.audit(session, subject.tenant_id, actor=subject.label,
                         action="mailbox.created", target=mailbox.address)
    _notify_scheduler(session, subject.tenant_id, mailbox.id)
    return mailbox


async def update_mailbox(session: AsyncSession, subject: Subject, mailbox: Mailbox,
                         body: MailboxPatch) -> Mailbox:
    secret = services_of(session).settings.secret_key
    changes = body.model_dump(exclude_unset=True)
    if "queue_id" in changes or "workflow_id" in changes:
        await _check_target(session, subject.tenant_id, changes.get("queue_id"),
                            changes.get("workflow_id"))
    for name, value in changes.items():
        if name in SECRET_FIELDS:
            if value:
                setattr(mailbox, SECRET_FIELDS[name], encrypt_secret(secret, value))
            continue
        if value is None and name not in ("queue_id", "workflow_id"):
            continue
        setattr(mailbox, name, value.value if isinstance(value, Security) else value)
    if mailbox.queue_id is None and mailbox.workflow_id is None:
        raise UnprocessableContent("Name the queue or workflow that routes this mailbox's mail.")
    if mailbox.ack_enabled and not mailbox.ack_text.strip():
        raise UnprocessableContent("An acknowledgement needs a text.")
    _check_security(mailbox)
    mailbox.updated_at = utcnow()
    session.add(mailbox)
    await _flush_unique(session)
    tenant_service.audit(session, subject.tenant_id, actor=subject.label,
                         action="mailbox.updated", target=mailbox.address,
                         fields=sorted(changes))
    _notify_scheduler(session, subject.tenant_id, mailbox.id)
    return mailbox


async def delete_mailbox(session: AsyncSession, subject: Subject, mailbox: Mailbox) -> None:
    await session.delete(mailbox)
    await session.flush()
    tenant_service.audit(session, subject.tenant_id, actor=subject.label,
                         action="mailbox.deleted", target=mailbox.address)
    _notify_scheduler(session, subject.tenant_id, mailbox.id)


async def check_connection(services: Services, mailbox: Mailbox) -> ConnectionReport:
    """Log in to both servers and open the folder; each step's outcome, the failed one
    named by its stage (dns, address, connect, tls, login, folder)."""
    settings = email_settings()
    imap_steps: list[ConnectionStep] = []
    try:
        config = imap_config(services, mailbox)
        async with imap_session(config, allow_private=settings.allow_private_hosts,
                                timeout=settings.connect_timeout) as imap:
            imap_steps.append(ConnectionStep(stage="login", ok=True,
                                             detail=f"Logged in to {mailbox.imap_host}."))
            await imap.select(config.folder)
            imap_steps.append(ConnectionStep(stage="folder", ok=True,
                                             detail=f"Folder '{config.folder}' opened."))
    except ConnectionProblem as exc:
        imap_steps.append(ConnectionStep(stage=exc.stage, ok=False, detail=exc.detail))
    except ValueError as exc:
        imap_steps.append(ConnectionStep(stage="login", ok=False, detail=str(exc)))
    smtp_steps: list[ConnectionStep] = []
    try:
        await smtp_check(services, mailbox)
        smtp_steps.append(ConnectionStep(stage="login", ok=True,
                                         detail=f"Connected to {mailbox.smtp_host}."))
    except ConnectionProblem as exc:
        smtp_steps.append(ConnectionStep(stage=exc.stage, ok=False, detail=exc.detail))
    ok = all(step.ok for step in imap_steps + smtp_steps)
    return ConnectionReport(ok=ok, imap=imap_steps, smtp=smtp_steps)


# --- threads and who may act on them ------------------------------------------------------------


async def _serving_agent(session: AsyncSession, thread: EmailThread) -> uuid.UUID | None:
    if thread.contact_id is None:
        return None
    router = await contact_service.routing_of(session).router(thread.tenant_id)
    live = router.snapshot.contacts.get(str(thread.contact_id))
    if live is not None and live.agent_id is not None and live.status in (
            ContactStatus.ASSIGNED, ContactStatus.WRAP_UP):
        return uuid.UUID(live.agent_id)
    contact = await session.get(Contact, thread.contact_id)
    if contact is not None and contact.tenant_id == thread.tenant_id:
        return contact.agent_id
    return None


async def thread_for(session: AsyncSession, subject: Subject, thread_id: uuid.UUID,
                     ) -> EmailThread:
    """The thread, when ``subject`` serves its contact or supervises; else 403/404."""
    thread = await repo.get_thread(session, subject.tenant_id, thread_id)
    if supervises(subject):
        return thread
    if subject.user_id is None or subject.user_id != await _serving_agent(session, thread):
        raise Forbidden("Only the agent serving this email, or a supervisor, may.")
    return thread


async def thread_out(session: AsyncSession, thread: EmailThread) -> ThreadOut:
    messages = await repo.thread_messages(session, thread.tenant_id, thread.id)
    mailbox = (await session.get(Mailbox, thread.mailbox_id)) if thread.mailbox_id else None
    address = await repo.address(session, thread.tenant_id, thread.customer_address)
    return ThreadOut(
        id=thread.id, subject=thread.subject, customer_address=thread.customer_address,
        customer_name=thread.customer_name, contact_id=thread.contact_id,
        mailbox_address=mailbox.address if mailbox else None,
        customer_bounced=address is not None and address.bounced_at is not None,
        messages=[MessageOut.model_validate(m) for m in messages])


async def _author(session: AsyncSession, subject: Subject) -> str | None:
    if subject.user_id is None:
        return None
    user = await session.get(User, subject.user_id)
    return user.name if user is not None else None


async def reply(session: AsyncSession, subject: Subject, thread: EmailThread, *, text: str,
                cc: list[str], attachment_ids: list[uuid.UUID],
                client_id: str | None) -> tuple[EmailMessage, bool]:
    """The agent's answer, stored and queued for sending; (message, created). A resend
    with the same ``client_id`` is the message stored the first time."""
    if client_id is not None:
        existing = await repo.message_by_client_id(session, thread.tenant_id, thread.id,
                                                   client_id)
        if existing is not None:
            return existing, False
    if thread.mailbox_id is None:
        raise Conflict("The mailbox of this thread was deleted; nothing can be sent from it.")
    mailbox = await repo.get_mailbox(session, thread.tenant_id, thread.mailbox_id)
    ids = list(dict.fromkeys(attachment_ids))
    files = await repo.attachments(session, thread.tenant_id, thread.id, ids)
    if len(files) != len(ids) or any(f.message_id is not None for f in files):
        raise UnprocessableContent("Unknown attachment.")
    message = await create_outbound(
        session, thread, mailbox, text=text.strip(), cc=[str(c).lower() for c in cc],
        author_id=subject.user_id, author_name=await _author(session, subject),
        client_id=client_id, attachments=files)
    return message, True


async def upload(session: AsyncSession, thread: EmailThread, *, filename: str,
                 content_type: str, data: bytes) -> EmailAttachment:
    limit = email_settings().max_attachment_bytes
    if len(data) > limit:
        raise PayloadTooLarge(f"A file is at most {limit} bytes.")
    if not data:
        raise UnprocessableContent("The file is empty.")
    kind = content_type.split(";", 1)[0].strip().lower() or "application/octet-stream"
    if "/" not in kind or len(kind) > 100:
        kind = "application/octet-stream"
    key = new_key(thread.tenant_id, "email", str(thread.id))
    await storage_of(services_of(session)).put(key, data)
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip() or "file"
    attachment = EmailAttachment(tenant_id=thread.tenant_id, thread_id=thread.id,
                                 storage_key=key, filename=name[:200], content_type=kind,
                                 size=len(data))
    session.add(attachment)
    await session.flush()
    return attachment


async def read_file(session: AsyncSession, key: str) -> bytes:
    try:
        return await storage_of(services_of(session)).open(key)
    except StorageError as exc:
        raise NotFound("The stored file is gone.") from exc


async def retry(session: AsyncSession, message: EmailMessage) -> EmailMessage:
    if message.direction != "out" or message.status != MessageStatus.FAILED:
        raise Conflict("Only a message that failed to send can be sent again.")
    message.status, message.last_error = MessageStatus.QUEUED.value, None
    session.add(message)
    await session.flush()
    enqueue_send(session, message)
    return message


def message_dict(message: EmailMessage) -> dict[str, Any]:
    return MessageOut.model_validate(message).model_dump(mode="json")


# --- quarantine and addresses --------------------------------------------------------------


async def discard(session: AsyncSession, subject: Subject, held: EmailQuarantine) -> None:
    if held.status != "held":
        return
    held.status, held.resolved_at = "discarded", utcnow()
    session.add(held)
    tenant_service.audit(session, subject.tenant_id, actor=subject.label,
                         action="email.quarantine_discarded", target=held.sender or "")


async def clear_bounce(session: AsyncSession, subject: Subject, address: str) -> None:
    record = await repo.address(session, subject.tenant_id, address)
    if record is None or record.bounced_at is None:
        raise NotFound("That address is not marked as bouncing.")
    record.bounced_at, record.bounce_reason = None, None
    record.updated_at = utcnow()
    session.add(record)
    tenant_service.audit(session, subject.tenant_id, actor=subject.label,
                         action="email.bounce_cleared", target=record.address)
