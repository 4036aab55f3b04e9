"""The embed's email form (a preformatted email): the same kind of contact as a mail.

When the tenant has a mailbox to answer from, a message left on the website becomes an
email thread (the visitor's address as the customer) with its first message, routed as an
"email" contact; the agent's answer goes out by mail from that mailbox, and the
customer's reply threads back. Without a mailbox, the chat channel keeps the message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.email import contacts
from plateaux.channels.email import events as ev
from plateaux.channels.email import repository as repo
from plateaux.channels.email.addresses import new_reply_token
from plateaux.channels.email.models import Direction, EmailMessage, EmailThread, Mailbox
from plateaux.channels.email.quoting import split_reply
from plateaux.channels.sanitize import render_text
from plateaux.embed import service as embed
from plateaux.embed.models import Visitor, Widget
from plateaux.platform.publish import publish


@dataclass(frozen=True, slots=True)
class LeftByEmail:
    thread_id: uuid.UUID
    contact_id: uuid.UUID


async def _mailbox_for(session: AsyncSession, widget: Widget) -> Mailbox | None:
    """The widget's chosen mailbox (email button's ``mailbox_id``), else the tenant's
    first enabled one."""
    chosen = ((widget.buttons or {}).get("email") or {}).get("mailbox_id")
    boxes = [m for m in await repo.mailboxes(session, widget.tenant_id) if m.enabled]
    for mailbox in boxes:
        if chosen and str(mailbox.id) == str(chosen):
            return mailbox
    return boxes[0] if boxes else None


async def leave_message(session: AsyncSession, widget: Widget, visitor: Visitor | None, *,
                        name: str, email: str, text: str,
                        subject: str | None = None) -> LeftByEmail | None:
    mailbox = await _mailbox_for(session, widget)
    if mailbox is None:
        return None
    address = email.strip().lower()
    title = (subject or "").strip() or f"Message from {widget.name}"
    thread = EmailThread(tenant_id=widget.tenant_id, mailbox_id=mailbox.id, subject=title[:500],
                         customer_address=address, customer_name=name.strip()[:200] or None,
                         reply_token=new_reply_token())
    session.add(thread)
    await session.flush()
    key = f"<form-{uuid.uuid4().hex}@{mailbox.address.rpartition('@')[2]}>"
    split = split_reply(text)
    message = EmailMessage(
        tenant_id=widget.tenant_id, thread_id=thread.id, mailbox_id=mailbox.id,
        direction=Direction.IN.value, message_key=key, message_id=key, synthetic_id=True,
        from_address=address, from_name=thread.customer_name, to=[mailbox.address],
        subject=thread.subject, text=text, new_text=split.new, quoted_text=split.quoted,
        signature=split.signature, html=render_text(text), size=len(text))
    session.add(message)
    thread.message_count = 1
    extra: dict[str, Any] = {"mailbox": mailbox.address, "site_key": widget.public_key,
                             "site_name": widget.name, "source": "form"}
    if visitor is not None:
        extra.update(visitor_id=str(visitor.id), current_page=visitor.current_url,
                     current_title=visitor.current_title, language=visitor.language)
    button = embed.button_target(widget, "email")
    target = button or contacts.target_of(mailbox.queue_id, mailbox.workflow_id)
    contact = await contacts.open_contact(session, thread, target=target, source=widget.id,
                                          extra=extra)
    await session.flush()
    publish(session, widget.tenant_id, ev.MESSAGE, ev.message_frame(message),
            audience=ev.thread_audience(thread.id))
    return LeftByEmail(thread_id=thread.id, contact_id=contact.id)
