"""Mail we send: agents' replies and acknowledgements, stored in their thread first and
sent by a job after the commit (retried with backoff; a failure stays on the message).

Every message carries Message-ID, In-Reply-To and References so the customer's client
threads it, and a Reply-To with the thread's reply token so the answer finds the thread
even when a client drops those headers. Acknowledgements are marked ``Auto-Submitted:
auto-replied`` (RFC 3834) and guarded against loops: never to automatic mail, a list, a
bounced or no-reply address, or one of our own mailboxes, and only a few an hour to one
address.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import formataddr, formatdate, make_msgid

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.email import events as ev
from plateaux.channels.email import repository as repo
from plateaux.channels.email.addresses import reply_address
from plateaux.channels.email.mime import ParsedMail
from plateaux.channels.email.models import (
    Direction,
    EmailAddress,
    EmailAttachment,
    EmailMessage,
    EmailThread,
    Mailbox,
    MessageStatus,
)
from plateaux.channels.email.settings import email_settings
from plateaux.channels.sanitize import render_text
from plateaux.platform.database import after_commit
from plateaux.platform.publish import publish
from plateaux.platform.types import utcnow

SEND_JOB = "email.send"
_NO_REPLY = re.compile(r"^(no-?reply|do-?not-?reply|donotreply|bounces?|mailer-daemon|"
                       r"postmaster)[^@]*@", re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|réf|ref)\s*:", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    subject = subject.strip() or "(no subject)"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def attachment_ref(attachment: EmailAttachment) -> dict[str, object]:
    return {"id": str(attachment.id), "name": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "inline": attachment.inline, "content_id": attachment.content_id}


def send_job_id(message_id: uuid.UUID | str) -> str:
    return f"email-send:{message_id}"


def enqueue_send(session: AsyncSession, message: EmailMessage) -> None:
    services = session.info.get("services")
    tenant_id, message_id = str(message.tenant_id), str(message.id)
    # One job per message queued or running at a time: a second enqueue (a sweep, a
    # retry asked twice) never makes a second sender.
    job_id = send_job_id(message_id)

    async def enqueue() -> None:
        if services is not None:
            await services.jobs.enqueue(SEND_JOB, job_id=job_id, tenant_id=tenant_id,
                                        message_id=message_id)

    after_commit(session, enqueue)


async def create_outbound(session: AsyncSession, thread: EmailThread, mailbox: Mailbox, *,
                          text: str, kind: str = "message", subject: str | None = None,
                          cc: list[str] | None = None, author_id: uuid.UUID | None = None,
                          author_name: str | None = None, client_id: str | None = None,
                          attachments: list[EmailAttachment] | None = None) -> EmailMessage:
    """Store a message to the thread's customer and queue its sending."""
    parent = await repo.last_inbound(session, thread.tenant_id, thread.id)
    domain = mailbox.address.rpartition("@")[2] or "plateaux.invalid"
    message_id = make_msgid(domain=domain)
    references = [*(parent.references if parent else []),
                  *([parent.message_key] if parent else [])]
    message = EmailMessage(
        tenant_id=thread.tenant_id, thread_id=thread.id, mailbox_id=mailbox.id,
        direction=Direction.OUT.value, kind=kind, message_key=message_id,
        message_id=message_id, in_reply_to=parent.message_key if parent else None,
        references=list(dict.fromkeys(references))[-20:], from_address=mailbox.address,
        from_name=mailbox.display_name or mailbox.name, to=[thread.customer_address],
        cc=cc or [], subject=subject or reply_subject(thread.subject), text=text,
        new_text=text, html=render_text(text), status=MessageStatus.QUEUED.value,
        author_id=author_id, author_name=author_name, client_id=client_id,
        attachments=[attachment_ref(a) for a in attachments or []])
    session.add(message)
    await session.flush()
    for attachment in attachments or []:
        attachment.message_id = message.id
        session.add(attachment)
    thread.message_count += 1
    thread.last_message_at = utcnow()
    session.add(thread)
    await session.flush()
    publish(session, thread.tenant_id, ev.MESSAGE, ev.message_frame(message),
            audience=ev.thread_audience(thread.id))
    enqueue_send(session, message)
    return message


def build_mime(message: EmailMessage, thread: EmailThread | None, mailbox: Mailbox,
               files: list[tuple[EmailAttachment, bytes]]) -> MimeMessage:
    mime = MimeMessage()
    mime["From"] = formataddr((message.from_name or "", mailbox.address))
    if thread is not None:
        mime["Reply-To"] = formataddr((message.from_name or "",
                                       reply_address(mailbox.address, thread.reply_token)))
    mime["To"] = ", ".join(message.to)
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
    mime["Message-ID"] = message.message_id
    if message.in_reply_to:
        mime["In-Reply-To"] = message.in_reply_to
    if message.references:
        mime["References"] = " ".join(message.references)
    if message.kind == "ack":
        mime["Auto-Submitted"] = "auto-replied"
        mime["X-Auto-Response-Suppress"] = "All"
    mime.set_content(message.text)
    if message.html:
        mime.add_alternative(f"<!doctype html><html><body>{message.html}</body></html>",
                             subtype="html")
    for attachment, data in files:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(data, maintype=maintype or "application",
                            subtype=subtype or "octet-stream", filename=attachment.filename)
    return mime


# --- acknowledgements ----------------------------------------------------------------------


def _fill(template: str, parsed: ParsedMail) -> str:
    return (template.replace("{subject}", parsed.subject or "")
            .replace("{name}", parsed.from_name or ""))


async def acknowledge(session: AsyncSession, mailbox: Mailbox, thread: EmailThread,
                      parsed: ParsedMail, own: frozenset[str]) -> EmailMessage | None:
    """The mailbox's acknowledgement of a new thread, when every loop guard allows."""
    if not mailbox.ack_enabled or parsed.auto_kind is not None or not mailbox.ack_text.strip():
        return None
    to = thread.customer_address
    if to in own or _NO_REPLY.match(to):
        return None
    record = await repo.address(session, thread.tenant_id, to)
    if record is None:
        record = EmailAddress(tenant_id=thread.tenant_id, address=to)
    if record.bounced_at is not None:
        return None
    now = utcnow()
    if record.acks_window_at is None or now - record.acks_window_at >= timedelta(hours=1):
        record.acks_window_at, record.acks_in_window = now, 0
    if record.acks_in_window >= email_settings().acks_per_hour:
        return None
    record.acks_in_window += 1
    record.updated_at = now
    session.add(record)
    subject = _fill(mailbox.ack_subject, parsed).strip() or None
    return await create_outbound(session, thread, mailbox, text=_fill(mailbox.ack_text, parsed),
                                 kind="ack", subject=subject,
                                 author_name=mailbox.display_name or mailbox.name)


async def mark_bounced(session: AsyncSession, tenant_id: uuid.UUID, addresses: list[str],
                       reason: str | None) -> None:
    now = utcnow()
    for value in addresses:
        record = await repo.address(session, tenant_id, value)
        if record is None:
            record = EmailAddress(tenant_id=tenant_id, address=value.lower())
        record.bounce_count += 1
        record.bounced_at = now
        record.bounce_reason = (reason or "")[:500] or None
        record.updated_at = now
        session.add(record)
