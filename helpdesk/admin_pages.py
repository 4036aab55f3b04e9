"""The admin console's Help desk section (``/t/{slug}/admin/helpdesk/...``): the knowledge
base (categories and articles in each language; supervisors edit it too), SLA policies,
quality (resolution codes and scorecards), call scripts and the settings (case rules,
satisfaction, the public help center). Same services and rules as the API."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from plateaux.helpdesk import configuration, kb, quality, scripts
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import (
    KbArticle,
    KbCategory,
    ResolutionCode,
    Scorecard,
    Script,
    SlaPolicy,
)
from plateaux.helpdesk.schemas import (
    CHANNELS,
    ArticleIn,
    ArticlePatch,
    CategoryIn,
    CategoryPatch,
    HelpdeskSettingsIn,
    ResolutionCodeIn,
    ScorecardIn,
    ScorecardPatch,
    ScriptIn,
    ScriptPatch,
    SlaPolicyIn,
    SlaPolicyPatch,
)
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession
from plateaux.platform.deps import SupervisorConsole as ManagerConsole
from plateaux.platform.errors import UnprocessableContent
from plateaux.routing import config_repository as routing_repo
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page, _values
from plateaux.tenants.models import Role

router = APIRouter(include_in_schema=False)
SECTION = ADMIN + "/helpdesk"
TABS = [("kb", "Knowledge base", True), ("sla", "SLA policies", False),
        ("quality", "Quality", False), ("scripts", "Call scripts", False),
        ("settings", "Settings", False)]
PRIORITIES = ("low", "normal", "high", "urgent")
EXTRA_STEP_ROWS = 3


def _section(request: Request, console: ConsoleContext, template: str, *, tab: str,
             failure: BaseException | None = None, **context: Any) -> Response:
    is_admin = console.user.role == Role.ADMIN
    tabs = [(key, label) for key, label, managers in TABS if is_admin or managers]
    return _page(request, console, f"helpdesk/{template}", section="helpdesk",
                 failure=failure, tab=tab, tabs=tabs, **context)


def _int(form: FormData, name: str, default: int | None = None) -> int | None:
    raw = _field(form, name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise UnprocessableContent(f"'{name.replace('_', ' ')}' must be a whole number.") from error


def _uuid_or_none(value: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise UnprocessableContent("Unknown choice.") from error


def _list(text: str, *, sep: str = ",") -> list[str]:
    parts = text.replace("\n", sep).split(sep)
    return [p.strip() for p in parts if p.strip()]


# --- knowledge base --------------------------------------------------------------------------


async def _kb_page(request: Request, console: ConsoleContext, session: DbSession, *,
                   failure: BaseException | None = None) -> Response:
    tenant_id = console.tenant.id
    settings = await repo.settings_of(session, tenant_id)
    categories = kb.tree(await repo.categories(session, tenant_id))
    articles = await kb.articles_out(session, tenant_id, await repo.articles(session,
                                                                             tenant_id))
    names = {c.id: kb.name_in(c.names, settings.kb_default_language,
                              settings.kb_default_language) for _, c in categories}
    return _section(request, console, "kb.html", tab="kb", failure=failure, settings=settings,
                    categories=categories, names=names, articles=articles)


@router.get(SECTION + "/kb")
async def kb_home(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _kb_page(request, console, session)


def _names(form: FormData, languages: list[str]) -> dict[str, str]:
    return {lang: _field(form, f"name_{lang}") for lang in languages
            if _field(form, f"name_{lang}")}


@router.post(SECTION + "/kb/categories")
async def create_category(request: Request, console: ManagerConsole,
                          session: DbSession) -> Response:
    form = await request.form()
    settings = await repo.settings_of(session, console.tenant.id)

    async def run() -> None:
        body = CategoryIn(names=_names(form, settings.kb_languages),
                          parent_id=_uuid_or_none(_field(form, "parent_id")),
                          position=_int(form, "position", 0) or 0)
        await kb.create_category(session, console.subject, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _kb_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/kb", "Category added.")


@router.post(SECTION + "/kb/categories/{category_id}")
async def update_category(category_id: uuid.UUID, request: Request, console: ManagerConsole,
                          session: DbSession) -> Response:
    form = await request.form()
    settings = await repo.settings_of(session, console.tenant.id)
    category = await repo.get_owned(session, KbCategory, console.tenant.id, category_id,
                                    "Category")

    async def run() -> None:
        if form.get("delete"):
            await kb.delete_category(session, console.subject, category)
            return
        body = CategoryPatch(names=_names(form, settings.kb_languages),
                             parent_id=_uuid_or_none(_field(form, "parent_id")),
                             position=_int(form, "position", 0))
        await kb.update_category(session, console.subject, category, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _kb_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/kb",
                 "Category removed." if form.get("delete") else "Category saved.")


async def _article_page(request: Request, console: ConsoleContext, session: DbSession,
                        article: KbArticle | None, *, failure: BaseException | None = None,
                        ) -> Response:
    tenant_id = console.tenant.id
    settings = await repo.settings_of(session, tenant_id)
    translations = {t.language: t for t in await repo.translations_of(
        session, tenant_id, [article.id])} if article else {}
    categories = kb.tree(await repo.categories(session, tenant_id))
    return _section(request, console, "article.html", tab="kb", failure=failure,
                    article=article, translations=translations, settings=settings,
                    categories=[(d, c, kb.name_in(c.names, settings.kb_default_language,
                                                  settings.kb_default_language))
                                for d, c in categories])


@router.get(SECTION + "/kb/articles/new")
async def new_article(request: Request, console: ManagerConsole, session: DbSession) -> Response:
    return await _article_page(request, console, session, None)


@router.get(SECTION + "/kb/articles/{article_id}")
async def edit_article(article_id: uuid.UUID, request: Request, console: ManagerConsole,
                       session: DbSession) -> Response:
    article = await repo.get_owned(session, KbArticle, console.tenant.id, article_id, "Article")
    return await _article_page(request, console, session, article)


def _translations(form: FormData, languages: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    found, empty = [], []
    for lang in languages:
        title = _field(form, f"title_{lang}")
        if not title:
            empty.append(lang)
            continue
        found.append({"language": lang, "title": title,
                      "body_html": str(form.get(f"body_{lang}") or ""),
                      "keywords": _list(_field(form, f"keywords_{lang}"))})
    return found, empty


@router.post(SECTION + "/kb/articles")
async def create_article(request: Request, console: ManagerConsole,
                         session: DbSession) -> Response:
    form = await request.form()
    settings = await repo.settings_of(session, console.tenant.id)

    async def run() -> uuid.UUID:
        translations, _ = _translations(form, settings.kb_languages)
        body = ArticleIn.model_validate({
            "category_id": _uuid_or_none(_field(form, "category_id")),
            "status": _field(form, "status") or "draft",
            "visibility": _field(form, "visibility") or "public",
            "position": _int(form, "position", 0), "translations": translations})
        return (await kb.create_article(session, console.subject, body)).id

    try:
        article_id = await _attempt(session, run)
    except REFUSED as exc:
        return await _article_page(request, console, session, None, failure=exc)
    return _back(request, console, f"helpdesk/kb/articles/{article_id}", "Article saved.")


@router.post(SECTION + "/kb/articles/{article_id}")
async def update_article(article_id: uuid.UUID, request: Request, console: ManagerConsole,
                         session: DbSession) -> Response:
    form = await request.form()
    settings = await repo.settings_of(session, console.tenant.id)
    article = await repo.get_owned(session, KbArticle, console.tenant.id, article_id, "Article")
    if form.get("delete"):
        await kb.delete_article(session, console.subject, article)
        return _back(request, console, "helpdesk/kb", "Article removed.")

    async def run() -> None:
        translations, empty = _translations(form, settings.kb_languages)
        body = ArticlePatch.model_validate({
            "category_id": _uuid_or_none(_field(form, "category_id")),
            "status": _field(form, "status") or None,
            "visibility": _field(form, "visibility") or None,
            "position": _int(form, "position", 0), "translations": translations,
            "remove_languages": empty})
        await kb.update_article(session, console.subject, article, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(article)
        return await _article_page(request, console, session, article, failure=exc)
    return _back(request, console, f"helpdesk/kb/articles/{article_id}", "Article saved.")


# --- SLA policies ----------------------------------------------------------------------------


async def _sla_page(request: Request, console: ConsoleContext, session: DbSession,
                    policy: SlaPolicy | None = None, *,
                    failure: BaseException | None = None) -> Response:
    return _section(request, console, "sla.html", tab="sla", failure=failure,
                    policies=await repo.sla_policies(session, console.tenant.id),
                    policy=policy, teams=await repo.teams(session, console.tenant.id),
                    priorities=PRIORITIES, channels=CHANNELS)


def _policy_values(form: FormData) -> dict[str, Any]:
    return {
        "name": _field(form, "name"), "description": _field(form, "description"),
        "position": _int(form, "position", 0), "active": form.get("active") == "on",
        "priorities": _values(form, "priorities"),
        "categories": _list(_field(form, "categories")),
        "channels": _values(form, "channels"),
        "first_response_minutes": _int(form, "first_response_minutes"),
        "next_response_minutes": _int(form, "next_response_minutes"),
        "resolution_minutes": _int(form, "resolution_minutes"),
        "business_hours": form.get("business_hours") == "on",
        "at_risk_percent": _int(form, "at_risk_percent", 75),
        "escalate_at_risk": form.get("escalate_at_risk") == "on",
        "escalate_on_breach": form.get("escalate_on_breach") == "on",
        "escalation_team_id": _uuid_or_none(_field(form, "escalation_team_id")),
    }


@router.get(SECTION + "/sla")
async def sla_policies(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _sla_page(request, console, session)


@router.post(SECTION + "/sla")
async def create_policy(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        await configuration.save_policy(session, console.subject, None,
                          SlaPolicyIn.model_validate(_policy_values(form)))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _sla_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/sla", "SLA policy added.")


@router.get(SECTION + "/sla/{policy_id}")
async def edit_policy(policy_id: uuid.UUID, request: Request, console: AdminConsole,
                      session: DbSession) -> Response:
    policy = await repo.get_owned(session, SlaPolicy, console.tenant.id, policy_id,
                                  "SLA policy")
    return await _sla_page(request, console, session, policy)


@router.post(SECTION + "/sla/{policy_id}")
async def update_policy(policy_id: uuid.UUID, request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await request.form()
    policy = await repo.get_owned(session, SlaPolicy, console.tenant.id, policy_id,
                                  "SLA policy")
    if form.get("delete"):
        await configuration.delete_policy(session, console.subject, policy)
        return _back(request, console, "helpdesk/sla", "SLA policy removed.")

    async def run() -> None:
        await configuration.save_policy(session, console.subject, policy,
                          SlaPolicyPatch.model_validate(_policy_values(form)))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(policy)
        return await _sla_page(request, console, session, policy, failure=exc)
    return _back(request, console, "helpdesk/sla", "SLA policy saved.")


# --- quality ---------------------------------------------------------------------------------


async def _quality_page(request: Request, console: ConsoleContext, session: DbSession,
                        card: Scorecard | None = None, *,
                        failure: BaseException | None = None) -> Response:
    tenant_id = console.tenant.id
    return _section(request, console, "quality.html", tab="quality", failure=failure,
                    codes=await repo.resolution_codes(session, tenant_id),
                    scorecards=await repo.scorecards(session, tenant_id), card=card)


def _criteria(text: str) -> list[dict[str, Any]]:
    """One criterion a line: ``key | label | weight``."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2:
            raise UnprocessableContent("Write each criterion as 'key | label | weight'.")
        try:
            weight = float(parts[2]) if len(parts) > 2 and parts[2] else 1.0
        except ValueError as error:
            raise UnprocessableContent(f"The weight of '{parts[0][:40]}' is a number.") from error
        found.append({"key": parts[0], "label": parts[1], "weight": weight,
                      "description": parts[3] if len(parts) > 3 else ""})
    return found


@router.get(SECTION + "/quality")
async def quality_page(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _quality_page(request, console, session)


@router.post(SECTION + "/quality/codes")
async def create_code(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        await configuration.save_code(session, console.subject, ResolutionCodeIn(
            code=_field(form, "code"), label=_field(form, "label"),
            position=_int(form, "position", 0) or 0))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _quality_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/quality", "Resolution code added.")


@router.post(SECTION + "/quality/codes/{code_id}/delete")
async def delete_code(code_id: uuid.UUID, request: Request, console: AdminConsole,
                      session: DbSession) -> Response:
    code = await repo.get_owned(session, ResolutionCode, console.tenant.id, code_id,
                                "Resolution code")
    await configuration.delete_code(session, console.subject, code)
    return _back(request, console, "helpdesk/quality", "Resolution code removed.")


@router.post(SECTION + "/quality/scorecards")
async def create_scorecard(request: Request, console: AdminConsole,
                           session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        await quality.create_scorecard(session, console.subject, ScorecardIn.model_validate({
            "name": _field(form, "name"), "description": _field(form, "description"),
            "criteria": _criteria(str(form.get("criteria") or "")),
            "active": form.get("active") == "on"}))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _quality_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/quality", "Scorecard added.")


@router.get(SECTION + "/quality/scorecards/{scorecard_id}")
async def edit_scorecard(scorecard_id: uuid.UUID, request: Request, console: AdminConsole,
                         session: DbSession) -> Response:
    card = await repo.get_owned(session, Scorecard, console.tenant.id, scorecard_id,
                                "Scorecard")
    return await _quality_page(request, console, session, card)


@router.post(SECTION + "/quality/scorecards/{scorecard_id}")
async def update_scorecard(scorecard_id: uuid.UUID, request: Request, console: AdminConsole,
                           session: DbSession) -> Response:
    form = await request.form()
    card = await repo.get_owned(session, Scorecard, console.tenant.id, scorecard_id,
                                "Scorecard")
    if form.get("delete"):
        await quality.delete_scorecard(session, console.subject, card)
        return _back(request, console, "helpdesk/quality", "Scorecard removed.")

    async def run() -> None:
        await quality.update_scorecard(session, console.subject, card,
                                       ScorecardPatch.model_validate({
                                           "name": _field(form, "name"),
                                           "description": _field(form, "description"),
                                           "criteria": _criteria(str(form.get("criteria") or "")),
                                           "active": form.get("active") == "on"}))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(card)
        return await _quality_page(request, console, session, card, failure=exc)
    return _back(request, console, "helpdesk/quality", "Scorecard saved.")


# --- call scripts ----------------------------------------------------------------------------


async def _script_page(request: Request, console: ConsoleContext, session: DbSession,
                       script: Script | None, *, failure: BaseException | None = None,
                       listing: bool = False) -> Response:
    tenant_id = console.tenant.id
    steps = list(script.steps) if script else []
    return _section(request, console, "scripts.html", tab="scripts", failure=failure,
                    scripts=await repo.scripts(session, tenant_id), script=script,
                    listing=listing, steps=steps + [None] * EXTRA_STEP_ROWS,
                    queues=await routing_repo.all_queues(session, tenant_id))


def _steps(form: FormData) -> list[dict[str, Any]]:
    """The step rows of the form (empty rows left out); choices one a line as
    ``value | label | next step``."""
    found = []
    for index in range(int(_field(form, "rows") or "0")):
        step_id = _field(form, f"id_{index}")
        text = _field(form, f"text_{index}")
        if not step_id and not text:
            continue
        choices = []
        for line in str(form.get(f"choices_{index}") or "").splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            choices.append({"value": parts[0], "label": parts[1] if len(parts) > 1 and
                            parts[1] else parts[0],
                            "next": parts[2] if len(parts) > 2 and parts[2] else None})
        kind = _field(form, f"kind_{index}") or "say"
        found.append({"id": step_id, "kind": kind, "text": text,
                      "answer": (_field(form, f"answer_{index}") or None)
                      if kind == "question" else None,
                      "choices": choices, "next": _field(form, f"next_{index}") or None,
                      "required": form.get(f"required_{index}") == "on"})
    return found


def _script_values(form: FormData) -> dict[str, Any]:
    return {"name": _field(form, "name"), "description": _field(form, "description"),
            "active": form.get("active") == "on",
            "queue_ids": _values(form, "queue_ids"),
            "campaigns": _list(_field(form, "campaigns")),
            "language": _field(form, "language") or None,
            "start": _field(form, "start") or None, "steps": _steps(form)}


@router.get(SECTION + "/scripts")
async def scripts_page(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _script_page(request, console, session, None, listing=True)


@router.get(SECTION + "/scripts/new")
async def new_script(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _script_page(request, console, session, None)


@router.post(SECTION + "/scripts")
async def create_script(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> uuid.UUID:
        body = ScriptIn.model_validate(_script_values(form))
        return (await scripts.create_script(session, console.subject, body)).id

    try:
        script_id = await _attempt(session, run)
    except REFUSED as exc:
        return await _script_page(request, console, session, None, failure=exc)
    return _back(request, console, f"helpdesk/scripts/{script_id}", "Script saved.")


@router.get(SECTION + "/scripts/{script_id}")
async def edit_script(script_id: uuid.UUID, request: Request, console: AdminConsole,
                      session: DbSession) -> Response:
    script = await repo.get_owned(session, Script, console.tenant.id, script_id, "Script")
    return await _script_page(request, console, session, script)


@router.post(SECTION + "/scripts/{script_id}")
async def update_script(script_id: uuid.UUID, request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await request.form()
    script = await repo.get_owned(session, Script, console.tenant.id, script_id, "Script")
    if form.get("delete"):
        await scripts.delete_script(session, console.subject, script)
        return _back(request, console, "helpdesk/scripts", "Script removed.")

    async def run() -> None:
        await scripts.update_script(session, console.subject, script,
                                    ScriptPatch.model_validate(_script_values(form)))

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(script)
        return await _script_page(request, console, session, script, failure=exc)
    return _back(request, console, f"helpdesk/scripts/{script_id}", "Script saved.")


# --- settings --------------------------------------------------------------------------------


async def _settings_page(request: Request, console: ConsoleContext, session: DbSession, *,
                         failure: BaseException | None = None) -> Response:
    return _section(request, console, "settings.html", tab="settings", failure=failure,
                    settings=await repo.settings_of(session, console.tenant.id),
                    channels=CHANNELS)


@router.get(SECTION + "/settings")
async def settings_page(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _settings_page(request, console, session)


@router.post(SECTION + "/settings")
async def update_settings(request: Request, console: AdminConsole,
                          session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        languages = _list(_field(form, "kb_languages"))
        body = HelpdeskSettingsIn.model_validate({
            "auto_case_channels": _values(form, "auto_case_channels"),
            "categories": _list(str(form.get("categories") or ""), sep="\n"),
            "auto_close_days": _int(form, "auto_close_days", 4),
            "csat_enabled": form.get("csat_enabled") == "on",
            "help_center_enabled": form.get("help_center_enabled") == "on",
            "help_center_title": _field(form, "help_center_title"),
            "help_center_intro": _field(form, "help_center_intro"),
            "kb_languages": languages or ["en"],
            "kb_default_language": _field(form, "kb_default_language") or (
                languages[0] if languages else "en")})
        await configuration.save_settings(session, console.subject, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _settings_page(request, console, session, failure=exc)
    return _back(request, console, "helpdesk/settings", "Settings saved.")
