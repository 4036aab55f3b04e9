"""The tenant administration API: teams, sites, skills and agents' levels, website domains,
business hours and holidays, tenant settings, API keys.

Routes stay thin: they check the caller's scope, look objects up through the repository
(always within the caller's tenant, so another tenant's id is a 404) and hand over to the
service. Reads need ``tenant:read``, changes ``tenant:write``, API keys ``api_keys:write``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col

from plateaux.api.idempotency import idempotent_create
from plateaux.api.pagination import Page, Pagination
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.platform.errors import NotFound, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import admin_service as svc
from plateaux.tenants import repository
from plateaux.tenants.models import AllowedDomain, ApiKey, Holiday, Site, Skill, Team, Tenant
from plateaux.tenants.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DomainIn,
    DomainOut,
    HolidayIn,
    HolidayOut,
    HolidayPatch,
    IntervalOut,
    MemberOut,
    OpenNow,
    SiteIn,
    SiteOut,
    SitePatch,
    SkillIn,
    SkillOut,
    SkillPatch,
    TeamIn,
    TeamMemberIn,
    TeamMembersIn,
    TeamOut,
    TeamPatch,
    TenantSettingsIn,
    TenantSettingsOut,
    UserSkillOut,
    UserSkillsIn,
    UserSkillsOut,
    WeeklyHoursIn,
    WeeklyHoursOut,
)

router = APIRouter(tags=["tenant administration"])
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
KeyAdmin = Annotated[Subject, Depends(require_scope(Scope.API_KEYS_WRITE))]


async def _tenant(session: DbSession, subject: Subject) -> Tenant:
    tenant = await session.get(Tenant, subject.tenant_id)
    if tenant is None:
        raise NotFound("Workspace not found.")
    return tenant


# --- teams -----------------------------------------------------------------------------


async def _team(session: DbSession, subject: Subject, team_id: uuid.UUID) -> Team:
    return await repo.get_owned(session, Team, subject.tenant_id, team_id, what="Team")


async def _team_out(
    session: DbSession, team: Team, members: list[uuid.UUID] | None = None
) -> TeamOut:
    if members is None:
        members = await repo.team_member_ids(session, team.tenant_id, team.id)
    return TeamOut.model_validate(team).model_copy(update={"member_ids": members})


@router.get("/teams", response_model=Page[TeamOut])
async def list_teams(subject: Reader, session: DbSession, page: Pagination) -> Page[TeamOut]:
    rows, total = await repo.list_owned(
        session,
        Team,
        subject.tenant_id,
        order_by=col(Team.name),
        offset=page.offset,
        limit=page.limit,
    )
    members = await repo.member_ids_by_team(session, subject.tenant_id, [t.id for t in rows])
    return Page(
        items=[await _team_out(session, t, members[t.id]) for t in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/teams", response_model=TeamOut, status_code=201)
async def create_team(
    body: TeamIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> TeamOut:
        return await _team_out(session, await svc.create_team(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/teams/{team_id}", response_model=TeamOut)
async def get_team(team_id: uuid.UUID, subject: Reader, session: DbSession) -> TeamOut:
    return await _team_out(session, await _team(session, subject, team_id))


@router.patch("/teams/{team_id}", response_model=TeamOut)
async def update_team(
    team_id: uuid.UUID, body: TeamPatch, subject: Writer, session: DbSession
) -> TeamOut:
    team = await svc.update_team(session, subject, await _team(session, subject, team_id), body)
    return await _team_out(session, team)


@router.delete("/teams/{team_id}", status_code=204, response_class=Response)
async def delete_team(team_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.delete_team(session, subject, await _team(session, subject, team_id))
    return Response(status_code=204)


@router.get("/teams/{team_id}/members", response_model=Page[MemberOut])
async def list_members(
    team_id: uuid.UUID, subject: Reader, session: DbSession, page: Pagination
) -> Page[MemberOut]:
    team = await _team(session, subject, team_id)
    users, total = await repo.team_members(
        session, subject.tenant_id, team.id, offset=page.offset, limit=page.limit
    )
    return Page(
        items=[MemberOut.model_validate(u) for u in users],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.put("/teams/{team_id}/members", response_model=TeamOut)
async def set_members(
    team_id: uuid.UUID, body: TeamMembersIn, subject: Writer, session: DbSession
) -> TeamOut:
    """Make the team's members exactly the people listed."""
    team = await _team(session, subject, team_id)
    await svc.set_team_members(session, subject, team, body.user_ids)
    return await _team_out(session, team)


@router.post("/teams/{team_id}/members", response_model=MemberOut, status_code=201)
async def add_member(
    team_id: uuid.UUID, body: TeamMemberIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    """Add one person to the team (already a member: nothing changes)."""
    team = await _team(session, subject, team_id)

    async def create() -> MemberOut:
        return MemberOut.model_validate(
            await svc.add_team_member(session, subject, team, body.user_id)
        )

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/teams/{team_id}/members/{user_id}", status_code=204, response_class=Response)
async def remove_member(
    team_id: uuid.UUID, user_id: uuid.UUID, subject: Writer, session: DbSession
) -> Response:
    team = await _team(session, subject, team_id)
    await svc.remove_team_member(session, subject, team, user_id)
    return Response(status_code=204)


# --- sites -----------------------------------------------------------------------------


async def _site(session: DbSession, subject: Subject, site_id: uuid.UUID) -> Site:
    return await repo.get_owned(session, Site, subject.tenant_id, site_id, what="Site")


@router.get("/sites", response_model=Page[SiteOut])
async def list_sites(subject: Reader, session: DbSession, page: Pagination) -> Page[SiteOut]:
    rows, total = await repo.list_owned(
        session,
        Site,
        subject.tenant_id,
        order_by=col(Site.name),
        offset=page.offset,
        limit=page.limit,
    )
    return Page(
        items=[SiteOut.model_validate(s) for s in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/sites", response_model=SiteOut, status_code=201)
async def create_site(
    body: SiteIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> SiteOut:
        return SiteOut.model_validate(await svc.create_site(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/sites/{site_id}", response_model=SiteOut)
async def get_site(site_id: uuid.UUID, subject: Reader, session: DbSession) -> SiteOut:
    return SiteOut.model_validate(await _site(session, subject, site_id))


@router.patch("/sites/{site_id}", response_model=SiteOut)
async def update_site(
    site_id: uuid.UUID, body: SitePatch, subject: Writer, session: DbSession
) -> SiteOut:
    site = await svc.update_site(session, subject, await _site(session, subject, site_id), body)
    return SiteOut.model_validate(site)


@router.delete("/sites/{site_id}", status_code=204, response_class=Response)
async def delete_site(site_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.delete_site(session, subject, await _site(session, subject, site_id))
    return Response(status_code=204)


# --- skills and agents' levels ---------------------------------------------------------


async def _skill(session: DbSession, subject: Subject, skill_id: uuid.UUID) -> Skill:
    return await repo.get_owned(session, Skill, subject.tenant_id, skill_id, what="Skill")


@router.get("/skills", response_model=Page[SkillOut])
async def list_skills(subject: Reader, session: DbSession, page: Pagination) -> Page[SkillOut]:
    rows, total = await repo.list_owned(
        session,
        Skill,
        subject.tenant_id,
        order_by=col(Skill.name),
        offset=page.offset,
        limit=page.limit,
    )
    return Page(
        items=[SkillOut.model_validate(s) for s in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/skills", response_model=SkillOut, status_code=201)
async def create_skill(
    body: SkillIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> SkillOut:
        return SkillOut.model_validate(await svc.create_skill(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/skills/{skill_id}", response_model=SkillOut)
async def get_skill(skill_id: uuid.UUID, subject: Reader, session: DbSession) -> SkillOut:
    return SkillOut.model_validate(await _skill(session, subject, skill_id))


@router.patch("/skills/{skill_id}", response_model=SkillOut)
async def update_skill(
    skill_id: uuid.UUID, body: SkillPatch, subject: Writer, session: DbSession
) -> SkillOut:
    skill = await svc.update_skill(session, subject, await _skill(session, subject, skill_id), body)
    return SkillOut.model_validate(skill)


@router.delete("/skills/{skill_id}", status_code=204, response_class=Response)
async def delete_skill(skill_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.delete_skill(session, subject, await _skill(session, subject, skill_id))
    return Response(status_code=204)


async def _user_skills_out(
    session: DbSession, subject: Subject, user_id: uuid.UUID
) -> UserSkillsOut:
    rows = await repo.user_skills(session, subject.tenant_id, user_id)
    return UserSkillsOut(
        user_id=user_id,
        skills=[
            UserSkillOut(skill_id=skill.id, name=skill.name, level=level.level)
            for level, skill in rows
        ],
    )


@router.get("/users/{user_id}/skills", response_model=UserSkillsOut)
async def get_user_skills(user_id: uuid.UUID, subject: Reader, session: DbSession) -> UserSkillsOut:
    user = await repository.get_user(session, subject.tenant_id, user_id)
    return await _user_skills_out(session, subject, user.id)


@router.put("/users/{user_id}/skills", response_model=UserSkillsOut)
async def put_user_skills(
    user_id: uuid.UUID, body: UserSkillsIn, subject: Writer, session: DbSession
) -> UserSkillsOut:
    """Replace the person's skills with exactly the ones listed, each at a level 1–5."""
    user = await repository.get_user(session, subject.tenant_id, user_id)
    await svc.set_user_skills(session, subject, user, body.levels())
    return await _user_skills_out(session, subject, user.id)


# --- website domains -------------------------------------------------------------------


async def _domain(session: DbSession, subject: Subject, domain_id: uuid.UUID) -> AllowedDomain:
    return await repo.get_owned(session, AllowedDomain, subject.tenant_id, domain_id, what="Domain")


@router.get("/domains", response_model=Page[DomainOut])
async def list_domains(subject: Reader, session: DbSession, page: Pagination) -> Page[DomainOut]:
    rows, total = await repo.list_owned(
        session,
        AllowedDomain,
        subject.tenant_id,
        order_by=col(AllowedDomain.domain),
        offset=page.offset,
        limit=page.limit,
    )
    return Page(
        items=[DomainOut.model_validate(d) for d in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/domains", response_model=DomainOut, status_code=201)
async def add_domain(
    body: DomainIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> DomainOut:
        return DomainOut.model_validate(await svc.add_domain(session, subject, body.domain))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/domains/{domain_id}", response_model=DomainOut)
async def get_domain(domain_id: uuid.UUID, subject: Reader, session: DbSession) -> DomainOut:
    return DomainOut.model_validate(await _domain(session, subject, domain_id))


@router.delete("/domains/{domain_id}", status_code=204, response_class=Response)
async def remove_domain(domain_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.remove_domain(session, subject, await _domain(session, subject, domain_id))
    return Response(status_code=204)


# --- business hours and holidays -------------------------------------------------------


async def _hours_out(session: DbSession, subject: Subject) -> WeeklyHoursOut:
    tenant = await _tenant(session, subject)
    rows = await repo.weekly_hours(session, subject.tenant_id)
    return WeeklyHoursOut(
        timezone=tenant.timezone, intervals=[IntervalOut.model_validate(h) for h in rows]
    )


@router.get("/business-hours", response_model=WeeklyHoursOut)
async def get_hours(subject: Reader, session: DbSession) -> WeeklyHoursOut:
    return await _hours_out(session, subject)


@router.put("/business-hours", response_model=WeeklyHoursOut)
async def put_hours(body: WeeklyHoursIn, subject: Writer, session: DbSession) -> WeeklyHoursOut:
    """Replace the weekly schedule: local times in the tenant's time zone, several
    intervals a day allowed, a closing time of 00:00 meaning midnight."""
    await svc.set_weekly_hours(session, subject, body.rules())
    return await _hours_out(session, subject)


async def _holiday(session: DbSession, subject: Subject, holiday_id: uuid.UUID) -> Holiday:
    return await repo.get_owned(session, Holiday, subject.tenant_id, holiday_id, what="Holiday")


@router.get("/holidays", response_model=Page[HolidayOut])
async def list_holidays(subject: Reader, session: DbSession, page: Pagination) -> Page[HolidayOut]:
    rows, total = await repo.list_owned(
        session,
        Holiday,
        subject.tenant_id,
        order_by=col(Holiday.day),
        offset=page.offset,
        limit=page.limit,
    )
    return Page(
        items=[HolidayOut.model_validate(h) for h in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/holidays", response_model=HolidayOut, status_code=201)
async def add_holiday(
    body: HolidayIn, request: Request, subject: Writer, session: DbSession
) -> Response:
    async def create() -> HolidayOut:
        return HolidayOut.model_validate(await svc.add_holiday(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.get("/holidays/{holiday_id}", response_model=HolidayOut)
async def get_holiday(holiday_id: uuid.UUID, subject: Reader, session: DbSession) -> HolidayOut:
    return HolidayOut.model_validate(await _holiday(session, subject, holiday_id))


@router.patch("/holidays/{holiday_id}", response_model=HolidayOut)
async def update_holiday(
    holiday_id: uuid.UUID, body: HolidayPatch, subject: Writer, session: DbSession
) -> HolidayOut:
    row = await svc.update_holiday(
        session, subject, await _holiday(session, subject, holiday_id), body
    )
    return HolidayOut.model_validate(row)


@router.delete("/holidays/{holiday_id}", status_code=204, response_class=Response)
async def remove_holiday(holiday_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    await svc.remove_holiday(session, subject, await _holiday(session, subject, holiday_id))
    return Response(status_code=204)


# --- tenant settings -------------------------------------------------------------------


@router.get("/tenant", response_model=TenantSettingsOut)
async def get_settings(subject: Reader, session: DbSession) -> TenantSettingsOut:
    return TenantSettingsOut.model_validate(await _tenant(session, subject))


@router.patch("/tenant", response_model=TenantSettingsOut)
async def update_settings(
    body: TenantSettingsIn, subject: Writer, session: DbSession
) -> TenantSettingsOut:
    tenant = await svc.update_settings(session, subject, await _tenant(session, subject), body)
    return TenantSettingsOut.model_validate(tenant)


@router.get("/tenant/open", response_model=OpenNow)
async def opening_state(
    subject: Reader,
    session: DbSession,
    at: Annotated[
        datetime | None, Query(description="An instant with its offset; now when omitted")
    ] = None,
) -> OpenNow:
    """Whether the contact center is open (now, or at ``at``) and when it next opens."""
    if at is not None and at.utcoffset() is None:
        raise UnprocessableContent("'at' needs a UTC offset, such as 2030-01-07T09:00:00Z.")
    tenant = await _tenant(session, subject)
    instant = at or utcnow()
    try:
        is_open, upcoming = await svc.opening_state(session, tenant, instant)
    except (OverflowError, ValueError) as exc:  # an instant at the edge of the calendar
        raise UnprocessableContent("'at' is out of range.") from exc
    return OpenNow(open=is_open, at=instant, next_opening=upcoming, timezone=tenant.timezone)


# --- API keys --------------------------------------------------------------------------


async def _key(session: DbSession, subject: Subject, key_id: uuid.UUID) -> ApiKey:
    return await repo.get_owned(session, ApiKey, subject.tenant_id, key_id, what="API key")


@router.get("/api-keys", response_model=Page[ApiKeyOut])
async def list_keys(subject: KeyAdmin, session: DbSession, page: Pagination) -> Page[ApiKeyOut]:
    rows, total = await repo.list_owned(
        session,
        ApiKey,
        subject.tenant_id,
        order_by=col(ApiKey.created_at).desc(),
        offset=page.offset,
        limit=page.limit,
    )
    return Page(
        items=[ApiKeyOut.model_validate(k) for k in rows],
        total=total,
        offset=page.offset,
        limit=page.limit,
    )


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(
    body: ApiKeyIn, request: Request, subject: KeyAdmin, session: DbSession
) -> Response:
    """Create a key. The full key is in this response only; the platform keeps a hash."""
    secret: dict[str, str] = {}

    async def create() -> ApiKeyCreated:
        key, full = await svc.create_api_key(
            session, subject, name=body.name, scopes=[s.value for s in body.scopes]
        )
        secret["key"] = full
        # What the idempotency record keeps (and a replay returns): no secret in it.
        return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=None)

    response = await idempotent_create(request, session, subject, body, create)
    if "key" not in secret:
        return response  # a replay: the secret was shown once, to the first request
    payload = json.loads(bytes(response.body))
    payload["key"] = secret["key"]
    return JSONResponse(
        payload, status_code=response.status_code, headers={"Cache-Control": "no-store"}
    )


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut)
async def get_key(key_id: uuid.UUID, subject: KeyAdmin, session: DbSession) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await _key(session, subject, key_id))


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response)
async def revoke_key(key_id: uuid.UUID, subject: KeyAdmin, session: DbSession) -> Response:
    """Revoke the key: requests using it are refused from now on."""
    await svc.revoke_api_key(session, subject, await _key(session, subject, key_id))
    return Response(status_code=204)
