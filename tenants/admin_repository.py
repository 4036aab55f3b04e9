"""Queries for the tenant's own configuration: teams, sites, skills, domains, hours, keys.

Every function takes the caller's tenant id (from the authenticated subject) and filters on
it, so an id of another tenant is simply not found; row-level security checks the same
thing again on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.errors import NotFound
from plateaux.platform.models import TenantOwned
from plateaux.tenants.models import (
    AllowedDomain,
    ApiKey,
    BusinessHours,
    Holiday,
    Invitation,
    Site,
    Skill,
    Team,
    TeamMember,
    User,
    UserSkill,
)

Owned = TypeVar("Owned", bound=TenantOwned)
Named = Team | Site | Skill


async def get_owned(
    session: AsyncSession,
    model: type[Owned],
    tenant_id: uuid.UUID,
    object_id: uuid.UUID,
    *,
    what: str,
) -> Owned:
    """The tenant's ``model`` row ``object_id``; 404 when absent or another tenant's."""
    found = (
        await session.scalars(
            select(model).where(col(model.tenant_id) == tenant_id, col(model.id) == object_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


async def list_owned(
    session: AsyncSession,
    model: type[Owned],
    tenant_id: uuid.UUID,
    *,
    order_by: Any,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Owned], int]:
    """One page of the tenant's ``model`` rows and the total count."""
    base = select(model).where(col(model.tenant_id) == tenant_id)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(base.order_by(order_by, col(model.id)).offset(offset).limit(limit))
    return rows.all(), int(total or 0)


async def count_owned(session: AsyncSession, model: type[TenantOwned], tenant_id: uuid.UUID) -> int:
    value = await session.scalar(
        select(func.count()).select_from(model).where(col(model.tenant_id) == tenant_id)
    )
    return int(value or 0)


async def name_taken(
    session: AsyncSession,
    model: type[Named],
    tenant_id: uuid.UUID,
    name: str,
    *,
    except_id: uuid.UUID | None = None,
) -> bool:
    """Whether another row of the tenant has this name, ignoring case ("Sales"/"sales")."""
    query = select(model.id).where(
        col(model.tenant_id) == tenant_id, func.lower(col(model.name)) == name.lower()
    )
    if except_id is not None:
        query = query.where(col(model.id) != except_id)
    return (await session.scalars(query.limit(1))).first() is not None


async def users_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(User).where(col(User.tenant_id) == tenant_id, col(User.id).in_(list(ids)))
    )
    return {u.id: u for u in rows.all()}


async def all_users(
    session: AsyncSession, tenant_id: uuid.UUID, *, limit: int = 2000
) -> Sequence[User]:
    rows = await session.scalars(
        select(User)
        .where(col(User.tenant_id) == tenant_id)
        .order_by(col(User.name), col(User.id))
        .limit(limit)
    )
    return rows.all()


# --- teams -----------------------------------------------------------------------------


async def team_member_ids(
    session: AsyncSession, tenant_id: uuid.UUID, team_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(TeamMember.user_id)
        .join(User, col(User.id) == col(TeamMember.user_id))
        .where(col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team_id)
        .order_by(col(User.name), col(User.id))
    )
    return list(rows.all())


async def member_ids_by_team(
    session: AsyncSession, tenant_id: uuid.UUID, team_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    members: dict[uuid.UUID, list[uuid.UUID]] = {t: [] for t in team_ids}
    if not team_ids:
        return members
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id)
        .join(User, col(User.id) == col(TeamMember.user_id))
        .where(col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id).in_(list(team_ids)))
        .order_by(col(User.name), col(User.id))
    )
    for team_id, user_id in rows.all():
        members[team_id].append(user_id)
    return members


async def team_members(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    team_id: uuid.UUID,
    *,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[User], int]:
    base = (
        select(User)
        .join(TeamMember, col(TeamMember.user_id) == col(User.id))
        .where(col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team_id)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(col(User.name), col(User.id)).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


async def find_membership(
    session: AsyncSession, tenant_id: uuid.UUID, team_id: uuid.UUID, user_id: uuid.UUID
) -> TeamMember | None:
    rows = await session.scalars(
        select(TeamMember).where(
            col(TeamMember.tenant_id) == tenant_id,
            col(TeamMember.team_id) == team_id,
            col(TeamMember.user_id) == user_id,
        )
    )
    return rows.first()


async def member_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(TeamMember.team_id, func.count())
        .where(col(TeamMember.tenant_id) == tenant_id)
        .group_by(col(TeamMember.team_id))
    )
    return {team_id: int(count) for team_id, count in rows.all()}


async def teams_of_user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Sequence[Team]:
    rows = await session.scalars(
        select(Team)
        .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
        .where(col(TeamMember.tenant_id) == tenant_id, col(TeamMember.user_id) == user_id)
        .order_by(col(Team.name))
    )
    return rows.all()


# --- sites -----------------------------------------------------------------------------


async def people_per_site(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(User.site_id, func.count())
        .where(col(User.tenant_id) == tenant_id, col(User.site_id).is_not(None))
        .group_by(col(User.site_id))
    )
    return {site_id: int(count) for site_id, count in rows.all() if site_id is not None}


# --- skills ----------------------------------------------------------------------------


async def user_skills(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> list[tuple[UserSkill, Skill]]:
    rows = await session.execute(
        select(UserSkill, Skill)
        .join(Skill, col(Skill.id) == col(UserSkill.skill_id))
        .where(col(UserSkill.tenant_id) == tenant_id, col(UserSkill.user_id) == user_id)
        .order_by(col(Skill.name))
    )
    return [(level, skill) for level, skill in rows.all()]


async def skill_levels(
    session: AsyncSession, tenant_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
    """Each user's level per skill id, for the users given."""
    levels: dict[uuid.UUID, dict[uuid.UUID, int]] = {u: {} for u in user_ids}
    if not user_ids:
        return levels
    rows = await session.scalars(
        select(UserSkill).where(
            col(UserSkill.tenant_id) == tenant_id, col(UserSkill.user_id).in_(list(user_ids))
        )
    )
    for row in rows.all():
        levels[row.user_id][row.skill_id] = row.level
    return levels


async def people_per_skill(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(UserSkill.skill_id, func.count())
        .where(col(UserSkill.tenant_id) == tenant_id)
        .group_by(col(UserSkill.skill_id))
    )
    return {skill_id: int(count) for skill_id, count in rows.all()}


async def skills_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Skill]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(Skill).where(col(Skill.tenant_id) == tenant_id, col(Skill.id).in_(list(ids)))
    )
    return {s.id: s for s in rows.all()}


async def all_skills(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Skill]:
    rows = await session.scalars(
        select(Skill).where(col(Skill.tenant_id) == tenant_id).order_by(col(Skill.name))
    )
    return rows.all()


async def all_sites(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Site]:
    rows = await session.scalars(
        select(Site).where(col(Site.tenant_id) == tenant_id).order_by(col(Site.name))
    )
    return rows.all()


# --- domains, hours, holidays, keys, invitations ---------------------------------------


async def weekly_hours(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[BusinessHours]:
    rows = await session.scalars(
        select(BusinessHours)
        .where(col(BusinessHours.tenant_id) == tenant_id)
        .order_by(col(BusinessHours.weekday), col(BusinessHours.opens))
    )
    return rows.all()


async def holiday_days(session: AsyncSession, tenant_id: uuid.UUID) -> list[date]:
    rows = await session.scalars(
        select(col(Holiday.day)).where(col(Holiday.tenant_id) == tenant_id)
    )
    return list(rows.all())


async def holiday_on(
    session: AsyncSession, tenant_id: uuid.UUID, day: date, *, except_id: uuid.UUID | None = None
) -> Holiday | None:
    query = select(Holiday).where(col(Holiday.tenant_id) == tenant_id, col(Holiday.day) == day)
    if except_id is not None:
        query = query.where(col(Holiday.id) != except_id)
    return (await session.scalars(query)).first()


async def domain_named(
    session: AsyncSession, tenant_id: uuid.UUID, domain: str
) -> AllowedDomain | None:
    rows = await session.scalars(
        select(AllowedDomain).where(
            col(AllowedDomain.tenant_id) == tenant_id, col(AllowedDomain.domain) == domain
        )
    )
    return rows.first()


async def active_api_key_count(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    value = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.tenant_id) == tenant_id, col(ApiKey.revoked_at).is_(None))
    )
    return int(value or 0)


async def pending_invitation(
    session: AsyncSession, tenant_id: uuid.UUID, invitation_id: uuid.UUID
) -> Invitation:
    rows = await session.scalars(
        select(Invitation).where(
            col(Invitation.tenant_id) == tenant_id,
            col(Invitation.id) == invitation_id,
            col(Invitation.accepted_at).is_(None),
        )
    )
    found = rows.first()
    if found is None:
        raise NotFound("Invitation not found.")
    return found
