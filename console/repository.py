"""Queries for canned responses and wrap-up codes, always within the caller's tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.console.models import CannedResponse, WrapUpCode
from plateaux.tenants.admin_repository import get_owned


async def get_canned(session: AsyncSession, tenant_id: uuid.UUID,
                     canned_id: uuid.UUID) -> CannedResponse:
    return await get_owned(session, CannedResponse, tenant_id, canned_id,
                           what="Canned response")


async def all_canned(session: AsyncSession, tenant_id: uuid.UUID, *,
                     language: str | None = None) -> Sequence[CannedResponse]:
    """Ordered by shortcut; with ``language``, those in it and those for any language."""
    query = select(CannedResponse).where(col(CannedResponse.tenant_id) == tenant_id)
    if language is not None:
        query = query.where(col(CannedResponse.language).in_(["", language]))
    return (await session.scalars(query.order_by(col(CannedResponse.shortcut),
                                                 col(CannedResponse.language)))).all()


async def canned_with(session: AsyncSession, tenant_id: uuid.UUID, *, shortcut: str,
                      language: str) -> CannedResponse | None:
    return (await session.scalars(select(CannedResponse).where(
        col(CannedResponse.tenant_id) == tenant_id, col(CannedResponse.shortcut) == shortcut,
        col(CannedResponse.language) == language))).first()


async def get_code(session: AsyncSession, tenant_id: uuid.UUID,
                   code_id: uuid.UUID) -> WrapUpCode:
    return await get_owned(session, WrapUpCode, tenant_id, code_id, what="Wrap-up code")


async def all_codes(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[WrapUpCode]:
    return (await session.scalars(select(WrapUpCode).where(
        col(WrapUpCode.tenant_id) == tenant_id).order_by(col(WrapUpCode.code)))).all()


async def code_named(session: AsyncSession, tenant_id: uuid.UUID,
                     code: str) -> WrapUpCode | None:
    return (await session.scalars(select(WrapUpCode).where(
        col(WrapUpCode.tenant_id) == tenant_id, col(WrapUpCode.code) == code))).first()
