"""Rules for the tenant's configuration: teams, sites, skills, domains, hours, keys.

Services flush and never commit; every change leaves an audit entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from plateaux.platform.auth.apikeys import generate_key
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import BadRequest, Conflict
from plateaux.platform.types import utcnow
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import hours as hours_rules
from plateaux.tenants import repository
from plateaux.tenants.models import (
    AllowedDomain,
    ApiKey,
    BusinessHours,
    Holiday,
    TeamMember,
    Tenant,
    UserSkill,
)
from plateaux.tenants.service import audit


async def add(session: AsyncSession, subject: Subject, row: Any, *, what: str,
              label: str) -> Any:
    """Insert a tenant-owned row; a duplicate name is a 409, not a 500."""
    try:
        # In a savepoint, so a refused insert leaves the rest of the unit of work usable
        # (the page re-renders with the reason) and the row is dropped from the session.
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A {what} named '{label}' already exists.") from exc
    audit(session, subject.tenant_id, actor=subject.label, action=f"{what}.created",
          target=label)
    return row


async def update(session: AsyncSession, subject: Subject, row: Any, changes: dict[str, Any],
                 *, what: str) -> Any:
    for field, value in changes.items():
        setattr(row, field, value)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Another {what} already has that name.") from exc
    audit(session, subject.tenant_id, actor=subject.label, action=f"{what}.updated",
          target=str(getattr(row, "name", row.id)), fields=sorted(changes))
    return row


async def remove(session: AsyncSession, subject: Subject, row: Any, *, what: str) -> None:
    audit(session, subject.tenant_id, actor=subject.label, action=f"{what}.deleted",
          target=str(getattr(row, "name", None) or getattr(row, "domain", row.id)))
    await session.delete(row)
    await session.flush()


async def set_team_members(session: AsyncSession, subject: Subject, team_id: uuid.UUID,
                           user_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(user_ids))
    for user_id in wanted:
        await repository.get_user(session, subject.tenant_id, user_id)
    await session.execute(delete(TeamMember).where(
        col(TeamMember.tenant_id) == subject.tenant_id, col(TeamMember.team_id) == team_id))
    for user_id in wanted:
        session.add(TeamMember(tenant_id=subject.tenant_id, team_id=team_id, user_id=user_id))
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="team.members_set",
          target=str(team_id), count=len(wanted))
    return wanted


async def set_user_skills(session: AsyncSession, subject: Subject, user_id: uuid.UUID,
                          levels: dict[uuid.UUID, int]) -> None:
    user = await repository.get_user(session, subject.tenant_id, user_id)
    known = await repo.skills_by_id(session, subject.tenant_id, list(levels))
    unknown = set(levels) - set(known)
    if unknown:
        raise BadRequest("Unknown skill: " + ", ".join(sorted(str(u) for u in unknown)))
    for level in levels.values():
        if not 1 <= level <= 5:
            raise BadRequest("Skill levels go from 1 to 5.")
    await session.execute(delete(UserSkill).where(
        col(UserSkill.tenant_id) == subject.tenant_id, col(UserSkill.user_id) == user_id))
    for skill_id, level in levels.items():
        session.add(UserSkill(tenant_id=subject.tenant_id, user_id=user_id, skill_id=skill_id,
                              level=level))
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="user.skills_set",
          target=user.email, skills={known[k].name: v for k, v in levels.items()})


async def add_domain(session: AsyncSession, subject: Subject, domain: str) -> AllowedDomain:
    row: AllowedDomain = await add(session, subject,
                                   AllowedDomain(tenant_id=subject.tenant_id, domain=domain),
                                   what="domain", label=domain)
    return row


async def set_weekly_hours(session: AsyncSession, subject: Subject,
                           intervals: Sequence[hours_rules.Interval]) -> None:
    if problem := hours_rules.validate(intervals):
        raise BadRequest(problem)
    await session.execute(delete(BusinessHours).where(
        col(BusinessHours.tenant_id) == subject.tenant_id))
    for interval in intervals:
        session.add(BusinessHours(tenant_id=subject.tenant_id, weekday=interval.weekday,
                                  opens=interval.opens, closes=interval.closes))
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="hours.set",
          intervals=len(intervals))


async def add_holiday(session: AsyncSession, subject: Subject, holiday: Holiday) -> Holiday:
    row: Holiday = await add(session, subject, holiday, what="holiday",
                             label=holiday.day.isoformat())
    return row


async def open_now(session: AsyncSession, tenant: Tenant,
                   at: datetime | None = None) -> tuple[bool, datetime | None]:
    at = at or utcnow()
    intervals = [hours_rules.Interval(h.weekday, h.opens, h.closes)
                 for h in await repo.weekly_hours(session, tenant.id)]
    closed = [h.day for h in await repo.holidays(session, tenant.id)]
    is_open = hours_rules.is_open(at, timezone=tenant.timezone, hours=intervals, holidays=closed)
    nxt = hours_rules.next_opening(at, timezone=tenant.timezone, hours=intervals,
                                   holidays=closed)
    return is_open, nxt


async def update_tenant(session: AsyncSession, subject: Subject, tenant: Tenant,
                        changes: dict[str, Any]) -> Tenant:
    languages = changes.get("languages", tenant.languages)
    default = changes.get("default_language", tenant.default_language)
    if default not in languages:
        raise BadRequest("The default language must be one of the tenant's languages.")
    for field, value in changes.items():
        setattr(tenant, field, value)
    audit(session, tenant.id, actor=subject.label, action="tenant.settings_changed",
          fields=sorted(changes))
    await session.flush()
    return tenant


async def create_api_key(session: AsyncSession, subject: Subject, *, name: str,
                         scopes: list[str]) -> tuple[ApiKey, str]:
    # A key can never give more than its creator has.
    beyond = sorted(set(scopes) - set(subject.scopes))
    if beyond:
        raise BadRequest("You cannot grant scopes you do not have: " + ", ".join(beyond))
    full, prefix, secret_hash = generate_key(subject.tenant_id)
    key = ApiKey(tenant_id=subject.tenant_id, name=name, prefix=prefix, secret_hash=secret_hash,
                 scopes=sorted(set(scopes)), created_by=subject.user_id)
    session.add(key)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="api_key.created",
          target=name, scopes=key.scopes)
    return key, full


async def revoke_api_key(session: AsyncSession, subject: Subject, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit(session, subject.tenant_id, actor=subject.label, action="api_key.revoked",
              target=key.name)
    await session.flush()
