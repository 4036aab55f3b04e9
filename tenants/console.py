"""The tenant admin console (server-rendered): people, teams, sites, skills, website
domains, hours, settings, API keys and single sign-on.

Every form posts with the session's CSRF token, goes through the same services as the API
(so the same rules and audit entries apply) and redirects back with a notice; a refused
change re-renders the page with the reason and the right status, never a 500.
"""

from __future__ import annotations

import uuid
from datetime import date, time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from plateaux.platform.auth.models import SsoProvider
from plateaux.platform.auth.subject import Scope
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.deps import SupervisorConsole as ManagerConsole
from plateaux.platform.errors import ProblemError
from plateaux.platform.web import redirect, templates
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import admin_service as svc
from plateaux.tenants import repository, service
from plateaux.tenants.hours import Interval
from plateaux.tenants.models import (
    AllowedDomain,
    ApiKey,
    Holiday,
    Role,
    Site,
    Skill,
    Team,
    User,
)

router = APIRouter(include_in_schema=False)
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _page(request: Request, console: ConsoleContext, name: str, *, section: str,
          status_code: int = 200, **context: Any) -> HTMLResponse:
    notice = request.query_params.get("notice")
    response = templates.TemplateResponse(
        request, f"admin/{name}",
        console.template_context(request=request, section=section, notice=notice,
                                 is_admin=console.user.role == Role.ADMIN, weekdays=WEEKDAYS,
                                 **context),
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(console: ConsoleContext, path: str, notice: str) -> Response:
    return redirect(f"/t/{console.tenant.slug}/admin/{path}?notice={quote(notice)}")


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k) for k in form}


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- overview ------------------------------------------------------------------------

@router.get("/t/{slug}/admin/")
async def overview(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    tid = console.tenant.id
    users, total = await repository.list_users(session, tid, limit=1000)
    counts = {
        "people": total,
        "agents": sum(1 for u in users if u.role == Role.AGENT),
        "teams": (await repo.list_owned(session, Team, tid, order_by=col(Team.name)))[1],
        "sites": (await repo.list_owned(session, Site, tid, order_by=col(Site.name)))[1],
        "skills": (await repo.list_owned(session, Skill, tid, order_by=col(Skill.name)))[1],
    }
    is_open, next_opening = await svc.open_now(session, console.tenant)
    activity = await repository.recent_audit(session, tid, limit=15)
    return _page(request, console, "overview.html", section="overview", counts=counts,
                 is_open=is_open, next_opening=next_opening, activity=activity)


# --- people --------------------------------------------------------------------------

async def _people_page(request: Request, console: ConsoleContext, session: DbSession, *,
                       error: str | None = None, status_code: int = 200) -> Response:
    users, _ = await repository.list_users(session, console.tenant.id, limit=1000)
    sites, _ = await repo.list_owned(session, Site, console.tenant.id, order_by=col(Site.name),
                                     limit=200)
    invitations = await repository.list_invitations(session, console.tenant.id)
    return _page(request, console, "people.html", section="people", users=users,
                 sites={s.id: s for s in sites}, invitations=invitations, roles=list(Role),
                 error=error, status_code=status_code)


@router.get("/t/{slug}/admin/people")
async def people(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _people_page(request, console, session)


@router.post("/t/{slug}/admin/people/invite")
async def invite(request: Request, console: AdminConsole, session: DbSession,
                 services: ServicesDep) -> Response:
    form = await _form(request)
    try:
        role = Role(_text(form, "role") or "agent")
        from email_validator import EmailNotValidError, validate_email

        email = validate_email(_text(form, "email"), check_deliverability=False).normalized
        await service.invite_user(session, services.settings, console.tenant, email=email,
                                  name=_text(form, "name"), role=role,
                                  invited_by=console.user, actor=console.subject.label)
    except (ValueError, EmailNotValidError, ProblemError) as exc:
        return await _people_page(request, console, session, error=_reason(exc),
                                  status_code=_status(exc))
    return _back(console, "people", f"Invitation sent to {email}.")


@router.get("/t/{slug}/admin/people/{user_id}")
async def person(request: Request, user_id: uuid.UUID, console: ManagerConsole,
                 session: DbSession) -> Response:
    return await _person_page(request, console, session, user_id)


async def _person_page(request: Request, console: ConsoleContext, session: DbSession,
                       user_id: uuid.UUID, *, error: str | None = None,
                       status_code: int = 200) -> Response:
    user = await repository.get_user(session, console.tenant.id, user_id)
    sites, _ = await repo.list_owned(session, Site, console.tenant.id, order_by=col(Site.name),
                                     limit=200)
    skills, _ = await repo.list_owned(session, Skill, console.tenant.id,
                                      order_by=col(Skill.name), limit=500)
    levels = {s.id: us.level for us, s in await repo.user_skills(session, console.tenant.id,
                                                                  user.id)}
    return _page(request, console, "person.html", section="people", person=user, sites=sites,
                 skills=skills, levels=levels, roles=list(Role), error=error,
                 status_code=status_code)


@router.post("/t/{slug}/admin/people/{user_id}")
async def update_person(request: Request, user_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await _form(request)
    user = await repository.get_user(session, console.tenant.id, user_id)
    try:
        role = Role(_text(form, "role"))
        active = form.get("is_active") == "on"
        if user.id == console.user.id and (role != Role.ADMIN or not active):
            raise ValueError("You cannot demote or deactivate yourself.")
        site_id = uuid.UUID(_text(form, "site_id")) if _text(form, "site_id") else None
        levels: dict[uuid.UUID, int] = {}
        for key, value in form.items():
            if key.startswith("skill:") and isinstance(value, str) and value:
                levels[uuid.UUID(key.removeprefix("skill:"))] = int(value)
        # All or nothing: a refused part leaves the person exactly as they were.
        async with session.begin_nested():
            if site_id is not None:
                await repo.get_owned(session, Site, console.tenant.id, site_id, what="Site")
            await service.update_user(session, user, actor=console.subject.label,
                                      name=_text(form, "name") or user.name, role=role,
                                      is_active=active)
            user.site_id = site_id
            await svc.set_user_skills(session, console.subject, user.id, levels)
    except (ValueError, ProblemError) as exc:
        return await _person_page(request, console, session, user_id, error=_reason(exc),
                                  status_code=_status(exc))
    return _back(console, f"people/{user_id}", "Saved.")


@router.post("/t/{slug}/admin/people/{user_id}/delete")
async def delete_person(request: Request, user_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    user = await repository.get_user(session, console.tenant.id, user_id)
    if user.id == console.user.id:
        return await _person_page(request, console, session, user_id,
                                  error="You cannot delete yourself.", status_code=400)
    await service.delete_user(session, user, actor=console.subject.label)
    return _back(console, "people", f"{user.email} was deleted.")


# --- teams ---------------------------------------------------------------------------

@router.get("/t/{slug}/admin/teams")
async def teams(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _teams_page(request, console, session)


async def _teams_page(request: Request, console: ConsoleContext, session: DbSession, *,
                      error: str | None = None, status_code: int = 200) -> Response:
    rows, _ = await repo.list_owned(session, Team, console.tenant.id, order_by=col(Team.name),
                                    limit=500)
    users, _ = await repository.list_users(session, console.tenant.id, limit=1000)
    members = {t.id: await repo.team_member_ids(session, console.tenant.id, t.id) for t in rows}
    return _page(request, console, "teams.html", section="teams", teams=rows, users=users,
                 members=members, error=error, status_code=status_code)


@router.post("/t/{slug}/admin/teams")
async def create_team(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await _form(request)
    name = _text(form, "name")
    try:
        if not name or len(name) > 120:
            raise ValueError("A team needs a name of at most 120 characters.")
        await svc.add(session, console.subject, Team(tenant_id=console.tenant.id, name=name,
                                                     description=_text(form, "description")),
                      what="team", label=name)
    except (ValueError, ProblemError) as exc:
        return await _teams_page(request, console, session, error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "teams", f"Team {name} created.")


@router.post("/t/{slug}/admin/teams/{team_id}/members")
async def team_members(request: Request, team_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    form = await request.form()
    team = await repo.get_owned(session, Team, console.tenant.id, team_id, what="Team")
    try:
        ids = [uuid.UUID(str(v)) for v in form.getlist("user_id")]
        await svc.set_team_members(session, console.subject, team.id, ids)
    except (ValueError, ProblemError) as exc:
        return await _teams_page(request, console, session, error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "teams", f"Members of {team.name} saved.")


@router.post("/t/{slug}/admin/teams/{team_id}/delete")
async def delete_team(team_id: uuid.UUID, console: AdminConsole,
                      session: DbSession) -> Response:
    team = await repo.get_owned(session, Team, console.tenant.id, team_id, what="Team")
    await svc.remove(session, console.subject, team, what="team")
    return _back(console, "teams", f"Team {team.name} deleted.")


# --- sites and skills ----------------------------------------------------------------

async def _named_page(request: Request, console: ConsoleContext, session: DbSession,
                      kind: str, *, error: str | None = None,
                      status_code: int = 200) -> Response:
    model: type[Site] | type[Skill] = Site if kind == "sites" else Skill
    rows, _ = await repo.list_owned(session, model, console.tenant.id,
                                    order_by=col(model.name), limit=500)
    return _page(request, console, f"{kind}.html", section=kind, rows=rows, error=error,
                 status_code=status_code)


@router.get("/t/{slug}/admin/sites")
async def sites(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _named_page(request, console, session, "sites")


@router.post("/t/{slug}/admin/sites")
async def create_site(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await _form(request)
    name = _text(form, "name")
    try:
        if not name or len(name) > 120:
            raise ValueError("A site needs a name of at most 120 characters.")
        zone = _text(form, "timezone") or None
        if zone:
            service.validate_timezone(zone)
        await svc.add(session, console.subject, Site(tenant_id=console.tenant.id, name=name,
                                                     city=_text(form, "city")[:120],
                                                     timezone=zone),
                      what="site", label=name)
    except (ValueError, ProblemError) as exc:
        return await _named_page(request, console, session, "sites", error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "sites", f"Site {name} created.")


@router.post("/t/{slug}/admin/sites/{site_id}/delete")
async def delete_site(site_id: uuid.UUID, console: AdminConsole,
                      session: DbSession) -> Response:
    site = await repo.get_owned(session, Site, console.tenant.id, site_id, what="Site")
    await svc.remove(session, console.subject, site, what="site")
    return _back(console, "sites", f"Site {site.name} deleted.")


@router.get("/t/{slug}/admin/skills")
async def skills(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _named_page(request, console, session, "skills")


@router.post("/t/{slug}/admin/skills")
async def create_skill(request: Request, console: AdminConsole,
                       session: DbSession) -> Response:
    form = await _form(request)
    name = _text(form, "name")
    try:
        if not name or len(name) > 120:
            raise ValueError("A skill needs a name of at most 120 characters.")
        await svc.add(session, console.subject,
                      Skill(tenant_id=console.tenant.id, name=name,
                            description=_text(form, "description")[:1000]),
                      what="skill", label=name)
    except (ValueError, ProblemError) as exc:
        return await _named_page(request, console, session, "skills", error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "skills", f"Skill {name} created.")


@router.post("/t/{slug}/admin/skills/{skill_id}/delete")
async def delete_skill(skill_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    skill = await repo.get_owned(session, Skill, console.tenant.id, skill_id, what="Skill")
    await svc.remove(session, console.subject, skill, what="skill")
    return _back(console, "skills", f"Skill {skill.name} deleted.")


# --- website domains, hours, settings ------------------------------------------------

async def _website_page(request: Request, console: ConsoleContext, session: DbSession, *,
                        error: str | None = None, status_code: int = 200) -> Response:
    return _page(request, console, "website.html", section="website",
                 domains=await repo.domains(session, console.tenant.id), error=error,
                 status_code=status_code)


@router.get("/t/{slug}/admin/website")
async def website(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _website_page(request, console, session)


@router.post("/t/{slug}/admin/website")
async def add_domain(request: Request, console: AdminConsole, session: DbSession) -> Response:
    from plateaux.tenants.schemas import DomainIn

    form = await _form(request)
    try:
        domain = DomainIn(domain=_text(form, "domain")).domain
        await svc.add_domain(session, console.subject, domain)
    except (ValueError, ProblemError) as exc:
        return await _website_page(request, console, session, error=_reason(exc),
                                   status_code=_status(exc))
    return _back(console, "website", f"{domain} added.")


@router.post("/t/{slug}/admin/website/{domain_id}/delete")
async def delete_domain(domain_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    row = await repo.get_owned(session, AllowedDomain, console.tenant.id, domain_id,
                               what="Domain")
    await svc.remove(session, console.subject, row, what="domain")
    return _back(console, "website", f"{row.domain} removed.")


async def _hours_page(request: Request, console: ConsoleContext, session: DbSession, *,
                      error: str | None = None, status_code: int = 200) -> Response:
    intervals = await repo.weekly_hours(session, console.tenant.id)
    by_day: dict[int, list[Any]] = {d: [] for d in range(7)}
    for interval in intervals:
        by_day[interval.weekday].append(interval)
    is_open, next_opening = await svc.open_now(session, console.tenant)
    return _page(request, console, "hours.html", section="hours", by_day=by_day,
                 holidays=await repo.holidays(session, console.tenant.id), is_open=is_open,
                 next_opening=next_opening, error=error, status_code=status_code)


@router.get("/t/{slug}/admin/hours")
async def hours(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _hours_page(request, console, session)


@router.post("/t/{slug}/admin/hours")
async def save_hours(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await _form(request)
    try:
        intervals: list[Interval] = []
        for day in range(7):
            for slot in (1, 2):
                opens = _text(form, f"d{day}_open{slot}")
                closes = _text(form, f"d{day}_close{slot}")
                if opens or closes:
                    if not (opens and closes):
                        raise ValueError(f"{WEEKDAYS[day]}: give both an opening and a closing.")
                    intervals.append(Interval(day, time.fromisoformat(opens),
                                              time.fromisoformat(closes)))
        await svc.set_weekly_hours(session, console.subject, intervals)
    except (ValueError, ProblemError) as exc:
        return await _hours_page(request, console, session, error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "hours", "Opening hours saved.")


@router.post("/t/{slug}/admin/hours/holidays")
async def add_holiday(request: Request, console: AdminConsole,
                      session: DbSession) -> Response:
    form = await _form(request)
    try:
        day = date.fromisoformat(_text(form, "day"))
        name = _text(form, "name")
        if not name or len(name) > 120:
            raise ValueError("A holiday needs a name of at most 120 characters.")
        await svc.add_holiday(session, console.subject,
                              Holiday(tenant_id=console.tenant.id, day=day, name=name))
    except (ValueError, ProblemError) as exc:
        return await _hours_page(request, console, session, error=_reason(exc),
                                 status_code=_status(exc))
    return _back(console, "hours", f"{name} ({day.isoformat()}) added.")


@router.post("/t/{slug}/admin/hours/holidays/{holiday_id}/delete")
async def delete_holiday(holiday_id: uuid.UUID, console: AdminConsole,
                         session: DbSession) -> Response:
    row = await repo.get_owned(session, Holiday, console.tenant.id, holiday_id,
                               what="Holiday")
    await svc.remove(session, console.subject, row, what="holiday")
    return _back(console, "hours", "Holiday removed.")


@router.get("/t/{slug}/admin/settings")
async def settings_page(request: Request, console: AdminConsole) -> Response:
    return _page(request, console, "settings.html", section="settings")


@router.post("/t/{slug}/admin/settings")
async def save_settings(request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    from pydantic import ValidationError

    from plateaux.tenants.schemas import TenantSettingsIn

    form = await _form(request)
    try:
        languages = [x.strip() for x in _text(form, "languages").split(",") if x.strip()]
        body = TenantSettingsIn(name=_text(form, "name") or None,
                                timezone=_text(form, "timezone") or None,
                                default_language=_text(form, "default_language") or None,
                                languages=languages or None)
        await svc.update_tenant(session, console.subject, console.tenant,
                                body.model_dump(exclude_none=True))
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _page(request, console, "settings.html", section="settings", error=message,
                     status_code=422)
    except ProblemError as exc:
        return _page(request, console, "settings.html", section="settings", error=exc.detail,
                     status_code=exc.status)
    return _back(console, "settings", "Settings saved.")


# --- security: API keys and single sign-on -------------------------------------------

async def _security_page(request: Request, console: ConsoleContext, session: DbSession,
                         services: ServicesDep, *, error: str | None = None,
                         new_key: str | None = None, status_code: int = 200) -> Response:
    from plateaux.platform.auth.oidc import redirect_uri

    provider = (await session.scalars(select(SsoProvider).where(
        col(SsoProvider.tenant_id) == console.tenant.id))).first()
    return _page(request, console, "security.html", section="security",
                 keys=await repo.api_keys(session, console.tenant.id), scopes=list(Scope),
                 provider=provider, new_key=new_key, error=error, roles=list(Role),
                 sso_redirect=redirect_uri(services.settings, console.tenant),
                 status_code=status_code)


@router.get("/t/{slug}/admin/security")
async def security(request: Request, console: AdminConsole, session: DbSession,
                   services: ServicesDep) -> Response:
    return await _security_page(request, console, session, services)


@router.post("/t/{slug}/admin/security/keys")
async def create_key(request: Request, console: AdminConsole, session: DbSession,
                     services: ServicesDep) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()
    try:
        scopes = [Scope(str(s)).value for s in form.getlist("scope")]
        if not name or len(name) > 120 or not scopes:
            raise ValueError("A key needs a name and at least one permission.")
        _, full = await svc.create_api_key(session, console.subject, name=name, scopes=scopes)
    except (ValueError, ProblemError) as exc:
        return await _security_page(request, console, session, services, error=_reason(exc),
                                    status_code=_status(exc))
    # Shown once, in this response only: nothing stores the full key.
    return await _security_page(request, console, session, services, new_key=full)


@router.post("/t/{slug}/admin/security/keys/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, console: AdminConsole,
                     session: DbSession) -> Response:
    key = await repo.get_owned(session, ApiKey, console.tenant.id, key_id, what="API key")
    await svc.revoke_api_key(session, console.subject, key)
    return _back(console, "security", f"Key {key.name} revoked.")


@router.post("/t/{slug}/admin/security/sso")
async def save_sso(request: Request, console: AdminConsole, session: DbSession,
                   services: ServicesDep) -> Response:
    from plateaux.platform.auth.sso_endpoints import SsoSettingsIn, save_provider

    form = await _form(request)
    try:
        role = _text(form, "auto_provision_role")
        body = SsoSettingsIn(issuer=_text(form, "issuer"), client_id=_text(form, "client_id"),
                             client_secret=_text(form, "client_secret"),
                             enabled=form.get("enabled") == "on",
                             auto_provision_role=Role(role) if role else None)
        await save_provider(session, services.settings, console.subject, body)
    except (ValueError, ProblemError) as exc:
        return await _security_page(request, console, session, services, error=_reason(exc),
                                    status_code=_status(exc))
    return _back(console, "security", "Single sign-on saved.")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ProblemError):
        return exc.detail
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", "")) for e in errors())
    return str(exc) or "The request is not valid."


def _status(exc: Exception) -> int:
    return exc.status if isinstance(exc, ProblemError) else 400


__all__ = ["User", "router"]
