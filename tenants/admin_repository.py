"""Queries for the tenant's own configuration. Every function filters on the caller's
tenant; row-level security checks it again on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import col, select

from plateaux.platform.errors import NotFound
from plateaux.platform.models import TenantOwned
from plateaux.tenants.models import (
    AllowedDomain,
    ApiKey,
    BusinessHours,
    Holiday,
    Skill,
    TeamMember,
    UserSkill,
)

Owned = TypeVar("Owned", bound=TenantOwned)


async def get_owned(session: Any, model: type[Owned], tenant_id: uuid.UUID,
                    object_id: uuid.UUID, *, what: str) -> Owned:
    found = (await session.scalars(
        select(model).where(col(model.tenant_id) == tenant_id, col(model.id) == object_id)
    )).first()
    if found is None:
        raise NotFound(f"{what} not found.")
    result: Owned = found
    return result


async def list_owned(session: Any, model: type[Owned], tenant_id: uuid.UUID, *,
                     order_by: Any, offset: int = 0,
                     limit: int = 50) -> tuple[Sequence[Owned], int]:
    base = select(model).where(col(model.tenant_id) == tenant_id)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(base.order_by(order_by, col(model.id)).offset(offset)
                                 .limit(limit))
    return rows.all(), int(total or 0)


async def team_member_ids(session: Any, tenant_id: uuid.UUID,
                          team_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(select(TeamMember.user_id).where(
        col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team_id))
    return list(rows.all())


async def team_members(session: Any, tenant_id: uuid.UUID,
                       team_id: uuid.UUID) -> Sequence[TeamMember]:
    rows = await session.scalars(select(TeamMember).where(
        col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team_id))
    return rows.all()


async def user_skills(session: Any, tenant_id: uuid.UUID,
                      user_id: uuid.UUID) -> list[tuple[UserSkill, Skill]]:
    rows = await session.execute(
        select(UserSkill, Skill).join(Skill, col(Skill.id) == col(UserSkill.skill_id))
        .where(col(UserSkill.tenant_id) == tenant_id, col(UserSkill.user_id) == user_id)
        .order_by(col(Skill.name)))
    return [(us, sk) for us, sk in rows.all()]


async def skills_by_id(session: Any, tenant_id: uuid.UUID,
                       ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Skill]:
    if not ids:
        return {}
    rows = await session.scalars(select(Skill).where(
        col(Skill.tenant_id) == tenant_id, col(Skill.id).in_(list(ids))))
    return {s.id: s for s in rows.all()}


async def weekly_hours(session: Any, tenant_id: uuid.UUID) -> Sequence[BusinessHours]:
    rows = await session.scalars(select(BusinessHours).where(
        col(BusinessHours.tenant_id) == tenant_id
    ).order_by(col(BusinessHours.weekday), col(BusinessHours.opens)))
    return rows.all()


async def holidays(session: Any, tenant_id: uuid.UUID) -> Sequence[Holiday]:
    rows = await session.scalars(select(Holiday).where(
        col(Holiday.tenant_id) == tenant_id).order_by(col(Holiday.day)))
    return rows.all()


async def domains(session: Any, tenant_id: uuid.UUID) -> Sequence[AllowedDomain]:
    rows = await session.scalars(select(AllowedDomain).where(
        col(AllowedDomain.tenant_id) == tenant_id).order_by(col(AllowedDomain.domain)))
    return rows.all()


async def api_keys(session: Any, tenant_id: uuid.UUID) -> Sequence[ApiKey]:
    rows = await session.scalars(select(ApiKey).where(
        col(ApiKey.tenant_id) == tenant_id).order_by(col(ApiKey.created_at).desc()))
    return rows.all()
