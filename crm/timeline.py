"""A person's history across media, newest first: every contact (chats, forms, emails,
calls, callbacks) with what it was about, the notes, and the pages they viewed.

Sources are pluggable: another package adds its own items (the help desk's cases) with
:func:`register_source`; each source returns items for the person, and the timeline
merges them by time.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation, ConversationMessage
from plateaux.channels.email.models import EmailThread
from plateaux.channels.voip.models import Call
from plateaux.crm import repository as repo
from plateaux.crm.models import IdentityKind
from plateaux.crm.schemas import PageViewOut, TimelineItemOut
from plateaux.embed.models import PageView
from plateaux.routing.models import Contact
from plateaux.tenants.models import User

Source = Callable[[AsyncSession, uuid.UUID, uuid.UUID, int], Awaitable[list[TimelineItemOut]]]
SOURCES: list[Source] = []
CHANNEL_TITLES = {"chat": "Chat", "form": "Message left", "email": "Email",
                  "phone": "Call", "webcall": "Web call", "callback": "Callback",
                  "video": "Video call"}


def register_source(source: Source) -> Source:
    """``async def source(session, tenant_id, person_id, limit) -> list[TimelineItemOut]``."""
    SOURCES.append(source)
    return source


def _snippet(text: str, size: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"


@register_source
async def contacts_source(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                          limit: int) -> list[TimelineItemOut]:
    contacts = list((await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id, col(Contact.person_id) == person_id)
        .order_by(col(Contact.created_at).desc()).limit(limit))).all())
    if not contacts:
        return []
    ids = [c.id for c in contacts]
    conversations = {c.contact_id: c for c in (await session.scalars(select(Conversation).where(
        col(Conversation.tenant_id) == tenant_id, col(Conversation.contact_id).in_(ids)))).all()}
    first_lines: dict[uuid.UUID, str] = {}
    if conversations:
        rows = (await session.execute(select(
            ConversationMessage.conversation_id, ConversationMessage.text).where(
            col(ConversationMessage.tenant_id) == tenant_id,
            col(ConversationMessage.conversation_id).in_([c.id for c in conversations.values()]),
            col(ConversationMessage.author_type) == "visitor",
            col(ConversationMessage.kind) == "message")
            .order_by(col(ConversationMessage.seq)))).all()
        for conversation_id, text in rows:
            first_lines.setdefault(conversation_id, text)
    counts = dict((await session.execute(select(
        ConversationMessage.conversation_id, func.count()).where(
        col(ConversationMessage.tenant_id) == tenant_id,
        col(ConversationMessage.conversation_id).in_([c.id for c in conversations.values()]),
        col(ConversationMessage.kind) == "message")
        .group_by(col(ConversationMessage.conversation_id)))).all()) if conversations else {}
    # An email thread points at its latest contact; earlier contacts of the same thread
    # carry the thread's id in their attributes.
    thread_ids = {uuid.UUID(str(c.attributes["email_thread_id"])) for c in contacts
                  if isinstance(c.attributes, dict) and c.attributes.get("email_thread_id")}
    threads = {t.id: t for t in (await session.scalars(select(EmailThread).where(
        col(EmailThread.tenant_id) == tenant_id, col(EmailThread.id).in_(list(thread_ids))))
    ).all()} if thread_ids else {}
    calls = {c.contact_id: c for c in (await session.scalars(select(Call).where(
        col(Call.tenant_id) == tenant_id, col(Call.contact_id).in_(ids)))).all()}
    agent_ids = {c.agent_id for c in contacts if c.agent_id}
    agents = {u.id: u.name for u in (await session.scalars(select(User).where(
        col(User.tenant_id) == tenant_id, col(User.id).in_(list(agent_ids))))).all()
    } if agent_ids else {}
    items = []
    for contact in contacts:
        attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
        title = CHANNEL_TITLES.get(contact.channel, contact.channel)
        summary = ""
        ref: dict[str, object] = {}
        conversation = conversations.get(contact.id)
        if conversation is not None:
            ref["conversation_id"] = str(conversation.id)
            summary = _snippet(first_lines.get(conversation.id, ""))
            ref["messages"] = counts.get(conversation.id, 0)
            if conversation.rating is not None:
                ref["rating"] = conversation.rating
        thread_id = attributes.get("email_thread_id")
        thread = threads.get(uuid.UUID(str(thread_id))) if thread_id else None
        if thread is not None:
            ref["email_thread_id"] = str(thread.id)
            summary = _snippet(thread.subject)
            if attributes.get("source") == "form":
                title = "Web form"
        call = calls.get(contact.id)
        if call is not None:
            ref["call_id"] = str(call.id)
            ref["call_kind"] = call.kind
            if call.answered_at and call.ended_at:
                ref["seconds"] = round((call.ended_at - call.answered_at).total_seconds())
            summary = call.outcome or call.status
            if call.kind == "callback":
                title = "Callback"
        if contact.agent_id in agents:
            ref["agent"] = agents[contact.agent_id]
        if attributes.get("current_page"):
            ref["page"] = str(attributes["current_page"])[:500]
        items.append(TimelineItemOut(
            at=contact.created_at, kind="contact", channel=contact.channel, title=title,
            summary=summary, contact_id=contact.id,
            status=contact.outcome or contact.status, ref=ref))
    return items


@register_source
async def notes_source(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                       limit: int) -> list[TimelineItemOut]:
    return [TimelineItemOut(at=n.created_at, kind="note", title=f"Note by {n.author_name}",
                            summary=_snippet(n.body, 400), ref={"note_id": str(n.id)})
            for n in (await repo.notes_of(session, tenant_id, person_id))[:limit]]


async def timeline(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, *,
                   limit: int = 100, before: datetime | None = None) -> list[TimelineItemOut]:
    items: list[TimelineItemOut] = []
    for source in SOURCES:
        items.extend(await source(session, tenant_id, person_id, limit))
    if before is not None:
        items = [i for i in items if i.at < before]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


async def pages_viewed(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, *,
                       limit: int = 30) -> list[PageViewOut]:
    """The pages the person's browsers viewed, newest first."""
    visitors = [uuid.UUID(i.value) for i in await repo.identities_of(
        session, tenant_id, [person_id]) if i.kind == IdentityKind.VISITOR.value]
    if not visitors:
        return []
    views = (await session.scalars(select(PageView).where(
        col(PageView.tenant_id) == tenant_id, col(PageView.visitor_id).in_(visitors))
        .order_by(col(PageView.at).desc()).limit(limit))).all()
    return [PageViewOut(url=v.url, title=v.title, at=v.at) for v in views]
