"""Every help desk query; each takes the tenant and filters on it (on top of row-level
security)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.helpdesk.models import (
    ACTIVE_STATUSES,
    Case,
    CaseContact,
    CaseEvent,
    Escalation,
    HelpdeskSettings,
    KbArticle,
    KbCategory,
    KbTranslation,
    Notification,
    ResolutionCode,
    Review,
    Scorecard,
    Script,
    ScriptRun,
    SlaPolicy,
)
from plateaux.platform.database import savepoint
from plateaux.platform.errors import NotFound
from plateaux.platform.models import TenantOwned
from plateaux.routing.models import Contact
from plateaux.tenants.models import Role, Team, TeamMember, User

T = TypeVar("T", bound=TenantOwned)


async def get_owned(session: AsyncSession, model: type[T], tenant_id: uuid.UUID,
                    row_id: uuid.UUID, what: str) -> T:
    found = (await session.scalars(select(model).where(
        col(model.tenant_id) == tenant_id, col(model.id) == row_id))).first()
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


# --- settings --------------------------------------------------------------------------------


async def settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> HelpdeskSettings:
    """The tenant's help desk settings, created with the defaults on first use."""
    query = select(HelpdeskSettings).where(col(HelpdeskSettings.tenant_id) == tenant_id)
    found = (await session.scalars(query)).first()
    if found is not None:
        return found
    try:
        async with savepoint(session):
            found = HelpdeskSettings(tenant_id=tenant_id)
            session.add(found)
            await session.flush()
    except IntegrityError:
        # Another request made it this instant.
        found = (await session.scalars(query)).one()
    return found


async def next_case_number(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's next case number; the UPDATE holds the settings row until commit, so
    two cases never get the same number."""
    await settings_of(session, tenant_id)
    number = await session.scalar(
        update(HelpdeskSettings).where(col(HelpdeskSettings.tenant_id) == tenant_id)
        .values(last_case_number=col(HelpdeskSettings.last_case_number) + 1)
        .returning(col(HelpdeskSettings.last_case_number))
        .execution_options(synchronize_session=False))
    assert number is not None
    return int(number)


# --- cases -----------------------------------------------------------------------------------


async def get_case(session: AsyncSession, tenant_id: uuid.UUID, case_id: uuid.UUID) -> Case:
    return await get_owned(session, Case, tenant_id, case_id, "Case")


async def list_cases(session: AsyncSession, tenant_id: uuid.UUID, *,
                     statuses: Sequence[str] = (), owner_id: uuid.UUID | None = None,
                     team_id: uuid.UUID | None = None, person_id: uuid.UUID | None = None,
                     priority: str | None = None, breached: bool | None = None,
                     unassigned: bool = False, query: str | None = None,
                     offset: int = 0, limit: int = 50) -> tuple[list[Case], int]:
    stmt = select(Case).where(col(Case.tenant_id) == tenant_id)
    if statuses:
        stmt = stmt.where(col(Case.status).in_(list(statuses)))
    if owner_id is not None:
        stmt = stmt.where(col(Case.owner_id) == owner_id)
    if unassigned:
        stmt = stmt.where(col(Case.owner_id).is_(None))
    if team_id is not None:
        stmt = stmt.where(col(Case.team_id) == team_id)
    if person_id is not None:
        stmt = stmt.where(col(Case.person_id) == person_id)
    if priority is not None:
        stmt = stmt.where(col(Case.priority) == priority)
    if breached is not None:
        stmt = stmt.where(col(Case.sla_breached).is_(breached))
    if query:
        text = query.strip().lstrip("#")
        conditions: list[Any] = [func.lower(col(Case.subject)).contains(text.lower())]
        if text.isdigit() and len(text) < 10:
            conditions.append(col(Case.number) == int(text))
        stmt = stmt.where(or_(*conditions))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = (await session.scalars(stmt.order_by(col(Case.updated_at).desc())
                                  .offset(offset).limit(limit))).all()
    return list(rows), int(total)


async def cases_of_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                          *, limit: int = 100) -> list[Case]:
    return list((await session.scalars(select(Case).where(
        col(Case.tenant_id) == tenant_id, col(Case.person_id) == person_id)
        .order_by(col(Case.created_at).desc()).limit(limit))).all())


async def links_of(session: AsyncSession, tenant_id: uuid.UUID,
                   case_id: uuid.UUID) -> list[CaseContact]:
    return list((await session.scalars(select(CaseContact).where(
        col(CaseContact.tenant_id) == tenant_id, col(CaseContact.case_id) == case_id)
        .order_by(col(CaseContact.created_at)))).all())


async def link_of_contact(session: AsyncSession, tenant_id: uuid.UUID,
                          contact_id: uuid.UUID) -> CaseContact | None:
    return (await session.scalars(select(CaseContact).where(
        col(CaseContact.tenant_id) == tenant_id,
        col(CaseContact.contact_id) == contact_id))).first()


Origin = tuple[uuid.UUID, datetime]


async def first_contacts(session: AsyncSession, tenant_id: uuid.UUID,
                         case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Origin]:
    """Each case's earliest contact: (its id, when it arrived)."""
    if not case_ids:
        return {}
    rows = (await session.execute(select(
        CaseContact.case_id, Contact.id, Contact.created_at).join(
        Contact, col(Contact.id) == col(CaseContact.contact_id)).where(
        col(CaseContact.tenant_id) == tenant_id, col(CaseContact.case_id).in_(list(case_ids)))
        .order_by(col(Contact.created_at)))).all()
    found: dict[uuid.UUID, Origin] = {}
    for case_id, contact_id, at in rows:
        found.setdefault(case_id, (contact_id, at))
    return found


async def case_of_thread(session: AsyncSession, tenant_id: uuid.UUID,
                         thread_id: uuid.UUID) -> Case | None:
    """The latest case holding a contact of this email thread."""
    return (await session.scalars(select(Case).join(
        CaseContact, col(CaseContact.case_id) == col(Case.id)).where(
        col(CaseContact.tenant_id) == tenant_id, col(CaseContact.email_thread_id) == thread_id)
        .order_by(col(Case.created_at).desc()))).first()


async def events_of(session: AsyncSession, tenant_id: uuid.UUID, case_id: uuid.UUID,
                    *, limit: int = 500) -> list[CaseEvent]:
    return list((await session.scalars(select(CaseEvent).where(
        col(CaseEvent.tenant_id) == tenant_id, col(CaseEvent.case_id) == case_id)
        .order_by(col(CaseEvent.created_at).desc()).limit(limit))).all())


async def person_case_events(session: AsyncSession, tenant_id: uuid.UUID,
                             person_id: uuid.UUID, kinds: Sequence[str], *,
                             limit: int) -> list[tuple[CaseEvent, Case]]:
    rows = (await session.execute(select(CaseEvent, Case).join(
        Case, col(Case.id) == col(CaseEvent.case_id)).where(
        col(CaseEvent.tenant_id) == tenant_id, col(Case.person_id) == person_id,
        col(CaseEvent.kind).in_(list(kinds)))
        .order_by(col(CaseEvent.created_at).desc()).limit(limit))).all()
    return [(event, case) for event, case in rows]


async def escalations_of(session: AsyncSession, tenant_id: uuid.UUID,
                         case_id: uuid.UUID) -> list[Escalation]:
    return list((await session.scalars(select(Escalation).where(
        col(Escalation.tenant_id) == tenant_id, col(Escalation.case_id) == case_id)
        .order_by(col(Escalation.created_at)))).all())


async def cases_to_check(session: AsyncSession, tenant_id: uuid.UUID, now: datetime, *,
                         limit: int) -> list[Case]:
    """Active cases under a policy whose SLA must be looked at again."""
    return list((await session.scalars(select(Case).where(
        col(Case.tenant_id) == tenant_id,
        col(Case.status).in_([s.value for s in ACTIVE_STATUSES]),
        col(Case.sla_policy_id).is_not(None),
        or_(col(Case.next_check_at).is_(None), col(Case.next_check_at) <= now))
        .order_by(col(Case.next_check_at)).limit(limit))).all())


async def solved_before(session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime, *,
                        limit: int) -> list[Case]:
    return list((await session.scalars(select(Case).where(
        col(Case.tenant_id) == tenant_id, col(Case.status) == "solved",
        col(Case.solved_at) < cutoff).limit(limit))).all())


# --- people to tell --------------------------------------------------------------------------


async def users_by_ids(session: AsyncSession, tenant_id: uuid.UUID,
                       ids: Sequence[uuid.UUID]) -> list[User]:
    if not ids:
        return []
    return list((await session.scalars(select(User).where(
        col(User.tenant_id) == tenant_id, col(User.id).in_(list(ids))))).all())


async def supervisors_for(session: AsyncSession, tenant_id: uuid.UUID,
                          team_id: uuid.UUID | None) -> list[User]:
    """The supervisors of the case's team; all of the tenant's when the team has none
    (or there is no team); its admins when it has no supervisor at all."""
    active = select(User).where(col(User.tenant_id) == tenant_id, col(User.is_active).is_(True))
    if team_id is not None:
        found = list((await session.scalars(active.join(
            TeamMember, col(TeamMember.user_id) == col(User.id)).where(
            col(TeamMember.team_id) == team_id,
            col(User.role) == Role.SUPERVISOR.value))).all())
        if found:
            return found
    for role in (Role.SUPERVISOR, Role.ADMIN):
        found = list((await session.scalars(active.where(col(User.role) == role.value))).all())
        if found:
            return found
    return []


async def team_member(session: AsyncSession, tenant_id: uuid.UUID, team_id: uuid.UUID,
                      user_id: uuid.UUID) -> bool:
    return (await session.scalars(select(TeamMember.id).where(
        col(TeamMember.tenant_id) == tenant_id, col(TeamMember.team_id) == team_id,
        col(TeamMember.user_id) == user_id))).first() is not None


async def teams(session: AsyncSession, tenant_id: uuid.UUID) -> list[Team]:
    return list((await session.scalars(select(Team).where(
        col(Team.tenant_id) == tenant_id).order_by(col(Team.name)))).all())


async def notifications_of(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID,
                           *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
    query = select(Notification).where(col(Notification.tenant_id) == tenant_id,
                                       col(Notification.user_id) == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    return list((await session.scalars(
        query.order_by(col(Notification.created_at).desc()).limit(limit))).all())


# --- SLA policies, codes, scorecards, reviews ------------------------------------------------


async def sla_policies(session: AsyncSession, tenant_id: uuid.UUID, *,
                       active_only: bool = False) -> list[SlaPolicy]:
    query = select(SlaPolicy).where(col(SlaPolicy.tenant_id) == tenant_id)
    if active_only:
        query = query.where(col(SlaPolicy.active).is_(True))
    return list((await session.scalars(query.order_by(col(SlaPolicy.position),
                                                      col(SlaPolicy.name)))).all())


async def resolution_codes(session: AsyncSession, tenant_id: uuid.UUID) -> list[ResolutionCode]:
    return list((await session.scalars(select(ResolutionCode).where(
        col(ResolutionCode.tenant_id) == tenant_id).order_by(
        col(ResolutionCode.position), col(ResolutionCode.label)))).all())


async def scorecards(session: AsyncSession, tenant_id: uuid.UUID, *,
                     active_only: bool = False) -> list[Scorecard]:
    query = select(Scorecard).where(col(Scorecard.tenant_id) == tenant_id)
    if active_only:
        query = query.where(col(Scorecard.active).is_(True))
    return list((await session.scalars(query.order_by(col(Scorecard.name)))).all())


async def reviews_of(session: AsyncSession, tenant_id: uuid.UUID,
                     case_id: uuid.UUID) -> list[Review]:
    return list((await session.scalars(select(Review).where(
        col(Review.tenant_id) == tenant_id, col(Review.case_id) == case_id)
        .order_by(col(Review.created_at)))).all())


async def cases_to_review(session: AsyncSession, tenant_id: uuid.UUID, *,
                          limit: int = 50) -> list[Case]:
    """Finished cases nobody reviewed yet, the latest first."""
    reviewed = select(col(Review.case_id)).where(col(Review.tenant_id) == tenant_id)
    return list((await session.scalars(select(Case).where(
        col(Case.tenant_id) == tenant_id, col(Case.status).in_(["solved", "closed"]),
        col(Case.id).not_in(reviewed)).order_by(col(Case.updated_at).desc()).limit(limit))
    ).all())


async def recent_reviews(session: AsyncSession, tenant_id: uuid.UUID, *,
                         limit: int = 50) -> list[Review]:
    return list((await session.scalars(select(Review).where(
        col(Review.tenant_id) == tenant_id).order_by(col(Review.created_at).desc())
        .limit(limit))).all())


# --- scripts ---------------------------------------------------------------------------------


async def scripts(session: AsyncSession, tenant_id: uuid.UUID, *,
                  active_only: bool = False) -> list[Script]:
    query = select(Script).where(col(Script.tenant_id) == tenant_id)
    if active_only:
        query = query.where(col(Script.active).is_(True))
    return list((await session.scalars(query.order_by(col(Script.name)))).all())


async def runs_of(session: AsyncSession, tenant_id: uuid.UUID, *,
                  contact_id: uuid.UUID | None = None,
                  case_id: uuid.UUID | None = None) -> list[ScriptRun]:
    query = select(ScriptRun).where(col(ScriptRun.tenant_id) == tenant_id)
    if contact_id is not None:
        query = query.where(col(ScriptRun.contact_id) == contact_id)
    if case_id is not None:
        query = query.where(col(ScriptRun.case_id) == case_id)
    return list((await session.scalars(query.order_by(col(ScriptRun.started_at)))).all())


# --- knowledge base --------------------------------------------------------------------------


async def categories(session: AsyncSession, tenant_id: uuid.UUID) -> list[KbCategory]:
    return list((await session.scalars(select(KbCategory).where(
        col(KbCategory.tenant_id) == tenant_id).order_by(
        col(KbCategory.position), col(KbCategory.created_at)))).all())


async def articles(session: AsyncSession, tenant_id: uuid.UUID, *,
                   category_id: uuid.UUID | None = None, status: str | None = None,
                   visibility: str | None = None) -> list[KbArticle]:
    query = select(KbArticle).where(col(KbArticle.tenant_id) == tenant_id)
    if category_id is not None:
        query = query.where(col(KbArticle.category_id) == category_id)
    if status is not None:
        query = query.where(col(KbArticle.status) == status)
    if visibility is not None:
        query = query.where(col(KbArticle.visibility) == visibility)
    return list((await session.scalars(query.order_by(
        col(KbArticle.position), col(KbArticle.created_at)))).all())


async def translations_of(session: AsyncSession, tenant_id: uuid.UUID,
                          article_ids: Sequence[uuid.UUID]) -> list[KbTranslation]:
    if not article_ids:
        return []
    return list((await session.scalars(select(KbTranslation).where(
        col(KbTranslation.tenant_id) == tenant_id,
        col(KbTranslation.article_id).in_(list(article_ids)))
        .order_by(col(KbTranslation.language)))).all())


async def count_in_category(session: AsyncSession, tenant_id: uuid.UUID,
                            category_id: uuid.UUID) -> int:
    articles_in = await session.scalar(select(func.count()).select_from(KbArticle).where(
        col(KbArticle.tenant_id) == tenant_id, col(KbArticle.category_id) == category_id))
    children = await session.scalar(select(func.count()).select_from(KbCategory).where(
        col(KbCategory.tenant_id) == tenant_id, col(KbCategory.parent_id) == category_id))
    return int(articles_in or 0) + int(children or 0)
