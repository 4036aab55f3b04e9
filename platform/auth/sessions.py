"""Console sessions: opaque cookies whose hash is stored, bound to a tenant.

The cookie value is ``<tenant id>.<token>``: the tenant part lets the lookup run under that
tenant's row-level security; the token part is only ever compared by hash.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth.models import Operator, OperatorSession, UserSession
from plateaux.platform.database import bind_tenant
from plateaux.platform.security import hash_token, new_token
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant, TenantStatus, User

USER_COOKIE = "plateaux_session"
OPERATOR_COOKIE = "plateaux_operator"


async def open_user_session(
    session: AsyncSession,
    user: User,
    *,
    max_age: int,
    ip: str = "",
    user_agent: str = "",
    mfa_pending: bool = False,
) -> str:
    token = new_token()
    now = utcnow()
    session.add(
        UserSession(
            tenant_id=user.tenant_id,
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=max_age),
            ip=ip[:64],
            user_agent=user_agent[:400],
            mfa_pending=mfa_pending,
        )
    )
    await session.flush()
    return f"{user.tenant_id}.{token}"


def split_cookie(value: str) -> tuple[uuid.UUID, str] | None:
    tenant_part, _, token = value.partition(".")
    if not token:
        return None
    try:
        return uuid.UUID(tenant_part), token
    except ValueError:
        return None


async def resolve_user_session(
    session: AsyncSession, cookie: str, *, allow_mfa_pending: bool = False
) -> tuple[Tenant, User, UserSession] | None:
    parts = split_cookie(cookie)
    if parts is None:
        return None
    tenant_id, token = parts
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    await bind_tenant(session, tenant.id)
    row = (
        await session.execute(
            select(UserSession, User)
            .join(User, col(User.id) == col(UserSession.user_id))
            .where(UserSession.tenant_id == tenant.id, UserSession.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        return None
    user_session, user = row
    now = utcnow()
    if user_session.expires_at <= now or not user.is_active:
        return None
    if user_session.mfa_pending and not allow_mfa_pending:
        return None
    if (now - user_session.last_seen_at).total_seconds() > 60:
        user_session.last_seen_at = now
    return tenant, user, user_session


async def close_user_session(session: AsyncSession, user_session: UserSession) -> None:
    await session.delete(user_session)
    await session.flush()


async def end_other_sessions(session: AsyncSession, user: User, *, keep_hash: str | None) -> None:
    """End every session of ``user`` but the current one (after a password change)."""
    stmt = delete(UserSession).where(
        col(UserSession.tenant_id) == user.tenant_id, col(UserSession.user_id) == user.id
    )
    if keep_hash is not None:
        stmt = stmt.where(col(UserSession.token_hash) != keep_hash)
    await session.execute(stmt)


async def open_operator_session(
    session: AsyncSession, operator: Operator, *, max_age: int, mfa_pending: bool = False
) -> str:
    token = new_token()
    now = utcnow()
    session.add(
        OperatorSession(
            operator_id=operator.id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=max_age),
            mfa_pending=mfa_pending,
        )
    )
    await session.flush()
    return token


async def resolve_operator_session(
    session: AsyncSession, token: str, *, allow_mfa_pending: bool = False
) -> tuple[Operator, OperatorSession] | None:
    row = (
        await session.execute(
            select(OperatorSession, Operator)
            .join(Operator, col(Operator.id) == col(OperatorSession.operator_id))
            .where(OperatorSession.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        return None
    op_session, operator = row
    if op_session.expires_at <= utcnow():
        return None
    if op_session.mfa_pending and not allow_mfa_pending:
        return None
    return operator, op_session


def tenant_is_usable(tenant: Tenant) -> bool:
    return tenant.status == TenantStatus.ACTIVE
