"""The help desk in the agent and supervisor consoles: the case list and a case's page
(``/t/{slug}/agent/cases/...``: fields, SLA, notes, escalation, solving, the contacts and
activity), and the supervisors' review pages (``/t/{slug}/supervisor/reviews``).

Server-rendered forms through the same services as the API; a refused change re-renders
the page with the reason and a 4xx status, and leaves nothing half-done (a savepoint).
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select
from starlette.datastructures import FormData

from plateaux.crm import repository as crm_repo
from plateaux.crm import service as crm_service
from plateaux.helpdesk import cases, escalation, quality, sla_service
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import MAX_LEVEL, Case, Scorecard
from plateaux.helpdesk.schemas import CasePatch, ReviewIn, SolveIn
from plateaux.helpdesk.sla import METRIC_LABELS
from plateaux.platform.deps import Console, ConsoleContext, DbSession, SupervisorConsole
from plateaux.platform.errors import NotFound, ProblemError, UnprocessableContent
from plateaux.platform.web import redirect, render
from plateaux.routing.models import Contact
from plateaux.tenants import admin_repository as people
from plateaux.tenants.console import REFUSED, _attempt, _failure, _field
from plateaux.tenants.models import Role

router = APIRouter(include_in_schema=False)
AGENT = "/t/{slug}/agent/cases"
SUPERVISOR = "/t/{slug}/supervisor"
VIEWS = {"mine": "My cases", "unassigned": "Unassigned", "open": "All open",
         "breached": "SLA missed", "done": "Solved and closed"}
DONE = {"saved": "Case saved.", "note": "Note added.", "escalated": "Case escalated.",
        "solved": "Case solved.", "closed": "Case closed.", "reopened": "Case reopened.",
        "reviewed": "Review saved."}
PAGE = 50


def _render(request: Request, console: ConsoleContext, template: str, *,
            failure: BaseException | None = None, **context: Any) -> HTMLResponse:
    error, status = (None, 200)
    if failure is not None:
        error, status = _failure(failure)
    role = Role(console.user.role)
    zone = ZoneInfo(console.tenant.timezone)
    notice = DONE.get(request.query_params.get("done", ""))
    return render(request, template, console.template_context(
        config={"slug": console.tenant.slug, "me": {"id": str(console.user.id),
                                                     "name": console.user.name}},
        is_manager=role in (Role.ADMIN, Role.SUPERVISOR), is_admin=role == Role.ADMIN,
        error=error, notice=notice, labels=METRIC_LABELS,
        local=lambda at: at.astimezone(zone) if at is not None else None, **context),
        status_code=status, session_hash=console.subject.session_token_hash)


# --- the case list ---------------------------------------------------------------------------


@router.get(AGENT)
async def case_list(request: Request, console: Console, session: DbSession) -> Response:
    view = request.query_params.get("view", "mine")
    view = view if view in VIEWS else "mine"
    query = request.query_params.get("q", "").strip()[:200]
    raw = request.query_params.get("page", "1")
    page = max(1, min(int(raw), 10_000)) if raw.isdigit() else 1
    filters: dict[str, Any] = {"statuses": ("new", "open", "pending")}
    if view == "mine":
        filters["owner_id"] = console.user.id
    elif view == "unassigned":
        filters["unassigned"] = True
    elif view == "breached":
        filters["breached"] = True
    elif view == "done":
        filters["statuses"] = ("solved", "closed")
    items, total = await repo.list_cases(session, console.tenant.id, query=query or None,
                                         offset=(page - 1) * PAGE, limit=PAGE, **filters)
    users = {u.id: u.name for u in await people.all_users(session, console.tenant.id)}
    return _render(request, console, "helpdesk/cases.html", section="cases", cases=items,
                   total=total, view=view, views=VIEWS, query=query, page=page,
                   pages=max(1, -(-total // PAGE)), users=users)


# --- one case --------------------------------------------------------------------------------


async def _case_page(request: Request, console: ConsoleContext, session: DbSession,
                     case: Case, *, failure: BaseException | None = None) -> HTMLResponse:
    tenant_id = console.tenant.id
    links = await repo.links_of(session, tenant_id, case.id)
    contacts = {c.id: c for c in (await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id,
        col(Contact.id).in_([link.contact_id for link in links])))).all()} if links else {}
    person = None
    if case.person_id is not None:
        try:
            person = await crm_service.person_out(
                session, await crm_repo.get_person(session, tenant_id, case.person_id))
        except NotFound:
            person = None
    users = await people.all_users(session, tenant_id)
    settings = await repo.settings_of(session, tenant_id)
    return _render(
        request, console, "helpdesk/case.html", failure=failure, section="cases", case=case,
        links=links, contacts=contacts, person=person,
        events=await repo.events_of(session, tenant_id, case.id),
        escalations=await repo.escalations_of(session, tenant_id, case.id),
        runs=await repo.runs_of(session, tenant_id, case_id=case.id),
        reviews=await repo.reviews_of(session, tenant_id, case.id),
        users=[u for u in users if u.is_active], user_names={u.id: u.name for u in users},
        teams=await repo.teams(session, tenant_id),
        codes=await repo.resolution_codes(session, tenant_id),
        categories=settings.categories or [], levels=range(1, MAX_LEVEL + 1))


async def _case(session: DbSession, console: ConsoleContext, case_id: uuid.UUID) -> Case:
    return await repo.get_case(session, console.tenant.id, case_id)


@router.get(AGENT + "/{case_id}")
async def case_page(case_id: uuid.UUID, request: Request, console: Console,
                    session: DbSession) -> Response:
    return await _case_page(request, console, session, await _case(session, console, case_id))


def _optional_uuid(form: FormData, name: str) -> uuid.UUID | None:
    raw = _field(form, name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise UnprocessableContent("Unknown choice.") from error


async def _act(request: Request, console: ConsoleContext, session: DbSession,
               case_id: uuid.UUID, done: str, change: Any) -> Response:
    case = await _case(session, console, case_id)
    try:
        await _attempt(session, lambda: change(case))
    except REFUSED as exc:
        await session.refresh(case)
        return await _case_page(request, console, session, case, failure=exc)
    return redirect(f"/t/{console.tenant.slug}/agent/cases/{case.id}?done={done}")


@router.post(AGENT + "/{case_id}")
async def update_case(case_id: uuid.UUID, request: Request, console: Console,
                      session: DbSession) -> Response:
    form = await request.form()

    async def change(case: Case) -> None:
        level = _field(form, "level")
        body = CasePatch.model_validate({
            "subject": _field(form, "subject") or None,
            "description": str(form.get("description") or ""),
            "status": _field(form, "status") or None,
            "priority": _field(form, "priority") or None,
            "category": _field(form, "category"),
            "level": int(level) if level.isdigit() else None,
            "owner_id": _optional_uuid(form, "owner_id"),
            "team_id": _optional_uuid(form, "team_id")})
        await cases.update_case(session, console.subject, case, body)

    return await _act(request, console, session, case_id, "saved", change)


@router.post(AGENT + "/{case_id}/notes")
async def add_note(case_id: uuid.UUID, request: Request, console: Console,
                   session: DbSession) -> Response:
    form = await request.form()

    async def change(case: Case) -> None:
        body = str(form.get("body") or "").strip()
        if not body or len(body) > 10000:
            raise UnprocessableContent("A note is 1 to 10,000 characters.")
        await cases.add_note(session, console.subject, case, body)

    return await _act(request, console, session, case_id, "note", change)


@router.post(AGENT + "/{case_id}/escalate")
async def escalate(case_id: uuid.UUID, request: Request, console: Console,
                   session: DbSession) -> Response:
    form = await request.form()

    async def change(case: Case) -> None:
        level = _field(form, "level")
        actor_id, actor_name = await cases.actor_of(session, console.subject)
        await escalation.escalate(session, case, reason="manual",
                                  to_level=int(level) if level.isdigit() else None,
                                  to_team_id=_optional_uuid(form, "team_id"),
                                  note=_field(form, "note")[:2000], actor_id=actor_id,
                                  actor_name=actor_name)
        await sla_service.refresh(session, case)

    return await _act(request, console, session, case_id, "escalated", change)


@router.post(AGENT + "/{case_id}/solve")
async def solve(case_id: uuid.UUID, request: Request, console: Console,
                session: DbSession) -> Response:
    form = await request.form()
    close = form.get("close") == "on"

    async def change(case: Case) -> None:
        body = SolveIn(resolution_code=_field(form, "resolution_code") or None,
                       resolution_note=_field(form, "resolution_note")[:2000], close=close)
        await cases.solve(session, console.subject, case, body)

    return await _act(request, console, session, case_id, "closed" if close else "solved",
                      change)


@router.post(AGENT + "/{case_id}/reopen")
async def reopen(case_id: uuid.UUID, request: Request, console: Console,
                 session: DbSession) -> Response:
    form = await request.form()

    async def change(case: Case) -> None:
        actor_id, actor_name = await cases.actor_of(session, console.subject)
        await cases.reopen(session, case, actor_id=actor_id, actor_name=actor_name,
                           note=_field(form, "note")[:2000])

    return await _act(request, console, session, case_id, "reopened", change)


# --- reviews ---------------------------------------------------------------------------------


@router.get(SUPERVISOR + "/reviews")
async def reviews(request: Request, console: SupervisorConsole, session: DbSession) -> Response:
    tenant_id = console.tenant.id
    users = {u.id: u.name for u in await people.all_users(session, tenant_id)}
    done = await repo.recent_reviews(session, tenant_id, limit=50)
    numbers = {c.id: c for c in (await session.scalars(select(Case).where(
        col(Case.tenant_id) == tenant_id,
        col(Case.id).in_([r.case_id for r in done])))).all()} if done else {}
    return _render(request, console, "helpdesk/reviews.html", section="reviews",
                   waiting=await repo.cases_to_review(session, tenant_id), done=done,
                   reviewed_cases=numbers, users=users)


async def _review_page(request: Request, console: ConsoleContext, session: DbSession,
                       case: Case, *, failure: BaseException | None = None) -> HTMLResponse:
    tenant_id = console.tenant.id
    users = {u.id: u.name for u in await people.all_users(session, tenant_id)}
    return _render(request, console, "helpdesk/review.html", failure=failure,
                   section="reviews", case=case, users=users,
                   scorecards=await repo.scorecards(session, tenant_id, active_only=True),
                   events=await repo.events_of(session, tenant_id, case.id),
                   reviews=await repo.reviews_of(session, tenant_id, case.id))


@router.get(SUPERVISOR + "/cases/{case_id}/review")
async def review_page(case_id: uuid.UUID, request: Request, console: SupervisorConsole,
                      session: DbSession) -> Response:
    return await _review_page(request, console, session, await _case(session, console, case_id))


@router.post(SUPERVISOR + "/cases/{case_id}/review")
async def review(case_id: uuid.UUID, request: Request, console: SupervisorConsole,
                 session: DbSession) -> Response:
    form = await request.form()
    case = await _case(session, console, case_id)

    async def change() -> None:
        card_id = _optional_uuid(form, "scorecard_id")
        if card_id is None:
            raise UnprocessableContent("Choose a scorecard.")
        card = await repo.get_owned(session, Scorecard, console.tenant.id, card_id, "Scorecard")
        scores: dict[str, int | None] = {}
        for criterion in card.criteria:
            raw = _field(form, f"score_{criterion['key']}")
            scores[criterion["key"]] = int(raw) if raw.isdigit() else None
        await quality.review(session, console.subject, case, ReviewIn(
            scorecard_id=card.id, scores=scores, comment=str(form.get("comment") or "")[:10000]))

    try:
        await _attempt(session, change)
    except (*REFUSED, ProblemError) as exc:
        return await _review_page(request, console, session, case, failure=exc)
    return redirect(f"/t/{console.tenant.slug}/supervisor/reviews?done=reviewed")
