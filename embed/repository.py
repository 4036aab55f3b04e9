"""Every query about widgets, visitors and page views. Each takes the tenant explicitly
and filters on it, on top of row-level security."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.embed.models import PageView, Visitor, Widget
from plateaux.platform.errors import NotFound


async def get_widget(session: AsyncSession, tenant_id: uuid.UUID, widget_id: uuid.UUID) -> Widget:
    widget = (
        await session.scalars(
            select(Widget).where(Widget.tenant_id == tenant_id, Widget.id == widget_id)
        )
    ).first()
    if widget is None:
        raise NotFound("Widget not found.")
    return widget


async def find_widget_by_key(
    session: AsyncSession, tenant_id: uuid.UUID, public_key: str
) -> Widget | None:
    result = await session.scalars(
        select(Widget).where(Widget.tenant_id == tenant_id, Widget.public_key == public_key)
    )
    return result.first()


async def list_widgets(
    session: AsyncSession, tenant_id: uuid.UUID, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Widget], int]:
    base = select(Widget).where(Widget.tenant_id == tenant_id)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(col(Widget.name), col(Widget.id)).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


async def find_visitor(
    session: AsyncSession, tenant_id: uuid.UUID, widget_id: uuid.UUID, token_hash: str
) -> Visitor | None:
    result = await session.scalars(
        select(Visitor).where(
            Visitor.tenant_id == tenant_id,
            Visitor.widget_id == widget_id,
            Visitor.token_hash == token_hash,
        )
    )
    return result.first()


async def get_visitor(
    session: AsyncSession, tenant_id: uuid.UUID, visitor_id: uuid.UUID
) -> Visitor:
    visitor = (
        await session.scalars(
            select(Visitor).where(Visitor.tenant_id == tenant_id, Visitor.id == visitor_id)
        )
    ).first()
    if visitor is None:
        raise NotFound("Visitor not found.")
    return visitor


async def recent_page_views(
    session: AsyncSession, tenant_id: uuid.UUID, visitor_id: uuid.UUID, *, limit: int = 20
) -> list[PageView]:
    result = await session.scalars(
        select(PageView)
        .where(PageView.tenant_id == tenant_id, PageView.visitor_id == visitor_id)
        .order_by(col(PageView.at).desc(), col(PageView.id).desc())
        .limit(limit)
    )
    return list(result.all())


async def serves_visitor(session: AsyncSession, tenant_id: uuid.UUID, visitor_id: uuid.UUID,
                         agent_id: uuid.UUID) -> bool:
    """Whether the agent handles an open conversation of this visitor."""
    from plateaux.channels.chat.models import Conversation
    from plateaux.routing.models import Contact

    found = (await session.scalars(
        select(Conversation.id).join(Contact, col(Contact.id) == col(Conversation.contact_id))
        .where(Conversation.tenant_id == tenant_id, Conversation.visitor_id == visitor_id,
               Conversation.status == "open", Contact.tenant_id == tenant_id,
               Contact.agent_id == agent_id).limit(1))).first()
    return found is not None
