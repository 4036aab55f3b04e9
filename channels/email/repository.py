"""Every email query, each scoped to the tenant it is given."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.email.models import (
    EmailAddress,
    EmailAttachment,
    EmailMessage,
    EmailQuarantine,
    EmailReceipt,
    EmailReference,
    EmailThread,
    Mailbox,
)
from plateaux.platform.errors import NotFound


async def mailboxes(session: AsyncSession, tenant_id: uuid.UUID) -> list[Mailbox]:
    return list((await session.scalars(select(Mailbox).where(
        Mailbox.tenant_id == tenant_id).order_by(col(Mailbox.name)))).all())


async def get_mailbox(session: AsyncSession, tenant_id: uuid.UUID,
                      mailbox_id: uuid.UUID, *, lock: bool = False) -> Mailbox:
    query = select(Mailbox).where(Mailbox.tenant_id == tenant_id, Mailbox.id == mailbox_id)
    if lock:
        # Ingestion into one mailbox is serialised (on PostgreSQL; SQLite has one writer):
        # two fetchers at once then thread the same way as one.
        query = query.with_for_update()
    found = (await session.scalars(query)).first()
    if found is None:
        raise NotFound("Mailbox not found.")
    return found


async def own_addresses(session: AsyncSession, tenant_id: uuid.UUID) -> frozenset[str]:
    rows = await session.scalars(select(Mailbox.address).where(Mailbox.tenant_id == tenant_id))
    return frozenset(address.lower() for address in rows.all())


async def receipt(session: AsyncSession, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                  uid_validity: int, uid: int) -> EmailReceipt | None:
    return (await session.scalars(select(EmailReceipt).where(
        EmailReceipt.tenant_id == tenant_id, EmailReceipt.mailbox_id == mailbox_id,
        EmailReceipt.uid_validity == uid_validity, EmailReceipt.uid == uid))).first()


async def message_by_key(session: AsyncSession, tenant_id: uuid.UUID,
                         key: str) -> EmailMessage | None:
    return (await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.message_key == key))).first()


async def known_keys(session: AsyncSession, tenant_id: uuid.UUID,
                     keys: Sequence[str]) -> set[str]:
    if not keys:
        return set()
    rows = await session.scalars(select(EmailMessage.message_key).where(
        EmailMessage.tenant_id == tenant_id, col(EmailMessage.message_key).in_(list(keys))))
    return set(rows.all())


async def thread_by_token(session: AsyncSession, tenant_id: uuid.UUID,
                          tokens: Sequence[str]) -> EmailThread | None:
    if not tokens:
        return None
    return (await session.scalars(select(EmailThread).where(
        EmailThread.tenant_id == tenant_id, col(EmailThread.reply_token).in_(list(tokens)))
        .order_by(col(EmailThread.created_at)))).first()


async def related_thread(session: AsyncSession, tenant_id: uuid.UUID, key: str,
                         references: Sequence[str]) -> EmailThread | None:
    """The oldest thread holding a message this one names, a message naming this one (a
    reply that came first), or a message naming what this one names (a sibling)."""
    thread_ids: set[uuid.UUID] = set()
    if references:
        named = await session.scalars(select(EmailMessage.thread_id).where(
            EmailMessage.tenant_id == tenant_id,
            col(EmailMessage.message_key).in_(list(references)),
            col(EmailMessage.thread_id).is_not(None)))
        thread_ids.update(t for t in named.all() if t is not None)
    keys = [key, *references]
    naming = await session.scalars(select(EmailReference.thread_id).where(
        EmailReference.tenant_id == tenant_id, col(EmailReference.key).in_(keys)))
    thread_ids.update(naming.all())
    if not thread_ids:
        return None
    return (await session.scalars(select(EmailThread).where(
        EmailThread.tenant_id == tenant_id, col(EmailThread.id).in_(list(thread_ids)))
        .order_by(col(EmailThread.created_at)))).first()


async def get_thread(session: AsyncSession, tenant_id: uuid.UUID,
                     thread_id: uuid.UUID) -> EmailThread:
    found = (await session.scalars(select(EmailThread).where(
        EmailThread.tenant_id == tenant_id, EmailThread.id == thread_id))).first()
    if found is None:
        raise NotFound("Email thread not found.")
    return found


async def thread_of_contact(session: AsyncSession, tenant_id: uuid.UUID,
                            contact_id: uuid.UUID) -> EmailThread | None:
    return (await session.scalars(select(EmailThread).where(
        EmailThread.tenant_id == tenant_id, EmailThread.contact_id == contact_id))).first()


async def thread_messages(session: AsyncSession, tenant_id: uuid.UUID,
                          thread_id: uuid.UUID) -> list[EmailMessage]:
    return list((await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.thread_id == thread_id)
        .order_by(col(EmailMessage.created_at), col(EmailMessage.id)))).all())


async def get_message(session: AsyncSession, tenant_id: uuid.UUID,
                      message_id: uuid.UUID) -> EmailMessage:
    found = (await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.id == message_id))).first()
    if found is None:
        raise NotFound("Email message not found.")
    return found


async def message_by_client_id(session: AsyncSession, tenant_id: uuid.UUID,
                               thread_id: uuid.UUID, client_id: str) -> EmailMessage | None:
    return (await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.thread_id == thread_id,
        EmailMessage.client_id == client_id))).first()


async def last_inbound(session: AsyncSession, tenant_id: uuid.UUID,
                       thread_id: uuid.UUID) -> EmailMessage | None:
    return (await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.thread_id == thread_id,
        EmailMessage.direction == "in", col(EmailMessage.auto_kind).is_(None))
        .order_by(col(EmailMessage.created_at).desc()))).first()


async def attachments(session: AsyncSession, tenant_id: uuid.UUID,
                      thread_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[EmailAttachment]:
    if not ids:
        return []
    return list((await session.scalars(select(EmailAttachment).where(
        EmailAttachment.tenant_id == tenant_id, EmailAttachment.thread_id == thread_id,
        col(EmailAttachment.id).in_(list(ids))))).all())


async def message_attachments(session: AsyncSession, tenant_id: uuid.UUID,
                              message_id: uuid.UUID) -> list[EmailAttachment]:
    return list((await session.scalars(select(EmailAttachment).where(
        EmailAttachment.tenant_id == tenant_id,
        EmailAttachment.message_id == message_id))).all())


async def get_attachment(session: AsyncSession, tenant_id: uuid.UUID,
                         attachment_id: uuid.UUID) -> EmailAttachment:
    found = (await session.scalars(select(EmailAttachment).where(
        EmailAttachment.tenant_id == tenant_id, EmailAttachment.id == attachment_id))).first()
    if found is None:
        raise NotFound("Attachment not found.")
    return found


async def address(session: AsyncSession, tenant_id: uuid.UUID, value: str,
                  ) -> EmailAddress | None:
    return (await session.scalars(select(EmailAddress).where(
        EmailAddress.tenant_id == tenant_id, EmailAddress.address == value.lower()))).first()


async def bounced_addresses(session: AsyncSession, tenant_id: uuid.UUID,
                            ) -> list[EmailAddress]:
    return list((await session.scalars(select(EmailAddress).where(
        EmailAddress.tenant_id == tenant_id, col(EmailAddress.bounced_at).is_not(None))
        .order_by(col(EmailAddress.bounced_at).desc()).limit(200))).all())


async def quarantined(session: AsyncSession, tenant_id: uuid.UUID, *,
                      status: str = "held") -> list[EmailQuarantine]:
    return list((await session.scalars(select(EmailQuarantine).where(
        EmailQuarantine.tenant_id == tenant_id, EmailQuarantine.status == status)
        .order_by(col(EmailQuarantine.created_at).desc()).limit(200))).all())


async def get_quarantined(session: AsyncSession, tenant_id: uuid.UUID,
                          quarantine_id: uuid.UUID) -> EmailQuarantine:
    found = (await session.scalars(select(EmailQuarantine).where(
        EmailQuarantine.tenant_id == tenant_id, EmailQuarantine.id == quarantine_id))).first()
    if found is None:
        raise NotFound("Quarantined message not found.")
    return found


async def messages_since(session: AsyncSession, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                         since: datetime) -> int:
    rows = await session.scalars(select(EmailMessage.id).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.mailbox_id == mailbox_id,
        EmailMessage.created_at >= since))
    return len(rows.all())


async def stuck_outbound(session: AsyncSession, tenant_id: uuid.UUID,
                         before: datetime) -> list[EmailMessage]:
    """Outgoing messages still queued or sending since before ``before``."""
    return list((await session.scalars(select(EmailMessage).where(
        EmailMessage.tenant_id == tenant_id, EmailMessage.direction == "out",
        col(EmailMessage.status).in_(["queued", "sending"]),
        EmailMessage.created_at < before).limit(500))).all())
