"""The tenant admin console (server-rendered), under ``/t/{slug}/admin/``: overview, users
and invitations, teams, sites, skills and agents' levels, website domains, business hours
and holidays, settings (with single sign-on), API keys.

Admins change everything; supervisors may look at the overview, users and teams. Every
form posts the session's CSRF token (checked before any handler runs), goes through the
same services as the API (so the same rules and audit entries apply) and redirects back
with a notice. A refused change re-renders the page with the reason and a 4xx status,
and leaves nothing half-done: each change runs in a savepoint.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, time
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.datastructures import FormData

from plateaux.platform.auth.models import SsoProvider
from plateaux.platform.auth.subject import Scope
from plateaux.platform.database import savepoint
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.deps import SupervisorConsole as ManagerConsole
from plateaux.platform.errors import ProblemError, UnprocessableContent
from plateaux.platform.security import signing_key
from plateaux.platform.types import utcnow
from plateaux.platform.web import redirect, render
from plateaux.tenants import admin_repository as repo
from plateaux.tenants import admin_service as svc
from plateaux.tenants import repository, service
from plateaux.tenants.hours import MAX_INTERVALS_PER_DAY, WEEKDAY_NAMES, Interval
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
from plateaux.tenants.schemas import (
    ApiKeyIn,
    DomainIn,
    HolidayIn,
    SiteIn,
    SitePatch,
    SkillIn,
    SkillPatch,
    TeamIn,
    TeamPatch,
    TenantSettingsIn,
)

router = APIRouter(include_in_schema=False)
ADMIN = "/t/{slug}/admin"
PAGE_SIZE = 50
# A refused change: a domain rule (ProblemError) or invalid input (pydantic's
# ValidationError and the parsing errors are ValueErrors).
REFUSED = (ProblemError, ValueError, EmailNotValidError)
T = TypeVar("T")

SECTIONS: list[tuple[str, str, str, bool]] = [
    # (key, path under /admin/, label, supervisors see it)
    ("overview", "", "Overview", True),
    ("users", "users", "Users", True),
    ("teams", "teams", "Teams", True),
    ("sites", "sites", "Sites", False),
    ("skills", "skills", "Skills", False),
    ("domains", "domains", "Domains", False),
    ("hours", "hours", "Hours", False),
    ("routing", "routing/queues", "Routing", False),
    ("widgets", "widgets", "Widgets", False),
    ("mailboxes", "mailboxes", "Mailboxes", False),
    ("voice", "voice", "Voice", False),
    ("people", "people", "People", True),
    ("crm", "crm/settings", "CRM", False),
    ("helpdesk", "helpdesk/kb", "Help desk", True),
    ("console", "console/canned-responses", "Agent console", False),
    ("settings", "settings", "Settings", False),
    ("billing", "billing", "Billing", False),
    ("api-keys", "api-keys", "API keys", False),
]
SCOPE_HELP = {
    Scope.TENANT_READ: "Read teams, sites, skills, hours and settings",
    Scope.TENANT_WRITE: "Change teams, sites, skills, hours and settings",
    Scope.USERS_READ: "Read users and invitations",
    Scope.USERS_WRITE: "Create, change and delete users; send invitations",
    Scope.API_KEYS_WRITE: "Create and revoke API keys",
    Scope.CONTACTS_READ: "Read contacts and their history",
    Scope.CONTACTS_WRITE: "Create, transfer and cancel contacts",
}
ACTIVITY_LABELS = {
    "tenant.created": "Workspace created",
    "tenant.settings_changed": "Settings changed",
    "user.created": "User created",
    "user.updated": "User changed",
    "user.deleted": "User deleted",
    "user.invited": "Invitation sent",
    "user.invitation_cancelled": "Invitation cancelled",
    "user.skills_changed": "Skill levels changed",
    "team.created": "Team created",
    "team.updated": "Team changed",
    "team.deleted": "Team deleted",
    "team.members_changed": "Team members changed",
    "team.member_added": "Team member added",
    "team.member_removed": "Team member removed",
    "site.created": "Site created",
    "site.updated": "Site changed",
    "site.deleted": "Site deleted",
    "skill.created": "Skill created",
    "skill.updated": "Skill changed",
    "skill.deleted": "Skill deleted",
    "domain.added": "Domain allowed",
    "domain.removed": "Domain removed",
    "hours.changed": "Opening hours changed",
    "holiday.added": "Holiday added",
    "holiday.updated": "Holiday changed",
    "holiday.removed": "Holiday removed",
    "api_key.created": "API key created",
    "api_key.revoked": "API key revoked",
    "sso.configured": "Single sign-on configured",
    "widget.created": "Widget created",
    "widget.updated": "Widget changed",
    "widget.secret_rotated": "Widget secret rotated",
    "widget.deleted": "Widget deleted",
    "queue.created": "Queue created",
    "queue.updated": "Queue changed",
    "queue.deleted": "Queue deleted",
    "workflow.created": "Workflow created",
    "workflow.updated": "Workflow changed",
    "workflow.deleted": "Workflow deleted",
    "routing_profile.changed": "Routing profile changed",
    "away_reason.created": "Away reason added",
    "away_reason.deleted": "Away reason removed",
    "canned_response.created": "Canned response added",
    "canned_response.updated": "Canned response changed",
    "canned_response.deleted": "Canned response removed",
    "wrap_up_code.created": "Wrap-up code added",
    "wrap_up_code.deleted": "Wrap-up code removed",
    "mailbox.created": "Mailbox added",
    "mailbox.updated": "Mailbox changed",
    "mailbox.deleted": "Mailbox removed",
    "email.quarantine_discarded": "Quarantined mail discarded",
    "email.bounce_cleared": "Bounce cleared",
    "crm.person_erased": "Person erased",
    "crm.person_exported": "Person's data exported",
    "crm.person_deleted": "Person deleted",
    "crm.people_merged": "People merged",
    "crm.people_imported": "People imported",
    "crm.people_exported": "People exported",
    "crm.field_created": "Custom field added",
    "crm.field_updated": "Custom field changed",
    "crm.field_deleted": "Custom field removed",
    "crm.webhook_created": "Webhook added",
    "crm.webhook_updated": "Webhook changed",
    "crm.webhook_deleted": "Webhook removed",
    "crm.webhook_secret_rotated": "Webhook secret rotated",
    "crm.settings_changed": "CRM settings changed",
    "crm.lookup_secret_rotated": "CRM lookup secret rotated",
    "crm.retention_applied": "Retention applied",
}


# --- page plumbing ---------------------------------------------------------------------


def _notice_mac(request: Request, console: ConsoleContext, text: str) -> str:
    secret: str = request.app.state.services.settings.secret_key
    key = signing_key(secret, "admin-console-notice")
    message = f"{console.tenant.id}|{text}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def _notice(request: Request, console: ConsoleContext) -> str | None:
    """The notice of the redirect that led here. It is signed, so a crafted link cannot
    make the console display words of someone else's choosing."""
    text = request.query_params.get("notice")
    mac = request.query_params.get("ns", "")
    if not text or not hmac.compare_digest(mac, _notice_mac(request, console, text)):
        return None
    return text


def _back(request: Request, console: ConsoleContext, path: str, notice: str) -> RedirectResponse:
    query = urlencode({"notice": notice, "ns": _notice_mac(request, console, notice)})
    return redirect(f"/t/{console.tenant.slug}/admin/{path}?{query}")


def _failure(exc: BaseException) -> tuple[str, int]:
    """The message and status of a refused change."""
    if isinstance(exc, ProblemError):
        return exc.detail, exc.status
    if isinstance(exc, ValidationError):
        messages = []
        for error in exc.errors():
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            field = ".".join(str(p) for p in error.get("loc", ()))
            messages.append(f"{field.replace('_', ' ')}: {message}" if field else message)
        return "; ".join(messages) or "The form is not valid.", 422
    return str(exc) or "The form is not valid.", 422


def _page(
    request: Request,
    console: ConsoleContext,
    template: str,
    *,
    section: str,
    failure: BaseException | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    error = None
    if failure is not None:
        error, status_code = _failure(failure)
    is_admin = console.user.role == Role.ADMIN
    zone = ZoneInfo(console.tenant.timezone)
    base = f"/t/{console.tenant.slug}/admin/"
    nav = [
        (key, base + path, label) for key, path, label, managers in SECTIONS if is_admin or managers
    ]
    return render(
        request,
        f"admin/{template}",
        console.template_context(
            section=section,
            nav=nav,
            admin_base=base.rstrip("/"),
            is_admin=is_admin,
            notice=_notice(request, console),
            error=error,
            weekdays=WEEKDAY_NAMES,
            local=lambda at: at.astimezone(zone) if at is not None else None,
            **context,
        ),
        status_code=status_code,
        session_hash=console.subject.session_token_hash,
    )


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _values(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise UnprocessableContent(f"Unknown {what}.") from exc


def _level(value: str) -> int | None:
    """A skill level from a select: empty for none, else 1 to 5."""
    if not value:
        return None
    if value not in {"1", "2", "3", "4", "5"}:
        raise UnprocessableContent("Skill levels go from 1 to 5.")
    return int(value)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UnprocessableContent("Give the date as YYYY-MM-DD.") from exc


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


async def _attempt(session: AsyncSession, change: Callable[[], Awaitable[T]]) -> T:
    """Run a change in a savepoint: refused part-way, it leaves nothing behind."""
    async with savepoint(session):
        return await change()


@lru_cache(maxsize=1)
def _time_zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


# --- overview --------------------------------------------------------------------------


@router.get(ADMIN + "/")
async def overview(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    tid = console.tenant.id
    _, agents = await repository.list_users(session, tid, limit=1, role=Role.AGENT)
    counts = {
        "users": await repository.count_users(session, tid),
        "agents": agents,
        "teams": await repo.count_owned(session, Team, tid),
        "sites": await repo.count_owned(session, Site, tid),
        "skills": await repo.count_owned(session, Skill, tid),
        "domains": await repo.count_owned(session, AllowedDomain, tid),
        "api_keys": await repo.active_api_key_count(session, tid),
        "invitations": len(await repository.list_invitations(session, tid)),
    }
    has_hours = bool(await repo.weekly_hours(session, tid))
    is_open, next_opening = await svc.opening_state(session, console.tenant)
    checklist = [
        ("Invite your agents", counts["users"] > 1, "users"),
        ("Describe your sites (floors, offices, home)", counts["sites"] > 0, "sites"),
        ("Define skills and give agents their levels", counts["skills"] > 0, "skills"),
        ("Allow the websites that embed the contact widget", counts["domains"] > 0, "domains"),
        ("Set your opening hours", has_hours, "hours"),
    ]
    activity = await repository.recent_audit(session, tid, limit=15)
    return _page(
        request,
        console,
        "overview.html",
        section="overview",
        counts=counts,
        is_open=is_open,
        next_opening=next_opening,
        has_hours=has_hours,
        checklist=checklist,
        setup_complete=all(done for _, done, _ in checklist),
        activity=activity,
        labels=ACTIVITY_LABELS,
    )


# --- users and invitations -------------------------------------------------------------


async def _users_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    role_filter = request.query_params.get("role", "")
    role = Role(role_filter) if role_filter in set(Role) else None
    page = _page_number(request)
    users, total = await repository.list_users(
        session, tid, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, role=role
    )
    sites = await repo.all_sites(session, tid)
    invitations = (
        await repository.list_invitations(session, tid)
        if console.subject.has(Scope.USERS_READ)
        else []
    )
    return _page(
        request,
        console,
        "users.html",
        section="users",
        failure=failure,
        users=users,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        role_filter=role.value if role else "",
        roles=list(Role),
        sites=sites,
        site_names={s.id: s.name for s in sites},
        invitations=invitations,
        now=utcnow(),
    )


@router.get(ADMIN + "/users")
async def users(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _users_page(request, console, session)


@router.post(ADMIN + "/users")
async def create_user(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> User:
        email = validate_email(_field(form, "email"), check_deliverability=False).normalized
        name = _field(form, "name")
        if not name or len(name) > 200:
            raise UnprocessableContent("A user needs a name of at most 200 characters.")
        user = await service.create_user(
            session,
            console.tenant.id,
            email=email,
            name=name,
            role=Role(_field(form, "role")),
            password=_field(form, "password") or None,
            actor=console.subject.label,
        )
        if site := _field(form, "site_id"):
            await svc.update_person(
                session,
                console.subject,
                user,
                name=user.name,
                role=Role(user.role),
                is_active=True,
                site_id=_uuid(site, "site"),
            )
        return user

    try:
        user = await _attempt(session, create)
    except REFUSED as exc:
        return await _users_page(request, console, session, failure=exc)
    return _back(request, console, f"users/{user.id}", f"{user.email} can now sign in.")


@router.post(ADMIN + "/users/invite")
async def invite(
    request: Request, console: AdminConsole, session: DbSession, services: ServicesDep
) -> Response:
    form = await request.form()

    async def send() -> str:
        email = validate_email(_field(form, "email"), check_deliverability=False).normalized
        name = _field(form, "name")
        if len(name) > 200:
            raise UnprocessableContent("The name is too long (200 characters at most).")
        invitation = await service.invite_user(
            session,
            services.settings,
            console.tenant,
            email=email,
            name=name,
            role=Role(_field(form, "role") or Role.AGENT),
            invited_by=console.user,
            actor=console.subject.label,
        )
        return invitation.email

    try:
        email = await _attempt(session, send)
    except REFUSED as exc:
        return await _users_page(request, console, session, failure=exc)
    return _back(request, console, "users", f"Invitation sent to {email}.")


@router.post(ADMIN + "/users/invitations/{invitation_id}/cancel")
async def cancel_invitation(
    request: Request, invitation_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    email = await svc.cancel_invitation(session, console.subject, invitation_id)
    return _back(request, console, "users", f"The invitation to {email} was cancelled.")


async def _user_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    user_id: uuid.UUID,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    person = await repository.get_user(session, tid, user_id)
    levels = (await repo.skill_levels(session, tid, [person.id]))[person.id]
    return _page(
        request,
        console,
        "user.html",
        section="users",
        failure=failure,
        person=person,
        sites=await repo.all_sites(session, tid),
        skills=await repo.all_skills(session, tid),
        levels=levels,
        teams=await repo.teams_of_user(session, tid, person.id),
        roles=list(Role),
    )


@router.get(ADMIN + "/users/{user_id}")
async def user_detail(
    request: Request, user_id: uuid.UUID, console: ManagerConsole, session: DbSession
) -> Response:
    return await _user_page(request, console, session, user_id)


@router.post(ADMIN + "/users/{user_id}")
async def update_user(
    request: Request, user_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    person = await repository.get_user(session, console.tenant.id, user_id)
    form = await request.form()

    async def save() -> None:
        name = _field(form, "name")
        if not name or len(name) > 200:
            raise UnprocessableContent("A user needs a name of at most 200 characters.")
        site = _field(form, "site_id")
        await svc.update_person(
            session,
            console.subject,
            person,
            name=name,
            role=Role(_field(form, "role")),
            is_active=form.get("is_active") == "on",
            site_id=_uuid(site, "site") if site else None,
        )

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _user_page(request, console, session, user_id, failure=exc)
    return _back(request, console, f"users/{user_id}", f"{person.name} saved.")


@router.post(ADMIN + "/users/{user_id}/skills")
async def update_user_skills(
    request: Request, user_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    person = await repository.get_user(session, console.tenant.id, user_id)
    form = await request.form()

    async def save() -> None:
        levels: dict[uuid.UUID, int] = {}
        for skill in await repo.all_skills(session, console.tenant.id):
            level = _level(_field(form, f"level:{skill.id}"))
            if level is not None:
                levels[skill.id] = level
        await svc.set_user_skills(session, console.subject, person, levels)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _user_page(request, console, session, user_id, failure=exc)
    return _back(request, console, f"users/{user_id}", f"Skills of {person.name} saved.")


@router.post(ADMIN + "/users/{user_id}/delete")
async def delete_user(
    request: Request, user_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    person = await repository.get_user(session, console.tenant.id, user_id)
    if person.id == console.user.id:
        refusal = UnprocessableContent("You cannot delete your own account.")
        return await _user_page(request, console, session, user_id, failure=refusal)
    await service.delete_user(session, person, actor=console.subject.label)
    return _back(request, console, "users", f"{person.email} was deleted.")


# --- teams -----------------------------------------------------------------------------


async def _teams_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    teams, _ = await repo.list_owned(session, Team, tid, order_by=col(Team.name), limit=1000)
    return _page(
        request,
        console,
        "teams.html",
        section="teams",
        failure=failure,
        teams=teams,
        counts=await repo.member_counts(session, tid),
    )


@router.get(ADMIN + "/teams")
async def teams(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _teams_page(request, console, session)


@router.post(ADMIN + "/teams")
async def create_team(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> Team:
        data = TeamIn(name=_field(form, "name"), description=_field(form, "description"))
        return await svc.create_team(session, console.subject, data)

    try:
        team = await _attempt(session, create)
    except REFUSED as exc:
        return await _teams_page(request, console, session, failure=exc)
    return _back(request, console, f"teams/{team.id}", f"Team {team.name} created.")


async def _team_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    team_id: uuid.UUID,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    team = await repo.get_owned(session, Team, tid, team_id, what="Team")
    members = await repo.team_member_ids(session, tid, team.id)
    return _page(
        request,
        console,
        "team.html",
        section="teams",
        failure=failure,
        team=team,
        members=set(members),
        member_count=len(members),
        people=await repo.all_users(session, tid),
    )


@router.get(ADMIN + "/teams/{team_id}")
async def team_detail(
    request: Request, team_id: uuid.UUID, console: ManagerConsole, session: DbSession
) -> Response:
    return await _team_page(request, console, session, team_id)


@router.post(ADMIN + "/teams/{team_id}")
async def update_team(
    request: Request, team_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    team = await repo.get_owned(session, Team, console.tenant.id, team_id, what="Team")
    form = await request.form()

    async def save() -> Team:
        data = TeamPatch(name=_field(form, "name"), description=_field(form, "description"))
        return await svc.update_team(session, console.subject, team, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _team_page(request, console, session, team_id, failure=exc)
    return _back(request, console, f"teams/{team_id}", f"Team {team.name} saved.")


@router.post(ADMIN + "/teams/{team_id}/members")
async def update_team_members(
    request: Request, team_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    team = await repo.get_owned(session, Team, console.tenant.id, team_id, what="Team")
    form = await request.form()

    async def save() -> list[uuid.UUID]:
        ids = [_uuid(v, "user") for v in _values(form, "user_id")]
        return await svc.set_team_members(session, console.subject, team, ids)

    try:
        members = await _attempt(session, save)
    except REFUSED as exc:
        return await _team_page(request, console, session, team_id, failure=exc)
    return _back(
        request,
        console,
        f"teams/{team_id}",
        f"{team.name} now has {len(members)} member{'s' if len(members) != 1 else ''}.",
    )


@router.post(ADMIN + "/teams/{team_id}/delete")
async def delete_team(
    request: Request, team_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    team = await repo.get_owned(session, Team, console.tenant.id, team_id, what="Team")
    await svc.delete_team(session, console.subject, team)
    return _back(request, console, "teams", f"Team {team.name} deleted.")


# --- sites -----------------------------------------------------------------------------


async def _sites_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    return _page(
        request,
        console,
        "sites.html",
        section="sites",
        failure=failure,
        sites=await repo.all_sites(session, tid),
        people=await repo.people_per_site(session, tid),
        time_zones=_time_zones(),
    )


@router.get(ADMIN + "/sites")
async def sites(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _sites_page(request, console, session)


@router.post(ADMIN + "/sites")
async def create_site(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> Site:
        data = SiteIn(
            name=_field(form, "name"),
            city=_field(form, "city"),
            timezone=_field(form, "timezone") or None,
        )
        return await svc.create_site(session, console.subject, data)

    try:
        site = await _attempt(session, create)
    except REFUSED as exc:
        return await _sites_page(request, console, session, failure=exc)
    return _back(request, console, "sites", f"Site {site.name} created.")


@router.post(ADMIN + "/sites/{site_id}")
async def update_site(
    request: Request, site_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    site = await repo.get_owned(session, Site, console.tenant.id, site_id, what="Site")
    form = await request.form()

    async def save() -> Site:
        data = SitePatch(
            name=_field(form, "name"),
            city=_field(form, "city"),
            timezone=_field(form, "timezone") or None,
        )
        return await svc.update_site(session, console.subject, site, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _sites_page(request, console, session, failure=exc)
    return _back(request, console, "sites", f"Site {site.name} saved.")


@router.post(ADMIN + "/sites/{site_id}/delete")
async def delete_site(
    request: Request, site_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    site = await repo.get_owned(session, Site, console.tenant.id, site_id, what="Site")
    await svc.delete_site(session, console.subject, site)
    return _back(request, console, "sites", f"Site {site.name} deleted.")


# --- skills and agents' levels ---------------------------------------------------------


async def _skills_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    return _page(
        request,
        console,
        "skills.html",
        section="skills",
        failure=failure,
        skills=await repo.all_skills(session, tid),
        people=await repo.people_per_skill(session, tid),
    )


async def _levels_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    page = _page_number(request)
    people, total = await repository.list_users(
        session, tid, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return _page(
        request,
        console,
        "skill_levels.html",
        section="skills",
        failure=failure,
        skills=await repo.all_skills(session, tid),
        people=people,
        levels=await repo.skill_levels(session, tid, [p.id for p in people]),
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


@router.get(ADMIN + "/skills")
async def skills(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _skills_page(request, console, session)


@router.post(ADMIN + "/skills")
async def create_skill(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> Skill:
        data = SkillIn(name=_field(form, "name"), description=_field(form, "description"))
        return await svc.create_skill(session, console.subject, data)

    try:
        skill = await _attempt(session, create)
    except REFUSED as exc:
        return await _skills_page(request, console, session, failure=exc)
    return _back(request, console, "skills", f"Skill {skill.name} created.")


# Declared before /skills/{skill_id} so that "levels" is never read as a skill id.
@router.get(ADMIN + "/skills/levels")
async def skill_levels(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _levels_page(request, console, session)


@router.post(ADMIN + "/skills/levels")
async def save_skill_levels(
    request: Request, console: AdminConsole, session: DbSession
) -> Response:
    form = await request.form()

    async def save() -> int:
        skills = await repo.all_skills(session, console.tenant.id)
        grid: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        for user_id in (_uuid(v, "user") for v in _values(form, "user")):
            grid[user_id] = {}
            for skill in skills:
                level = _level(_field(form, f"level:{user_id}:{skill.id}"))
                if level is not None:
                    grid[user_id][skill.id] = level
        return await svc.set_skill_grid(session, console.subject, grid)

    try:
        changed = await _attempt(session, save)
    except REFUSED as exc:
        return await _levels_page(request, console, session, failure=exc)
    page = _page_number(request)
    where = f"skills/levels?page={page}" if page > 1 else "skills/levels"
    plural = "person" if changed == 1 else "people"
    return _back(request, console, where, f"Skill levels saved ({changed} {plural} changed).")


@router.post(ADMIN + "/skills/{skill_id}")
async def update_skill(
    request: Request, skill_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    skill = await repo.get_owned(session, Skill, console.tenant.id, skill_id, what="Skill")
    form = await request.form()

    async def save() -> Skill:
        data = SkillPatch(name=_field(form, "name"), description=_field(form, "description"))
        return await svc.update_skill(session, console.subject, skill, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _skills_page(request, console, session, failure=exc)
    return _back(request, console, "skills", f"Skill {skill.name} saved.")


@router.post(ADMIN + "/skills/{skill_id}/delete")
async def delete_skill(
    request: Request, skill_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    skill = await repo.get_owned(session, Skill, console.tenant.id, skill_id, what="Skill")
    await svc.delete_skill(session, console.subject, skill)
    return _back(request, console, "skills", f"Skill {skill.name} deleted.")


# --- website domains -------------------------------------------------------------------


async def _domains_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    rows, _ = await repo.list_owned(
        session, AllowedDomain, console.tenant.id, order_by=col(AllowedDomain.domain), limit=1000
    )
    return _page(request, console, "domains.html", section="domains", failure=failure, domains=rows)


@router.get(ADMIN + "/domains")
async def domains(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _domains_page(request, console, session)


@router.post(ADMIN + "/domains")
async def add_domain(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def add() -> AllowedDomain:
        data = DomainIn(domain=_field(form, "domain"))
        return await svc.add_domain(session, console.subject, data.domain)

    try:
        row = await _attempt(session, add)
    except REFUSED as exc:
        return await _domains_page(request, console, session, failure=exc)
    return _back(request, console, "domains", f"{row.domain} is allowed.")


@router.post(ADMIN + "/domains/{domain_id}/delete")
async def remove_domain(
    request: Request, domain_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    row = await repo.get_owned(session, AllowedDomain, console.tenant.id, domain_id, what="Domain")
    await svc.remove_domain(session, console.subject, row)
    return _back(request, console, "domains", f"{row.domain} was removed.")


# --- business hours and holidays -------------------------------------------------------


_SLOT = re.compile(r"^d([0-6])_(open|close)(\d{1,2})$")


def _schedule_from(form: FormData) -> list[Interval]:
    """The weekly schedule of the hours form: fields d<weekday>_open<n> / d<weekday>_close<n>."""
    slots: dict[tuple[int, int], dict[str, str]] = {}
    for key in form:
        match = _SLOT.match(key)
        if match and (value := _field(form, key)):
            day, edge, number = int(match[1]), match[2], int(match[3])
            slots.setdefault((day, number), {})[edge] = value
    intervals = []
    for (day, _), edges in sorted(slots.items()):
        if set(edges) != {"open", "close"}:
            raise UnprocessableContent(
                f"{WEEKDAY_NAMES[day]}: give both an opening and a closing time."
            )
        try:
            opens, closes = time.fromisoformat(edges["open"]), time.fromisoformat(edges["close"])
        except ValueError as exc:
            raise UnprocessableContent(f"{WEEKDAY_NAMES[day]}: times look like 09:30.") from exc
        intervals.append(Interval(day, opens.replace(tzinfo=None), closes.replace(tzinfo=None)))
    return intervals


async def _hours_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
) -> Response:
    tid = console.tenant.id
    by_day: dict[int, list[Any]] = {d: [] for d in range(7)}
    for interval in await repo.weekly_hours(session, tid):
        by_day[interval.weekday].append(interval)
    slots = min(MAX_INTERVALS_PER_DAY, max(2, *(len(v) + 1 for v in by_day.values())))
    is_open, next_opening = await svc.opening_state(session, console.tenant)
    holidays, _ = await repo.list_owned(
        session, Holiday, tid, order_by=col(Holiday.day), limit=1000
    )
    today = utcnow().astimezone(ZoneInfo(console.tenant.timezone)).date()
    return _page(
        request,
        console,
        "hours.html",
        section="hours",
        failure=failure,
        by_day=by_day,
        slots=slots,
        is_open=is_open,
        next_opening=next_opening,
        holidays=holidays,
        today=today,
    )


@router.get(ADMIN + "/hours")
async def hours(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _hours_page(request, console, session)


@router.post(ADMIN + "/hours")
async def save_hours(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def save() -> int:
        intervals = _schedule_from(form)
        await svc.set_weekly_hours(session, console.subject, intervals)
        return len(intervals)

    try:
        count = await _attempt(session, save)
    except REFUSED as exc:
        return await _hours_page(request, console, session, failure=exc)
    message = "Opening hours saved." if count else "Opening hours cleared: always closed."
    return _back(request, console, "hours", message)


@router.post(ADMIN + "/hours/holidays")
async def add_holiday(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def add() -> Holiday:
        data = HolidayIn(day=_day(_field(form, "day")), name=_field(form, "name"))
        return await svc.add_holiday(session, console.subject, data)

    try:
        row = await _attempt(session, add)
    except REFUSED as exc:
        return await _hours_page(request, console, session, failure=exc)
    return _back(request, console, "hours", f"{row.name} ({row.day.isoformat()}) added.")


@router.post(ADMIN + "/hours/holidays/{holiday_id}/delete")
async def remove_holiday(
    request: Request, holiday_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    row = await repo.get_owned(session, Holiday, console.tenant.id, holiday_id, what="Holiday")
    await svc.remove_holiday(session, console.subject, row)
    return _back(request, console, "hours", f"{row.name} ({row.day.isoformat()}) removed.")


# --- settings and single sign-on -------------------------------------------------------


async def _settings_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    services: ServicesDep,
    *,
    failure: BaseException | None = None,
) -> Response:
    from plateaux.platform.auth.oidc import redirect_uri

    provider = (
        await session.scalars(
            select(SsoProvider).where(col(SsoProvider.tenant_id) == console.tenant.id)
        )
    ).first()
    return _page(
        request,
        console,
        "settings.html",
        section="settings",
        failure=failure,
        time_zones=_time_zones(),
        provider=provider,
        roles=list(Role),
        sso_redirect=redirect_uri(services.settings, console.tenant),
    )


@router.get(ADMIN + "/settings")
async def settings_page(
    request: Request, console: AdminConsole, session: DbSession, services: ServicesDep
) -> Response:
    return await _settings_page(request, console, session, services)


@router.post(ADMIN + "/settings")
async def save_settings(
    request: Request, console: AdminConsole, session: DbSession, services: ServicesDep
) -> Response:
    form = await request.form()

    async def save() -> None:
        languages = [x for x in re.split(r"[\s,;]+", _field(form, "languages")) if x]
        data = TenantSettingsIn(
            name=_field(form, "name"),
            timezone=_field(form, "timezone"),
            default_language=_field(form, "default_language"),
            languages=languages,
        )
        await svc.update_settings(session, console.subject, console.tenant, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _settings_page(request, console, session, services, failure=exc)
    return _back(request, console, "settings", "Settings saved.")


@router.post(ADMIN + "/settings/sso")
async def save_sso(
    request: Request, console: AdminConsole, session: DbSession, services: ServicesDep
) -> Response:
    from plateaux.platform.auth.sso_endpoints import SsoSettingsIn, save_provider

    form = await request.form()

    async def save() -> None:
        role = _field(form, "auto_provision_role")
        data = SsoSettingsIn.model_validate(
            {
                "issuer": _field(form, "issuer"),
                "client_id": _field(form, "client_id"),
                "client_secret": _field(form, "client_secret"),
                "enabled": form.get("enabled") == "on",
                "auto_provision_role": role or None,
            }
        )
        await save_provider(session, services.settings, console.subject, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _settings_page(request, console, session, services, failure=exc)
    return _back(request, console, "settings", "Single sign-on saved.")


# --- API keys --------------------------------------------------------------------------


async def _keys_page(
    request: Request,
    console: ConsoleContext,
    session: DbSession,
    *,
    failure: BaseException | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> Response:
    keys, _ = await repo.list_owned(
        session, ApiKey, console.tenant.id, order_by=col(ApiKey.created_at).desc(), limit=1000
    )
    creators = await repo.users_by_id(
        session, console.tenant.id, [k.created_by for k in keys if k.created_by]
    )
    return _page(
        request,
        console,
        "api_keys.html",
        section="api-keys",
        failure=failure,
        keys=keys,
        creators=creators,
        scopes=[(s.value, SCOPE_HELP[s]) for s in Scope],
        new_key=new_key,
        status_code=status_code,
    )


@router.get(ADMIN + "/api-keys")
async def api_keys(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _keys_page(request, console, session)


@router.post(ADMIN + "/api-keys")
async def create_api_key(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> str:
        data = ApiKeyIn.model_validate(
            {"name": _field(form, "name"), "scopes": _values(form, "scope")}
        )
        _, full = await svc.create_api_key(
            session, console.subject, name=data.name, scopes=[s.value for s in data.scopes]
        )
        return full

    try:
        full = await _attempt(session, create)
    except REFUSED as exc:
        return await _keys_page(request, console, session, failure=exc)
    # Rendered here rather than after a redirect: the full key exists in this response
    # only (the database keeps a hash), so it must never travel in a URL.
    return await _keys_page(request, console, session, new_key=full, status_code=201)


@router.post(ADMIN + "/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, key_id: uuid.UUID, console: AdminConsole, session: DbSession
) -> Response:
    key = await repo.get_owned(session, ApiKey, console.tenant.id, key_id, what="API key")
    await svc.revoke_api_key(session, console.subject, key)
    return _back(request, console, "api-keys", f"The key {key.name} was revoked.")
