"""The tenant administration API: teams, sites, skills, domains, hours, settings, keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import col

from plateaux.api.idempotency import idempotent_create
from plateaux.api.pagination import Page, Pagination
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import admin_service as svc
from plateaux.tenants import repository
from plateaux.tenants.hours import Interval
from plateaux.tenants.models import AllowedDomain, ApiKey, Holiday, Site, Skill, Team, Tenant
from plateaux.tenants.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DomainIn,
    DomainOut,
    HolidayIn,
    HolidayOut,
    IntervalOut,
    OpenNow,
    SiteIn,
    SiteOut,
    SkillIn,
    SkillOut,
    TeamIn,
    TeamMembersIn,
    TeamOut,
    TenantSettingsIn,
    TenantSettingsOut,
    UserSkillOut,
    UserSkillsIn,
    WeeklyHoursIn,
)

router = APIRouter(tags=["tenant administration"])
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
KeyAdmin = Annotated[Subject, Depends(require_scope(Scope.API_KEYS_WRITE))]


async def _tenant(session: DbSession, subject: Subject) -> Tenant:
    tenant = await session.get(Tenant, subject.tenant_id)
    assert tenant is not None
    return tenant


# --- teams ---------------------------------------------------------------------------

async def _team_out(session: DbSession, team: Team) -> TeamOut:
    members = await repo.team_member_ids(session, team.tenant_id, team.id)
    return TeamOut(id=team.id, name=team.name, description=team.description,
                   created_at=team.created_at, member_ids=members)


@router.get("/teams", response_model=Page[TeamOut])
async def list_teams(subject: Reader, session: DbSession, page: Pagination) -> Page[TeamOut]:
    rows, total = await repo.list_owned(session, Team, subject.tenant_id,
                                        order_by=col(Team.name), offset=page.offset,
                                        limit=page.limit)
    return Page(items=[await _team_out(session, t) for t in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/teams", response_model=TeamOut, status_code=201)
async def create_team(body: TeamIn, request: Request, subject: Writer,
                      session: DbSession) -> Response:
    async def create() -> TeamOut:
        team = await svc.add(session, subject, Team(tenant_id=subject.tenant_id,
                                                    **body.model_dump()),
                             what="team", label=body.name)
        return await _team_out(session, team)

    return await idempotent_create(request, session, subject, body, create)


@router.get("/teams/{team_id}", response_model=TeamOut)
async def get_team(team_id: uuid.UUID, subject: Reader, session: DbSession) -> TeamOut:
    team = await repo.get_owned(session, Team, subject.tenant_id, team_id, what="Team")
    return await _team_out(session, team)


@router.patch("/teams/{team_id}", response_model=TeamOut)
async def update_team(team_id: uuid.UUID, body: TeamIn, subject: Writer,
                      session: DbSession) -> TeamOut:
    team = await repo.get_owned(session, Team, subject.tenant_id, team_id, what="Team")
    await svc.update(session, subject, team, body.model_dump(exclude_unset=True), what="team")
    return await _team_out(session, team)


@router.delete("/teams/{team_id}", status_code=204)
async def delete_team(team_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    team = await repo.get_owned(session, Team, subject.tenant_id, team_id, what="Team")
    await svc.remove(session, subject, team, what="team")
    return Response(status_code=204)


@router.put("/teams/{team_id}/members", response_model=TeamOut)
async def set_members(team_id: uuid.UUID, body: TeamMembersIn, subject: Writer,
                      session: DbSession) -> TeamOut:
    team = await repo.get_owned(session, Team, subject.tenant_id, team_id, what="Team")
    await svc.set_team_members(session, subject, team.id, body.user_ids)
    return await _team_out(session, team)


# --- sites ---------------------------------------------------------------------------

@router.get("/sites", response_model=Page[SiteOut])
async def list_sites(subject: Reader, session: DbSession, page: Pagination) -> Page[SiteOut]:
    rows, total = await repo.list_owned(session, Site, subject.tenant_id,
                                        order_by=col(Site.name), offset=page.offset,
                                        limit=page.limit)
    return Page(items=[SiteOut.model_validate(s) for s in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/sites", response_model=SiteOut, status_code=201)
async def create_site(body: SiteIn, request: Request, subject: Writer,
                      session: DbSession) -> Response:
    async def create() -> SiteOut:
        site = await svc.add(session, subject, Site(tenant_id=subject.tenant_id,
                                                    **body.model_dump()),
                             what="site", label=body.name)
        return SiteOut.model_validate(site)

    return await idempotent_create(request, session, subject, body, create)


@router.get("/sites/{site_id}", response_model=SiteOut)
async def get_site(site_id: uuid.UUID, subject: Reader, session: DbSession) -> SiteOut:
    return SiteOut.model_validate(
        await repo.get_owned(session, Site, subject.tenant_id, site_id, what="Site"))


@router.patch("/sites/{site_id}", response_model=SiteOut)
async def update_site(site_id: uuid.UUID, body: SiteIn, subject: Writer,
                      session: DbSession) -> SiteOut:
    site = await repo.get_owned(session, Site, subject.tenant_id, site_id, what="Site")
    await svc.update(session, subject, site, body.model_dump(exclude_unset=True), what="site")
    return SiteOut.model_validate(site)


@router.delete("/sites/{site_id}", status_code=204)
async def delete_site(site_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    site = await repo.get_owned(session, Site, subject.tenant_id, site_id, what="Site")
    await svc.remove(session, subject, site, what="site")
    return Response(status_code=204)


# --- skills --------------------------------------------------------------------------

@router.get("/skills", response_model=Page[SkillOut])
async def list_skills(subject: Reader, session: DbSession, page: Pagination) -> Page[SkillOut]:
    rows, total = await repo.list_owned(session, Skill, subject.tenant_id,
                                        order_by=col(Skill.name), offset=page.offset,
                                        limit=page.limit)
    return Page(items=[SkillOut.model_validate(s) for s in rows], total=total,
                offset=page.offset, limit=page.limit)


@router.post("/skills", response_model=SkillOut, status_code=201)
async def create_skill(body: SkillIn, request: Request, subject: Writer,
                       session: DbSession) -> Response:
    async def create() -> SkillOut:
        skill = await svc.add(session, subject, Skill(tenant_id=subject.tenant_id,
                                                      **body.model_dump()),
                              what="skill", label=body.name)
        return SkillOut.model_validate(skill)

    return await idempotent_create(request, session, subject, body, create)


@router.get("/skills/{skill_id}", response_model=SkillOut)
async def get_skill(skill_id: uuid.UUID, subject: Reader, session: DbSession) -> SkillOut:
    return SkillOut.model_validate(
        await repo.get_owned(session, Skill, subject.tenant_id, skill_id, what="Skill"))


@router.patch("/skills/{skill_id}", response_model=SkillOut)
async def update_skill(skill_id: uuid.UUID, body: SkillIn, subject: Writer,
                       session: DbSession) -> SkillOut:
    skill = await repo.get_owned(session, Skill, subject.tenant_id, skill_id, what="Skill")
    await svc.update(session, subject, skill, body.model_dump(exclude_unset=True),
                     what="skill")
    return SkillOut.model_validate(skill)


@router.delete("/skills/{skill_id}", status_code=204)
async def delete_skill(skill_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    skill = await repo.get_owned(session, Skill, subject.tenant_id, skill_id, what="Skill")
    await svc.remove(session, subject, skill, what="skill")
    return Response(status_code=204)


@router.get("/users/{user_id}/skills", response_model=list[UserSkillOut])
async def get_user_skills(user_id: uuid.UUID, subject: Reader,
                          session: DbSession) -> list[UserSkillOut]:
    await repository.get_user(session, subject.tenant_id, user_id)
    return [UserSkillOut(skill_id=s.id, name=s.name, level=us.level)
            for us, s in await repo.user_skills(session, subject.tenant_id, user_id)]


@router.put("/users/{user_id}/skills", response_model=list[UserSkillOut])
async def put_user_skills(user_id: uuid.UUID, body: UserSkillsIn, subject: Writer,
                          session: DbSession) -> list[UserSkillOut]:
    await svc.set_user_skills(session, subject, user_id,
                              {s.skill_id: s.level for s in body.skills})
    return [UserSkillOut(skill_id=s.id, name=s.name, level=us.level)
            for us, s in await repo.user_skills(session, subject.tenant_id, user_id)]


# --- website domains -----------------------------------------------------------------

@router.get("/domains", response_model=list[DomainOut])
async def list_domains(subject: Reader, session: DbSession) -> list[DomainOut]:
    return [DomainOut.model_validate(d)
            for d in await repo.domains(session, subject.tenant_id)]


@router.post("/domains", response_model=DomainOut, status_code=201)
async def add_domain(body: DomainIn, request: Request, subject: Writer,
                     session: DbSession) -> Response:
    async def create() -> DomainOut:
        return DomainOut.model_validate(await svc.add_domain(session, subject, body.domain))

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/domains/{domain_id}", status_code=204)
async def delete_domain(domain_id: uuid.UUID, subject: Writer,
                        session: DbSession) -> Response:
    row = await repo.get_owned(session, AllowedDomain, subject.tenant_id, domain_id,
                               what="Domain")
    await svc.remove(session, subject, row, what="domain")
    return Response(status_code=204)


# --- business hours and holidays -----------------------------------------------------

@router.get("/business-hours", response_model=list[IntervalOut])
async def get_hours(subject: Reader, session: DbSession) -> list[IntervalOut]:
    return [IntervalOut.model_validate(h)
            for h in await repo.weekly_hours(session, subject.tenant_id)]


@router.put("/business-hours", response_model=list[IntervalOut])
async def put_hours(body: WeeklyHoursIn, subject: Writer,
                    session: DbSession) -> list[IntervalOut]:
    await svc.set_weekly_hours(session, subject, [Interval(i.weekday, i.opens, i.closes)
                                                  for i in body.intervals])
    return [IntervalOut.model_validate(h)
            for h in await repo.weekly_hours(session, subject.tenant_id)]


@router.get("/holidays", response_model=list[HolidayOut])
async def list_holidays(subject: Reader, session: DbSession) -> list[HolidayOut]:
    return [HolidayOut.model_validate(h)
            for h in await repo.holidays(session, subject.tenant_id)]


@router.post("/holidays", response_model=HolidayOut, status_code=201)
async def add_holiday(body: HolidayIn, request: Request, subject: Writer,
                      session: DbSession) -> Response:
    async def create() -> HolidayOut:
        row = await svc.add_holiday(session, subject, Holiday(tenant_id=subject.tenant_id,
                                                              day=body.day, name=body.name))
        return HolidayOut.model_validate(row)

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/holidays/{holiday_id}", status_code=204)
async def delete_holiday(holiday_id: uuid.UUID, subject: Writer,
                         session: DbSession) -> Response:
    row = await repo.get_owned(session, Holiday, subject.tenant_id, holiday_id,
                               what="Holiday")
    await svc.remove(session, subject, row, what="holiday")
    return Response(status_code=204)


# --- tenant settings -----------------------------------------------------------------

@router.get("/tenant", response_model=TenantSettingsOut)
async def get_tenant(subject: Reader, session: DbSession) -> TenantSettingsOut:
    return TenantSettingsOut.model_validate(await _tenant(session, subject))


@router.patch("/tenant", response_model=TenantSettingsOut)
async def patch_tenant(body: TenantSettingsIn, subject: Writer,
                       session: DbSession) -> TenantSettingsOut:
    tenant = await _tenant(session, subject)
    await svc.update_tenant(session, subject, tenant,
                            body.model_dump(exclude_unset=True, exclude_none=True))
    return TenantSettingsOut.model_validate(tenant)


@router.get("/tenant/open", response_model=OpenNow)
async def tenant_open(subject: Reader, session: DbSession) -> OpenNow:
    is_open, nxt = await svc.open_now(session, await _tenant(session, subject))
    return OpenNow(open=is_open, next_opening=nxt)


# --- API keys ------------------------------------------------------------------------

@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_keys(subject: KeyAdmin, session: DbSession) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in await repo.api_keys(session, subject.tenant_id)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_key(body: ApiKeyIn, request: Request, subject: KeyAdmin,
                     session: DbSession) -> Response:
    async def create() -> ApiKeyCreated:
        key, full = await svc.create_api_key(session, subject, name=body.name,
                                             scopes=[s.value for s in body.scopes])
        return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=full)

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_key(key_id: uuid.UUID, subject: KeyAdmin, session: DbSession) -> Response:
    key = await repo.get_owned(session, ApiKey, subject.tenant_id, key_id, what="API key")
    await svc.revoke_api_key(session, subject, key)
    return Response(status_code=204)
