"""Every tenant-scoped query about people. Each function takes the caller's tenant
(from the authenticated subject) and filters on it, on top of row-level security."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.errors import NotFound
from plateaux.tenants.models import AuditEntry, Invitation, Tenant, User


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    result = await session.scalars(select(Tenant).where(Tenant.slug == slug.lower().strip()))
    return result.first()


async def get_user(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = (
        await session.scalars(select(User).where(User.tenant_id == tenant_id, User.id == user_id))
    ).first()
    if user is None:
        raise NotFound("User not found.")
    return user


async def find_user_by_email(
    session: AsyncSession, tenant_id: uuid.UUID, email: str
) -> User | None:
    result = await session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.email == normalise_email(email))
    )
    return result.first()


async def list_users(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    offset: int = 0,
    limit: int = 50,
    role: str | None = None,
) -> tuple[Sequence[User], int]:
    base = select(User).where(User.tenant_id == tenant_id)
    if role:
        base = base.where(User.role == role)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(col(User.name), col(User.id)).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


async def count_users(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    value = await session.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id)
    )
    return int(value or 0)


async def find_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, token_hash: str
) -> Invitation | None:
    result = await session.scalars(
        select(Invitation).where(
            Invitation.tenant_id == tenant_id, Invitation.token_hash == token_hash
        )
    )
    return result.first()


async def list_invitations(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Invitation]:
    result = await session.scalars(
        select(Invitation)
        .where(Invitation.tenant_id == tenant_id, col(Invitation.accepted_at).is_(None))
        .order_by(col(Invitation.created_at).desc())
    )
    return result.all()


async def recent_audit(
    session: AsyncSession, tenant_id: uuid.UUID, *, limit: int = 50
) -> Sequence[AuditEntry]:
    result = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == tenant_id)
        .order_by(col(AuditEntry.created_at).desc())
        .limit(limit)
    )
    return result.all()


def normalise_email(email: str) -> str:
    return email.strip().lower()
