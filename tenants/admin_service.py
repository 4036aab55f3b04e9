"""Rules for the tenant's configuration: teams, sites, skills and agents' levels, website
domains, business hours and holidays, settings, API keys, invitations.

Services flush and never commit (the request's unit of work does); every change leaves an
audit entry, and changes that other parts of the platform cache (routing needs skills,
teams and hours) are published as events, which leave only after the commit.

Input shapes are checked by the schemas before they get here; these functions check what
needs the database: names unique per tenant, references to the tenant's own rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from plateaux.platform.auth.apikeys import generate_key
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from plateaux.platform.publish import publish
from plateaux.platform.types import utcnow
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import hours as hours_rules
from plateaux.tenants import service
from plateaux.tenants.models import (
    AllowedDomain,
    ApiKey,
    BusinessHours,
    Holiday,
    Role,
    Site,
    Skill,
    Team,
    TeamMember,
    Tenant,
    User,
    UserSkill,
)
from plateaux.tenants.schemas import (
    HolidayIn,
    HolidayPatch,
    SiteIn,
    SitePatch,
    SkillIn,
    SkillPatch,
    TeamIn,
    TeamPatch,
    TenantSettingsIn,
)

NamedRow = TypeVar("NamedRow", Team, Site, Skill)


def _audit(
    session: AsyncSession, subject: Subject, action: str, target: str = "", **details: Any
) -> None:
    service.audit(
        session, subject.tenant_id, actor=subject.label, action=action, target=target, **details
    )


def _announce(session: AsyncSession, subject: Subject, event: str, **payload: Any) -> None:
    publish(session, subject.tenant_id, event, payload, audience="tenant")


async def _flush_unique(session: AsyncSession, message: str) -> None:
    """Flush in a savepoint: a unique-constraint race becomes a 409, and the rest of the
    unit of work stays usable (a console page can still re-render with the reason)."""
    try:
        async with savepoint(session):
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


# --- named rows: teams, sites, skills --------------------------------------------------


async def _create_named(
    session: AsyncSession, subject: Subject, row: NamedRow, *, what: str
) -> NamedRow:
    model = type(row)
    if await repo.name_taken(session, model, subject.tenant_id, row.name):
        raise Conflict(f"A {what} named '{row.name}' already exists.")
    session.add(row)
    await _flush_unique(session, f"A {what} named '{row.name}' already exists.")
    _audit(session, subject, f"{what}.created", row.name)
    _announce(session, subject, f"{what}.created", id=row.id, name=row.name)
    return row


async def _update_named(
    session: AsyncSession, subject: Subject, row: NamedRow, changes: Mapping[str, Any], *, what: str
) -> NamedRow:
    name = changes.get("name")
    if name is not None and await repo.name_taken(
        session, type(row), subject.tenant_id, name, except_id=row.id
    ):
        raise Conflict(f"Another {what} is already named '{name}'.")
    before = row.name
    for field, value in changes.items():
        setattr(row, field, value)
    await _flush_unique(session, f"Another {what} is already named '{row.name}'.")
    _audit(session, subject, f"{what}.updated", before, fields=sorted(changes))
    _announce(session, subject, f"{what}.updated", id=row.id, name=row.name)
    return row


async def _delete_named(
    session: AsyncSession, subject: Subject, row: NamedRow, *, what: str
) -> None:
    _audit(session, subject, f"{what}.deleted", row.name)
    _announce(session, subject, f"{what}.deleted", id=row.id, name=row.name)
    await session.delete(row)
    await session.flush()


async def create_team(session: AsyncSession, subject: Subject, data: TeamIn) -> Team:
    team = Team(tenant_id=subject.tenant_id, **data.model_dump())
    return await _create_named(session, subject, team, what="team")


async def update_team(session: AsyncSession, subject: Subject, team: Team, data: TeamPatch) -> Team:
    return await _update_named(session, subject, team, data.changes(), what="team")


async def delete_team(session: AsyncSession, subject: Subject, team: Team) -> None:
    await _delete_named(session, subject, team, what="team")


async def create_site(session: AsyncSession, subject: Subject, data: SiteIn) -> Site:
    site = Site(tenant_id=subject.tenant_id, **data.model_dump())
    return await _create_named(session, subject, site, what="site")


async def update_site(session: AsyncSession, subject: Subject, site: Site, data: SitePatch) -> Site:
    return await _update_named(session, subject, site, data.changes(), what="site")


async def delete_site(session: AsyncSession, subject: Subject, site: Site) -> None:
    # People of the site stay, without a site (the foreign key sets it to null).
    await _delete_named(session, subject, site, what="site")


async def create_skill(session: AsyncSession, subject: Subject, data: SkillIn) -> Skill:
    skill = Skill(tenant_id=subject.tenant_id, **data.model_dump())
    return await _create_named(session, subject, skill, what="skill")


async def update_skill(
    session: AsyncSession, subject: Subject, skill: Skill, data: SkillPatch
) -> Skill:
    return await _update_named(session, subject, skill, data.changes(), what="skill")


async def delete_skill(session: AsyncSession, subject: Subject, skill: Skill) -> None:
    # Agents' levels in the skill go with it (the foreign key cascades).
    await _delete_named(session, subject, skill, what="skill")


# --- people --------------------------------------------------------------------------


async def update_person(
    session: AsyncSession,
    subject: Subject,
    user: User,
    *,
    name: str,
    role: Role,
    is_active: bool,
    site_id: uuid.UUID | None,
) -> User:
    """Change a person's name, role, status and site (None: no site)."""
    if user.id == subject.user_id and (role != Role.ADMIN or not is_active):
        # Keeps at least one admin: the last one cannot lock everybody out.
        raise UnprocessableContent("You cannot demote or deactivate yourself.")
    if site_id is not None:
        try:
            await repo.get_owned(session, Site, subject.tenant_id, site_id, what="Site")
        except NotFound as exc:
            raise UnprocessableContent("Unknown site.") from exc
    # update_user leaves None values alone, so clearing the site is done here.
    user.site_id = site_id
    return await service.update_user(
        session,
        user,
        actor=subject.label,
        name=name,
        role=role,
        is_active=is_active,
        site_id=site_id,
    )


# --- team members ----------------------------------------------------------------------


async def _tenant_users(
    session: AsyncSession, subject: Subject, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, User]:
    """The users ``user_ids`` of the caller's tenant; 422 when any is not one of them."""
    found = await repo.users_by_id(session, subject.tenant_id, user_ids)
    unknown = [str(u) for u in user_ids if u not in found]
    if unknown:
        raise UnprocessableContent("Unknown user: " + ", ".join(sorted(unknown)))
    return found


async def set_team_members(
    session: AsyncSession, subject: Subject, team: Team, user_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Make the team's members exactly ``user_ids``."""
    wanted = list(dict.fromkeys(user_ids))
    await _tenant_users(session, subject, wanted)
    current = set(await repo.team_member_ids(session, subject.tenant_id, team.id))
    added, removed = set(wanted) - current, current - set(wanted)
    if removed:
        await session.execute(
            delete(TeamMember).where(
                col(TeamMember.tenant_id) == subject.tenant_id,
                col(TeamMember.team_id) == team.id,
                col(TeamMember.user_id).in_(list(removed)),
            )
        )
    for user_id in wanted:
        if user_id in added:
            session.add(TeamMember(tenant_id=subject.tenant_id, team_id=team.id, user_id=user_id))
    await _flush_unique(session, "The team's members were changed at the same time; retry.")
    if added or removed:
        _audit(
            session,
            subject,
            "team.members_changed",
            team.name,
            added=len(added),
            removed=len(removed),
            members=len(wanted),
        )
        _announce(
            session,
            subject,
            "team.members_changed",
            id=team.id,
            member_ids=[str(u) for u in wanted],
        )
    return wanted


async def add_team_member(
    session: AsyncSession, subject: Subject, team: Team, user_id: uuid.UUID
) -> User:
    user = (await _tenant_users(session, subject, [user_id]))[user_id]
    if await repo.find_membership(session, subject.tenant_id, team.id, user_id) is None:
        session.add(TeamMember(tenant_id=subject.tenant_id, team_id=team.id, user_id=user_id))
        await _flush_unique(session, "This person was added to the team at the same time.")
        _audit(session, subject, "team.member_added", team.name, user=user.email)
        _announce(session, subject, "team.member_added", id=team.id, user_id=user.id)
    return user


async def remove_team_member(
    session: AsyncSession, subject: Subject, team: Team, user_id: uuid.UUID
) -> None:
    membership = await repo.find_membership(session, subject.tenant_id, team.id, user_id)
    if membership is None:
        raise NotFound("This person is not a member of the team.")
    await session.delete(membership)
    await session.flush()
    _audit(session, subject, "team.member_removed", team.name, user_id=str(user_id))
    _announce(session, subject, "team.member_removed", id=team.id, user_id=user_id)


# --- agents' skill levels --------------------------------------------------------------


async def set_user_skills(
    session: AsyncSession, subject: Subject, user: User, levels: Mapping[uuid.UUID, int]
) -> bool:
    """Make the user's skills exactly ``levels`` (skill id → 1–5). True when it changed."""
    if user.tenant_id != subject.tenant_id:
        raise Forbidden("This person belongs to another workspace.")
    known = await repo.skills_by_id(session, subject.tenant_id, list(levels))
    unknown = [str(s) for s in levels if s not in known]
    if unknown:
        raise UnprocessableContent("Unknown skill: " + ", ".join(sorted(unknown)))
    if any(not 1 <= level <= 5 for level in levels.values()):
        raise UnprocessableContent("Skill levels go from 1 to 5.")
    current = (await repo.skill_levels(session, subject.tenant_id, [user.id]))[user.id]
    if current == dict(levels):
        return False
    await session.execute(
        delete(UserSkill).where(
            col(UserSkill.tenant_id) == subject.tenant_id, col(UserSkill.user_id) == user.id
        )
    )
    for skill_id, level in levels.items():
        session.add(
            UserSkill(tenant_id=subject.tenant_id, user_id=user.id, skill_id=skill_id, level=level)
        )
    await _flush_unique(session, "These skills were changed at the same time; retry.")
    _audit(
        session,
        subject,
        "user.skills_changed",
        user.email,
        skills={known[k].name: v for k, v in levels.items()},
    )
    _announce(
        session,
        subject,
        "user.skills_changed",
        user_id=user.id,
        skills={str(k): v for k, v in levels.items()},
    )
    return True


async def set_skill_grid(
    session: AsyncSession, subject: Subject, grid: Mapping[uuid.UUID, Mapping[uuid.UUID, int]]
) -> int:
    """Set several people's skills at once (user id → skill id → level); how many changed."""
    users = await _tenant_users(session, subject, list(grid))
    changed = 0
    for user_id, levels in grid.items():
        changed += await set_user_skills(session, subject, users[user_id], levels)
    return changed


# --- website domains -------------------------------------------------------------------


async def add_domain(session: AsyncSession, subject: Subject, domain: str) -> AllowedDomain:
    """Allow ``domain`` (already normalised by the schema) to embed the widget."""
    if await repo.domain_named(session, subject.tenant_id, domain) is not None:
        raise Conflict(f"{domain} is already allowed.")
    row = AllowedDomain(tenant_id=subject.tenant_id, domain=domain)
    session.add(row)
    await _flush_unique(session, f"{domain} is already allowed.")
    _audit(session, subject, "domain.added", domain)
    _announce(session, subject, "domain.added", id=row.id, domain=domain)
    return row


async def remove_domain(session: AsyncSession, subject: Subject, row: AllowedDomain) -> None:
    _audit(session, subject, "domain.removed", row.domain)
    _announce(session, subject, "domain.removed", id=row.id, domain=row.domain)
    await session.delete(row)
    await session.flush()


# --- business hours and holidays -------------------------------------------------------


async def set_weekly_hours(
    session: AsyncSession, subject: Subject, intervals: Sequence[hours_rules.Interval]
) -> None:
    """Replace the weekly schedule (local times in the tenant's time zone)."""
    if problem := hours_rules.validate(intervals):
        raise UnprocessableContent(problem)
    await session.execute(
        delete(BusinessHours).where(col(BusinessHours.tenant_id) == subject.tenant_id)
    )
    ordered = sorted(intervals, key=lambda i: (i.weekday, i.opens))
    for interval in ordered:
        session.add(
            BusinessHours(
                tenant_id=subject.tenant_id,
                weekday=interval.weekday,
                opens=interval.opens,
                closes=interval.closes,
            )
        )
    await session.flush()
    summary = [
        f"{hours_rules.WEEKDAY_NAMES[i.weekday][:3]} {i.opens:%H:%M}-{i.closes:%H:%M}"
        for i in ordered
    ]
    _audit(session, subject, "hours.changed", intervals=summary)
    _announce(session, subject, "hours.changed", intervals=len(ordered))


async def add_holiday(session: AsyncSession, subject: Subject, data: HolidayIn) -> Holiday:
    if await repo.holiday_on(session, subject.tenant_id, data.day) is not None:
        raise Conflict(f"{data.day.isoformat()} is already a holiday.")
    row = Holiday(tenant_id=subject.tenant_id, day=data.day, name=data.name)
    session.add(row)
    await _flush_unique(session, f"{data.day.isoformat()} is already a holiday.")
    _audit(session, subject, "holiday.added", data.day.isoformat(), name=data.name)
    _announce(session, subject, "hours.changed", holiday=data.day)
    return row


async def update_holiday(
    session: AsyncSession, subject: Subject, row: Holiday, data: HolidayPatch
) -> Holiday:
    changes = data.changes()
    day = changes.get("day")
    if (
        day is not None
        and await repo.holiday_on(session, subject.tenant_id, day, except_id=row.id) is not None
    ):
        raise Conflict(f"{day.isoformat()} is already a holiday.")
    for field, value in changes.items():
        setattr(row, field, value)
    await _flush_unique(session, f"{row.day.isoformat()} is already a holiday.")
    _audit(session, subject, "holiday.updated", row.day.isoformat(), fields=sorted(changes))
    _announce(session, subject, "hours.changed", holiday=row.day)
    return row


async def remove_holiday(session: AsyncSession, subject: Subject, row: Holiday) -> None:
    _audit(session, subject, "holiday.removed", row.day.isoformat(), name=row.name)
    _announce(session, subject, "hours.changed", holiday=row.day)
    await session.delete(row)
    await session.flush()


async def opening_state(
    session: AsyncSession, tenant: Tenant, at: datetime | None = None
) -> tuple[bool, datetime | None]:
    """Whether the tenant is open at ``at`` (now by default), and its next opening."""
    at = at or utcnow()
    intervals = [
        hours_rules.Interval(h.weekday, h.opens, h.closes)
        for h in await repo.weekly_hours(session, tenant.id)
    ]
    closed = await repo.holiday_days(session, tenant.id)
    is_open = hours_rules.is_open(at, timezone=tenant.timezone, hours=intervals, holidays=closed)
    upcoming = hours_rules.next_opening(
        at, timezone=tenant.timezone, hours=intervals, holidays=closed
    )
    return is_open, upcoming


# --- tenant settings -------------------------------------------------------------------


async def update_settings(
    session: AsyncSession, subject: Subject, tenant: Tenant, data: TenantSettingsIn
) -> Tenant:
    if tenant.id != subject.tenant_id:
        raise Forbidden("This is another workspace.")
    changes = data.changes()
    languages = changes.get("languages", tenant.languages)
    default = changes.get("default_language", tenant.default_language)
    if default not in languages:
        raise UnprocessableContent(
            f"The default language ({default}) must be one of the workspace's languages "
            f"({', '.join(languages)})."
        )
    changed = sorted(k for k, v in changes.items() if getattr(tenant, k) != v)
    for field in changed:
        setattr(tenant, field, changes[field])
    await session.flush()
    if changed:
        _audit(
            session,
            subject,
            "tenant.settings_changed",
            tenant.slug,
            **{k: changes[k] for k in changed},
        )
        _announce(session, subject, "tenant.settings_changed", **{k: changes[k] for k in changed})
    return tenant


# --- API keys --------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession, subject: Subject, *, name: str, scopes: Sequence[str]
) -> tuple[ApiKey, str]:
    """A new key and its full secret form, which only the caller ever sees: the database
    keeps a hash of the secret."""
    # A key can never give more than its creator has.
    beyond = sorted(set(scopes) - set(subject.scopes))
    if beyond:
        raise Forbidden("You cannot grant permissions you do not have: " + ", ".join(beyond))
    full, prefix, secret_hash = generate_key(subject.tenant_id)
    key = ApiKey(
        tenant_id=subject.tenant_id,
        name=name,
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=sorted(set(scopes)),
        created_by=subject.user_id,
    )
    session.add(key)
    await session.flush()
    _audit(session, subject, "api_key.created", name, prefix=prefix, scopes=key.scopes)
    return key, full


async def revoke_api_key(session: AsyncSession, subject: Subject, key: ApiKey) -> None:
    """Revoke ``key`` (at once: every request checks it); revoking twice changes nothing."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        _audit(session, subject, "api_key.revoked", key.name, prefix=key.prefix)


# --- invitations -----------------------------------------------------------------------


async def cancel_invitation(
    session: AsyncSession, subject: Subject, invitation_id: uuid.UUID
) -> str:
    """Withdraw a pending invitation: its link stops working. Returns the email."""
    invitation = await repo.pending_invitation(session, subject.tenant_id, invitation_id)
    email = invitation.email
    await session.delete(invitation)
    await session.flush()
    _audit(session, subject, "user.invitation_cancelled", email)
    return email
