"""Help desk API under ``/api/v1/helpdesk``: cases (with their contacts, notes,
escalation, solving, reviews), the console's panel for a contact, notifications, SLA
policies, resolution codes, scorecards, call scripts and their runs, the knowledge base
(categories, articles, search, suggestions, sending) and the settings.

Every user works cases (agents open and move them from the console); API keys need
``contacts:read`` to read and ``contacts:write`` to change them. Supervisors (and keys with
``contacts:write``) review cases and edit the knowledge base; admins (``tenant:write``)
set SLA policies, scorecards, resolution codes, scripts and settings.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import update
from sqlmodel import col

from plateaux.api.idempotency import idempotent_create
from plateaux.helpdesk import (
    cases,
    configuration,
    crm_hooks,  # noqa: F401  (the CRM hooks are installed with the routes)
    escalation,
    kb,
    quality,
    scripts,
    sla_service,
)
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import (
    ArticleStatus,
    Case,
    KbArticle,
    KbCategory,
    Notification,
    ResolutionCode,
    Scorecard,
    Script,
    ScriptRun,
    SlaPolicy,
)
from plateaux.helpdesk.schemas import (
    AnswerIn,
    ArticleHitOut,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    CaseContactOut,
    CaseDetailOut,
    CaseEventOut,
    CaseIn,
    CaseNoteIn,
    CaseOut,
    CasePage,
    CasePatch,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    EscalateIn,
    EscalationOut,
    HelpdeskSettingsIn,
    HelpdeskSettingsOut,
    LinkIn,
    NotificationOut,
    PanelOut,
    ReopenIn,
    ResolutionCodeIn,
    ResolutionCodeOut,
    ReviewIn,
    ReviewOut,
    RunIn,
    RunOut,
    ScorecardIn,
    ScorecardOut,
    ScorecardPatch,
    ScriptIn,
    ScriptOut,
    ScriptPatch,
    SendArticleIn,
    SentArticleOut,
    SlaPolicyIn,
    SlaPolicyOut,
    SlaPolicyPatch,
    SolveIn,
)
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import CurrentSubject, DbSession, require_scope
from plateaux.platform.errors import Conflict, Forbidden, NotFound
from plateaux.platform.types import utcnow
from plateaux.routing import contact_service

router = APIRouter(prefix="/helpdesk", tags=["helpdesk"])

Reader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]
Supervisor = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_WRITE))]
Admin = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]


async def _case_worker(subject: CurrentSubject) -> Subject:
    # Agents open and move the cases they work on; API keys need contacts:write.
    if subject.has(Scope.CONTACTS_WRITE) or (
            subject.kind == "user" and subject.has(Scope.CONTACTS_READ)):
        return subject
    raise Forbidden("This needs the 'contacts:write' permission.")


Worker = Annotated[Subject, Depends(_case_worker)]


async def _case(session: DbSession, subject: Subject, case_id: uuid.UUID) -> Case:
    return await repo.get_case(session, subject.tenant_id, case_id)


# --- cases -----------------------------------------------------------------------------------


@router.get("/cases", response_model=CasePage)
async def list_cases(subject: Reader, session: DbSession,
                     status: Annotated[list[Literal["new", "open", "pending", "solved",
                                                    "closed"]] | None, Query()] = None,
                     owner: Annotated[str | None, Query(
                         max_length=36, description="'me', 'none' or a user's id")] = None,
                     team_id: uuid.UUID | None = None, person_id: uuid.UUID | None = None,
                     priority: Literal["low", "normal", "high", "urgent"] | None = None,
                     breached: bool | None = None,
                     q: Annotated[str | None, Query(max_length=200)] = None,
                     offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> CasePage:
    owner_id: uuid.UUID | None = None
    if owner == "me":
        owner_id = subject.user_id or uuid.UUID(int=0)
    elif owner and owner != "none":
        try:
            owner_id = uuid.UUID(owner)
        except ValueError:
            owner_id = uuid.UUID(int=0)
    items, total = await repo.list_cases(
        session, subject.tenant_id, statuses=status or (), owner_id=owner_id,
        unassigned=owner == "none", team_id=team_id, person_id=person_id, priority=priority,
        breached=breached, query=q, offset=offset, limit=limit)
    return CasePage(items=[cases.case_out(c) for c in items], total=total, offset=offset,
                    limit=limit)


@router.post("/cases", response_model=CaseOut, status_code=201)
async def create_case(body: CaseIn, request: Request, subject: Worker,
                      session: DbSession) -> Response:
    async def create() -> CaseOut:
        return cases.case_out(await cases.create_case(session, subject, body,
                                                      source="agent" if subject.kind == "user"
                                                      else "api"))

    return await idempotent_create(request, session, subject, body, create)


async def case_detail(session: DbSession, case: Case) -> CaseDetailOut:
    tenant_id = case.tenant_id
    return CaseDetailOut(
        case=cases.case_out(case),
        contacts=[CaseContactOut.model_validate(link)
                  for link in await repo.links_of(session, tenant_id, case.id)],
        events=[CaseEventOut.model_validate(e)
                for e in await repo.events_of(session, tenant_id, case.id)],
        escalations=[EscalationOut.model_validate(e)
                     for e in await repo.escalations_of(session, tenant_id, case.id)],
        runs=[RunOut.model_validate(r) for r in await repo.runs_of(session, tenant_id,
                                                                    case_id=case.id)],
        reviews=[ReviewOut.model_validate(r)
                 for r in await repo.reviews_of(session, tenant_id, case.id)])


@router.get("/cases/{case_id}", response_model=CaseDetailOut)
async def get_case(case_id: uuid.UUID, subject: Reader, session: DbSession) -> CaseDetailOut:
    return await case_detail(session, await _case(session, subject, case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut)
async def update_case(case_id: uuid.UUID, body: CasePatch, subject: Worker,
                      session: DbSession) -> CaseOut:
    case = await _case(session, subject, case_id)
    return cases.case_out(await cases.update_case(session, subject, case, body))


@router.post("/cases/{case_id}/notes", response_model=CaseOut, status_code=201)
async def add_note(case_id: uuid.UUID, body: CaseNoteIn, subject: Worker,
                   session: DbSession) -> CaseOut:
    case = await _case(session, subject, case_id)
    await cases.add_note(session, subject, case, body.body)
    return cases.case_out(case)


@router.post("/cases/{case_id}/contacts", response_model=CaseContactOut, status_code=201)
async def link_contact(case_id: uuid.UUID, body: LinkIn, subject: Worker,
                       session: DbSession) -> CaseContactOut:
    case = await _case(session, subject, case_id)
    return CaseContactOut.model_validate(await cases.link(session, subject, case,
                                                          body.contact_id))


@router.delete("/cases/{case_id}/contacts/{contact_id}", status_code=204)
async def unlink_contact(case_id: uuid.UUID, contact_id: uuid.UUID, subject: Worker,
                         session: DbSession) -> Response:
    case = await _case(session, subject, case_id)
    await cases.unlink(session, subject, case, contact_id)
    return Response(status_code=204)


@router.post("/cases/{case_id}/escalate", response_model=EscalationOut, status_code=201)
async def escalate(case_id: uuid.UUID, body: EscalateIn, subject: Worker,
                   session: DbSession) -> EscalationOut:
    case = await _case(session, subject, case_id)
    actor_id, actor_name = await cases.actor_of(session, subject)
    found = await escalation.escalate(session, case, reason="manual", to_level=body.level,
                                      to_team_id=body.team_id, note=body.note,
                                      actor_id=actor_id, actor_name=actor_name)
    await sla_service.refresh(session, case)
    return EscalationOut.model_validate(found)


@router.post("/cases/{case_id}/solve", response_model=CaseOut)
async def solve(case_id: uuid.UUID, body: SolveIn, subject: Worker,
                session: DbSession) -> CaseOut:
    case = await _case(session, subject, case_id)
    return cases.case_out(await cases.solve(session, subject, case, body))


@router.post("/cases/{case_id}/reopen", response_model=CaseOut)
async def reopen(case_id: uuid.UUID, body: ReopenIn, subject: Worker,
                 session: DbSession) -> CaseOut:
    case = await _case(session, subject, case_id)
    if case.status not in ("solved", "pending", "closed"):
        raise Conflict("The case is not solved.")
    actor_id, actor_name = await cases.actor_of(session, subject)
    return cases.case_out(await cases.reopen(session, case, actor_id=actor_id,
                                             actor_name=actor_name, note=body.note))


@router.post("/cases/{case_id}/reviews", response_model=ReviewOut, status_code=201)
async def review_case(case_id: uuid.UUID, body: ReviewIn, subject: Supervisor,
                      session: DbSession) -> ReviewOut:
    case = await _case(session, subject, case_id)
    return ReviewOut.model_validate(await quality.review(session, subject, case, body))


@router.get("/reviews", response_model=list[ReviewOut])
async def list_reviews(subject: Supervisor, session: DbSession) -> list[ReviewOut]:
    return [ReviewOut.model_validate(r) for r in await repo.recent_reviews(
        session, subject.tenant_id, limit=200)]


# --- the console's panel ---------------------------------------------------------------------


@router.get("/contacts/{contact_id}/panel", response_model=PanelOut)
async def contact_panel(contact_id: uuid.UUID, subject: Reader, session: DbSession) -> PanelOut:
    """What the agent console shows beside a contact: its case, the person's other open
    cases (to add the contact to one), the scripts for it and those already run."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    tenant_id = subject.tenant_id
    link = await repo.link_of_contact(session, tenant_id, contact.id)
    case = await repo.get_case(session, tenant_id, link.case_id) if link else None
    open_cases: list[Case] = []
    if contact.person_id is not None:
        open_cases = [c for c in await repo.cases_of_person(session, tenant_id,
                                                            contact.person_id, limit=20)
                      if c.status in cases.ACTIVE and (case is None or c.id != case.id)]
    settings = await repo.settings_of(session, tenant_id)
    return PanelOut(
        contact_id=contact.id, case=cases.case_out(case) if case else None,
        open_cases=[cases.case_out(c) for c in open_cases],
        scripts=[ScriptOut.model_validate(s) for s in await scripts.scripts_for(session,
                                                                                contact)],
        runs=[RunOut.model_validate(r) for r in await repo.runs_of(session, tenant_id,
                                                                    contact_id=contact.id)],
        resolution_codes=[ResolutionCodeOut.model_validate(c)
                          for c in await repo.resolution_codes(session, tenant_id)],
        categories=list(settings.categories or []))


@router.get("/contacts/{contact_id}/suggestions", response_model=list[ArticleHitOut])
async def suggestions(contact_id: uuid.UUID, subject: Reader, session: DbSession,
                      limit: Annotated[int, Query(ge=1, le=20)] = 5) -> list[ArticleHitOut]:
    """Published articles about what the customer wrote in this contact, best first."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    return await kb.suggest(session, subject, contact.id, limit=limit)


# --- notifications ---------------------------------------------------------------------------


@router.get("/notifications", response_model=list[NotificationOut])
async def list_notifications(subject: Reader, session: DbSession,
                             unread: bool = False) -> list[NotificationOut]:
    if subject.user_id is None:
        return []
    return [NotificationOut.model_validate(n) for n in await repo.notifications_of(
        session, subject.tenant_id, subject.user_id, unread_only=unread)]


@router.post("/notifications/{notification_id}/read", status_code=204)
async def read_notification(notification_id: uuid.UUID, subject: Reader,
                            session: DbSession) -> Response:
    found = await repo.get_owned(session, Notification, subject.tenant_id, notification_id,
                                 "Notification")
    if found.user_id != subject.user_id:
        raise NotFound("Notification not found.")
    found.read_at = found.read_at or utcnow()
    session.add(found)
    return Response(status_code=204)


@router.post("/notifications/read-all", status_code=204)
async def read_all(subject: Reader, session: DbSession) -> Response:
    if subject.user_id is not None:
        await session.execute(update(Notification).where(
            col(Notification.tenant_id) == subject.tenant_id,
            col(Notification.user_id) == subject.user_id,
            col(Notification.read_at).is_(None)).values(read_at=utcnow()))
    return Response(status_code=204)


# --- SLA policies ----------------------------------------------------------------------------


@router.get("/sla-policies", response_model=list[SlaPolicyOut])
async def list_policies(subject: Reader, session: DbSession) -> list[SlaPolicyOut]:
    return [SlaPolicyOut.model_validate(p) for p in await repo.sla_policies(
        session, subject.tenant_id)]


@router.post("/sla-policies", response_model=SlaPolicyOut, status_code=201)
async def create_policy(body: SlaPolicyIn, subject: Admin, session: DbSession) -> SlaPolicyOut:
    policy = await configuration.save_policy(session, subject, None, body)
    return SlaPolicyOut.model_validate(policy)


@router.get("/sla-policies/{policy_id}", response_model=SlaPolicyOut)
async def get_policy(policy_id: uuid.UUID, subject: Reader, session: DbSession) -> SlaPolicyOut:
    return SlaPolicyOut.model_validate(await repo.get_owned(
        session, SlaPolicy, subject.tenant_id, policy_id, "SLA policy"))


@router.patch("/sla-policies/{policy_id}", response_model=SlaPolicyOut)
async def update_policy(policy_id: uuid.UUID, body: SlaPolicyPatch, subject: Admin,
                        session: DbSession) -> SlaPolicyOut:
    policy = await repo.get_owned(session, SlaPolicy, subject.tenant_id, policy_id,
                                  "SLA policy")
    saved = await configuration.save_policy(session, subject, policy, body)
    return SlaPolicyOut.model_validate(saved)


@router.delete("/sla-policies/{policy_id}", status_code=204)
async def delete_policy(policy_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    policy = await repo.get_owned(session, SlaPolicy, subject.tenant_id, policy_id,
                                  "SLA policy")
    await configuration.delete_policy(session, subject, policy)
    return Response(status_code=204)


# --- resolution codes ------------------------------------------------------------------------


@router.get("/resolution-codes", response_model=list[ResolutionCodeOut])
async def list_codes(subject: Reader, session: DbSession) -> list[ResolutionCodeOut]:
    return [ResolutionCodeOut.model_validate(c) for c in await repo.resolution_codes(
        session, subject.tenant_id)]


@router.post("/resolution-codes", response_model=ResolutionCodeOut, status_code=201)
async def create_code(body: ResolutionCodeIn, subject: Admin,
                      session: DbSession) -> ResolutionCodeOut:
    return ResolutionCodeOut.model_validate(await configuration.save_code(session, subject, body))


@router.delete("/resolution-codes/{code_id}", status_code=204)
async def delete_code(code_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    code = await repo.get_owned(session, ResolutionCode, subject.tenant_id, code_id,
                                "Resolution code")
    await configuration.delete_code(session, subject, code)
    return Response(status_code=204)


# --- scorecards ------------------------------------------------------------------------------


@router.get("/scorecards", response_model=list[ScorecardOut])
async def list_scorecards(subject: Supervisor, session: DbSession) -> list[ScorecardOut]:
    return [ScorecardOut.model_validate(s) for s in await repo.scorecards(
        session, subject.tenant_id)]


@router.post("/scorecards", response_model=ScorecardOut, status_code=201)
async def create_scorecard(body: ScorecardIn, subject: Admin,
                           session: DbSession) -> ScorecardOut:
    return ScorecardOut.model_validate(await quality.create_scorecard(session, subject, body))


@router.get("/scorecards/{scorecard_id}", response_model=ScorecardOut)
async def get_scorecard(scorecard_id: uuid.UUID, subject: Supervisor,
                        session: DbSession) -> ScorecardOut:
    return ScorecardOut.model_validate(await repo.get_owned(
        session, Scorecard, subject.tenant_id, scorecard_id, "Scorecard"))


@router.patch("/scorecards/{scorecard_id}", response_model=ScorecardOut)
async def update_scorecard(scorecard_id: uuid.UUID, body: ScorecardPatch, subject: Admin,
                           session: DbSession) -> ScorecardOut:
    card = await repo.get_owned(session, Scorecard, subject.tenant_id, scorecard_id,
                                "Scorecard")
    return ScorecardOut.model_validate(await quality.update_scorecard(session, subject, card,
                                                                      body))


@router.delete("/scorecards/{scorecard_id}", status_code=204)
async def delete_scorecard(scorecard_id: uuid.UUID, subject: Admin,
                           session: DbSession) -> Response:
    card = await repo.get_owned(session, Scorecard, subject.tenant_id, scorecard_id,
                                "Scorecard")
    await quality.delete_scorecard(session, subject, card)
    return Response(status_code=204)


# --- scripts and runs ------------------------------------------------------------------------


@router.get("/scripts", response_model=list[ScriptOut])
async def list_scripts(subject: Reader, session: DbSession) -> list[ScriptOut]:
    return [ScriptOut.model_validate(s) for s in await repo.scripts(session, subject.tenant_id)]


@router.post("/scripts", response_model=ScriptOut, status_code=201)
async def create_script(body: ScriptIn, subject: Admin, session: DbSession) -> ScriptOut:
    return ScriptOut.model_validate(await scripts.create_script(session, subject, body))


@router.get("/scripts/{script_id}", response_model=ScriptOut)
async def get_script(script_id: uuid.UUID, subject: Reader, session: DbSession) -> ScriptOut:
    return ScriptOut.model_validate(await repo.get_owned(session, Script, subject.tenant_id,
                                                         script_id, "Script"))


@router.patch("/scripts/{script_id}", response_model=ScriptOut)
async def update_script(script_id: uuid.UUID, body: ScriptPatch, subject: Admin,
                        session: DbSession) -> ScriptOut:
    script = await repo.get_owned(session, Script, subject.tenant_id, script_id, "Script")
    return ScriptOut.model_validate(await scripts.update_script(session, subject, script, body))


@router.delete("/scripts/{script_id}", status_code=204)
async def delete_script(script_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    script = await repo.get_owned(session, Script, subject.tenant_id, script_id, "Script")
    await scripts.delete_script(session, subject, script)
    return Response(status_code=204)


@router.post("/script-runs", response_model=RunOut, status_code=201)
async def start_run(body: RunIn, subject: Worker, session: DbSession) -> RunOut:
    return RunOut.model_validate(await scripts.start_run(session, subject, body))


async def _run(session: DbSession, subject: Subject, run_id: uuid.UUID) -> ScriptRun:
    return await repo.get_owned(session, ScriptRun, subject.tenant_id, run_id, "Script run")


@router.get("/script-runs/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, subject: Reader, session: DbSession) -> RunOut:
    return RunOut.model_validate(await _run(session, subject, run_id))


@router.post("/script-runs/{run_id}/answers", response_model=RunOut)
async def answer(run_id: uuid.UUID, body: AnswerIn, subject: Worker,
                 session: DbSession) -> RunOut:
    run = await _run(session, subject, run_id)
    return RunOut.model_validate(await scripts.answer(session, subject, run, body))


@router.post("/script-runs/{run_id}/abandon", response_model=RunOut)
async def abandon_run(run_id: uuid.UUID, subject: Worker, session: DbSession) -> RunOut:
    run = await _run(session, subject, run_id)
    return RunOut.model_validate(await scripts.abandon(session, subject, run))


# --- knowledge base --------------------------------------------------------------------------


@router.get("/kb/categories", response_model=list[CategoryOut])
async def list_categories(subject: Reader, session: DbSession) -> list[CategoryOut]:
    return [CategoryOut.model_validate(c) for _, c in kb.tree(await repo.categories(
        session, subject.tenant_id))]


@router.post("/kb/categories", response_model=CategoryOut, status_code=201)
async def create_category(body: CategoryIn, subject: Supervisor,
                          session: DbSession) -> CategoryOut:
    return CategoryOut.model_validate(await kb.create_category(session, subject, body))


@router.patch("/kb/categories/{category_id}", response_model=CategoryOut)
async def update_category(category_id: uuid.UUID, body: CategoryPatch, subject: Supervisor,
                          session: DbSession) -> CategoryOut:
    category = await repo.get_owned(session, KbCategory, subject.tenant_id, category_id,
                                    "Category")
    return CategoryOut.model_validate(await kb.update_category(session, subject, category, body))


@router.delete("/kb/categories/{category_id}", status_code=204)
async def delete_category(category_id: uuid.UUID, subject: Supervisor,
                          session: DbSession) -> Response:
    category = await repo.get_owned(session, KbCategory, subject.tenant_id, category_id,
                                    "Category")
    await kb.delete_category(session, subject, category)
    return Response(status_code=204)


@router.get("/kb/articles", response_model=list[ArticleOut])
async def list_articles(subject: Reader, session: DbSession,
                        category_id: uuid.UUID | None = None,
                        status: ArticleStatus | None = None) -> list[ArticleOut]:
    # Drafts and archived articles are the editors' (supervisors and admins).
    if not subject.has(Scope.CONTACTS_WRITE):
        status = ArticleStatus.PUBLISHED
    found = await repo.articles(session, subject.tenant_id, category_id=category_id,
                                status=status.value if status else None)
    return await kb.articles_out(session, subject.tenant_id, found)


@router.post("/kb/articles", response_model=ArticleOut, status_code=201)
async def create_article(body: ArticleIn, subject: Supervisor, session: DbSession) -> ArticleOut:
    article = await kb.create_article(session, subject, body)
    return (await kb.articles_out(session, subject.tenant_id, [article]))[0]


async def _article(session: DbSession, subject: Subject, article_id: uuid.UUID) -> KbArticle:
    article = await repo.get_owned(session, KbArticle, subject.tenant_id, article_id, "Article")
    if article.status != ArticleStatus.PUBLISHED and not subject.has(Scope.CONTACTS_WRITE):
        raise NotFound("Article not found.")
    return article


@router.get("/kb/articles/{article_id}", response_model=ArticleOut)
async def get_article(article_id: uuid.UUID, subject: Reader, session: DbSession) -> ArticleOut:
    article = await _article(session, subject, article_id)
    return (await kb.articles_out(session, subject.tenant_id, [article]))[0]


@router.patch("/kb/articles/{article_id}", response_model=ArticleOut)
async def update_article(article_id: uuid.UUID, body: ArticlePatch, subject: Supervisor,
                         session: DbSession) -> ArticleOut:
    article = await _article(session, subject, article_id)
    await kb.update_article(session, subject, article, body)
    return (await kb.articles_out(session, subject.tenant_id, [article]))[0]


@router.delete("/kb/articles/{article_id}", status_code=204)
async def delete_article(article_id: uuid.UUID, subject: Supervisor,
                         session: DbSession) -> Response:
    await kb.delete_article(session, subject, await _article(session, subject, article_id))
    return Response(status_code=204)


@router.get("/kb/search", response_model=list[ArticleHitOut])
async def search_articles(subject: Reader, session: DbSession,
                          q: Annotated[str, Query(min_length=1, max_length=200)],
                          language: Annotated[str | None, Query(max_length=10)] = None,
                          limit: Annotated[int, Query(ge=1, le=50)] = 10,
                          ) -> list[ArticleHitOut]:
    return await kb.search(session, subject.tenant_id, q, language=language, limit=limit)


@router.post("/kb/articles/{article_id}/send", response_model=SentArticleOut)
async def send_article(article_id: uuid.UUID, body: SendArticleIn, subject: Worker,
                       session: DbSession) -> SentArticleOut:
    """Send the article to the customer of a contact: into its chat, or as an email reply."""
    article = await _article(session, subject, article_id)
    return await kb.send(session, subject, article, contact_id=body.contact_id,
                         language=body.language)


# --- settings --------------------------------------------------------------------------------


@router.get("/settings", response_model=HelpdeskSettingsOut)
async def get_settings(subject: Reader, session: DbSession) -> HelpdeskSettingsOut:
    return HelpdeskSettingsOut.model_validate(await repo.settings_of(session, subject.tenant_id))


@router.put("/settings", response_model=HelpdeskSettingsOut)
async def put_settings(body: HelpdeskSettingsIn, subject: Admin,
                       session: DbSession) -> HelpdeskSettingsOut:
    settings = await configuration.save_settings(session, subject, body)
    return HelpdeskSettingsOut.model_validate(settings)
