"""Every query about conversations, their messages and attachments. Each takes the tenant
explicitly and filters on it, on top of row-level security."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Attachment, Conversation, ConversationMessage
from plateaux.platform.errors import NotFound

# A resuming client gets at most this many messages per read; it reads again from the
# last one it got (the WebSocket does so until it has caught up).
PAGE = 500


async def get_conversation(session: AsyncSession, tenant_id: uuid.UUID,
                           conversation_id: uuid.UUID) -> Conversation:
    found = (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.id == conversation_id))).first()
    if found is None:
        raise NotFound("Conversation not found.")
    return found


async def conversation_of_contact(session: AsyncSession, tenant_id: uuid.UUID,
                                  contact_id: uuid.UUID) -> Conversation | None:
    return (await session.scalars(select(Conversation).where(
        Conversation.tenant_id == tenant_id, Conversation.contact_id == contact_id))).first()


async def allocate_seq(session: AsyncSession, tenant_id: uuid.UUID,
                       conversation_id: uuid.UUID) -> int:
    """The next sequence number of the conversation, taken in the current transaction.

    The UPDATE locks the conversation's row until the transaction ends, so concurrent
    writers take numbers one after the other; a transaction that rolls back gives its
    number back with it (no gap, no duplicate).
    """
    statement = (
        update(Conversation)
        .where(col(Conversation.tenant_id) == tenant_id, col(Conversation.id) == conversation_id)
        .values(last_seq=col(Conversation.last_seq) + 1)
        .returning(col(Conversation.last_seq))
        .execution_options(synchronize_session=False)
    )
    seq = (await session.execute(statement)).scalar_one_or_none()
    if seq is None:
        raise NotFound("Conversation not found.")
    return int(seq)


async def message_by_client_id(session: AsyncSession, tenant_id: uuid.UUID,
                               conversation_id: uuid.UUID,
                               client_id: str) -> ConversationMessage | None:
    return (await session.scalars(select(ConversationMessage).where(
        ConversationMessage.tenant_id == tenant_id,
        ConversationMessage.conversation_id == conversation_id,
        ConversationMessage.client_id == client_id))).first()


async def messages_after(session: AsyncSession, tenant_id: uuid.UUID,
                         conversation_id: uuid.UUID, after: int, *,
                         kinds: Iterable[str] | None = None,
                         limit: int = PAGE) -> list[ConversationMessage]:
    query = select(ConversationMessage).where(
        ConversationMessage.tenant_id == tenant_id,
        ConversationMessage.conversation_id == conversation_id,
        col(ConversationMessage.seq) > after)
    if kinds is not None:
        query = query.where(col(ConversationMessage.kind).in_(list(kinds)))
    query = query.order_by(col(ConversationMessage.seq)).limit(limit)
    return list((await session.scalars(query)).all())


async def get_attachment(session: AsyncSession, tenant_id: uuid.UUID,
                         conversation_id: uuid.UUID, attachment_id: uuid.UUID) -> Attachment:
    found = (await session.scalars(select(Attachment).where(
        Attachment.tenant_id == tenant_id, Attachment.conversation_id == conversation_id,
        Attachment.id == attachment_id))).first()
    if found is None:
        raise NotFound("Attachment not found.")
    return found


async def attachments_by_id(session: AsyncSession, tenant_id: uuid.UUID,
                            conversation_id: uuid.UUID,
                            ids: list[uuid.UUID]) -> list[Attachment]:
    if not ids:
        return []
    rows = (await session.scalars(select(Attachment).where(
        Attachment.tenant_id == tenant_id, Attachment.conversation_id == conversation_id,
        col(Attachment.id).in_(ids)))).all()
    return list(rows)
