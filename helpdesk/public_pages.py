"""The public pages: each tenant's help center (``/help/{slug}/{language}/``, when the
tenant turns it on) and the satisfaction survey a solved case's customer is sent.

Nobody is signed in: the tenant comes from the address and is bound to the request's
session (row-level security), requests are rate limited per client address, and only
published public articles show. Article HTML was sanitised when stored and is sanitised
again here, so a row written some other way cannot carry script into the page. The pages
have a policy of their own: images from https sites may show in articles, nothing runs.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import update
from sqlmodel import col

from plateaux.crm.search import snippet
from plateaux.helpdesk import kb, kb_search, quality
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.kb_html import sanitize
from plateaux.helpdesk.models import ArticleStatus, HelpdeskSettings, KbArticle, KbCategory
from plateaux.helpdesk.settings import helpdesk_settings
from plateaux.platform.auth.page_helpers import client_ip
from plateaux.platform.database import bind_tenant
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import NotFound, UnprocessableContent
from plateaux.platform.ratelimit import Limit
from plateaux.tenants.models import Tenant, TenantStatus
from plateaux.tenants.repository import get_tenant_by_slug

router = APIRouter(include_in_schema=False)
_HERE = Path(__file__).parent
_templates = Environment(loader=FileSystemLoader(str(_HERE / "templates" / "public")),
                         autoescape=select_autoescape(["html"], default=True))
CSP = ("default-src 'none'; img-src 'self' https: data:; style-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
LANGUAGE_NAMES = {"da": "Dansk", "de": "Deutsch", "en": "English", "es": "Español",
                  "fi": "Suomi", "fr": "Français", "hu": "Magyar", "it": "Italiano",
                  "nl": "Nederlands", "no": "Norsk", "pt": "Português", "ro": "Română",
                  "ru": "Русский", "sv": "Svenska", "tr": "Türkçe"}


def _page(name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(language_names=LANGUAGE_NAMES, **context)
    return HTMLResponse(html, status_code=status_code, headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-store"})


async def _limit(request: Request, services: ServicesDep, what: str) -> None:
    per_minute = helpdesk_settings().public_requests_per_minute
    await services.limiter.check(f"helpdesk:{what}:{client_ip(request)}",
                                 Limit(count=per_minute, seconds=60), what="requests")


async def _tenant(session: DbSession, slug: str) -> Tenant:
    tenant = await get_tenant_by_slug(session, slug[:63])
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        raise NotFound("There is no such help center.")
    await bind_tenant(session, tenant.id)
    return tenant


@router.get("/help/assets/help.css")
async def stylesheet() -> Response:
    return Response((_HERE / "static" / "help.css").read_text(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})


# --- help center -----------------------------------------------------------------------------


class Center:
    """One tenant's help center in one language, as the pages need it."""

    def __init__(self, tenant: Tenant, settings: HelpdeskSettings, language: str) -> None:
        self.tenant = tenant
        self.settings = settings
        self.language = language
        self.default = settings.kb_default_language

    @property
    def base(self) -> str:
        return f"/help/{self.tenant.slug}/{self.language}"

    def context(self, **extra: Any) -> dict[str, Any]:
        return {"tenant": self.tenant, "center": self, "language": self.language,
                "languages": self.settings.kb_languages or [self.default],
                "title": self.settings.help_center_title or f"{self.tenant.name} help center",
                **extra}

    def name(self, category: KbCategory) -> str:
        return kb.name_in(category.names or {}, self.language, self.default)


async def _center(session: DbSession, slug: str, language: str) -> Center:
    tenant = await _tenant(session, slug)
    settings = await repo.settings_of(session, tenant.id)
    if not settings.help_center_enabled:
        raise NotFound("There is no such help center.")
    wanted = kb_search.clean_language(language, "")
    if wanted not in (settings.kb_languages or [settings.kb_default_language]):
        raise NotFound("This help center is not in that language.")
    return Center(tenant, settings, wanted)


async def _published(session: DbSession, center: Center,
                     category_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The public published articles (of a category), each in the center's language or
    else the default one."""
    articles = await repo.articles(session, center.tenant.id, category_id=category_id,
                                   status=ArticleStatus.PUBLISHED.value, visibility="public")
    translations = await repo.translations_of(session, center.tenant.id,
                                              [a.id for a in articles])
    found = []
    for article in articles:
        translation = kb.pick([t for t in translations if t.article_id == article.id],
                              center.language, center.default)
        if translation is not None:
            found.append({"article": article, "translation": translation,
                          "url": f"{center.base}/articles/{article.id}-{translation.slug}"})
    return found


@router.get("/help/{slug}")
async def help_center_root(slug: str, request: Request, session: DbSession,
                           services: ServicesDep) -> Response:
    await _limit(request, services, "help")
    tenant = await _tenant(session, slug)
    settings = await repo.settings_of(session, tenant.id)
    if not settings.help_center_enabled:
        raise NotFound("There is no such help center.")
    accepted = request.headers.get("accept-language", "")
    languages = settings.kb_languages or [settings.kb_default_language]
    chosen = next((code for code in (part.split(";")[0].strip().lower()[:2]
                                     for part in accepted.split(",")) if code in languages),
                  settings.kb_default_language)
    return RedirectResponse(f"/help/{tenant.slug}/{chosen}/", status_code=303)


@router.get("/help/{slug}/{language}/")
async def help_center_home(slug: str, language: str, request: Request, session: DbSession,
                           services: ServicesDep) -> Response:
    await _limit(request, services, "help")
    center = await _center(session, slug, language)
    categories = kb.tree(await repo.categories(session, center.tenant.id))
    articles = await _published(session, center)
    by_category: dict[uuid.UUID | None, list[dict[str, Any]]] = {}
    for item in articles:
        by_category.setdefault(item["article"].category_id, []).append(item)
    return _page("home.html", **center.context(
        categories=[(depth, c, center.name(c), by_category.get(c.id, []))
                    for depth, c in categories],
        loose=by_category.get(None, []), page_path="/"))


@router.get("/help/{slug}/{language}/search")
async def help_center_search(slug: str, language: str, request: Request, session: DbSession,
                             services: ServicesDep) -> Response:
    await _limit(request, services, "help-search")
    center = await _center(session, slug, language)
    query = request.query_params.get("q", "").strip()[:200]
    hits = []
    if query:
        for match in await kb_search.search(session, center.tenant.id, query,
                                            language=center.language, visibility="public",
                                            limit=20):
            translations = await repo.translations_of(session, center.tenant.id,
                                                      [match.article_id])
            slug_of = next((t.slug for t in translations if t.language == match.language), "")
            hits.append({"title": match.title,
                         "snippet": snippet(match.body_text, kb_search.words_of(query)),
                         "url": f"{center.base}/articles/{match.article_id}-{slug_of}"})
    return _page("search.html", **center.context(
        query=query, hits=hits, page_path="/search?" + urlencode({"q": query})))


@router.get("/help/{slug}/{language}/categories/{category_id}")
async def help_center_category(slug: str, language: str, category_id: str, request: Request,
                               session: DbSession, services: ServicesDep) -> Response:
    await _limit(request, services, "help")
    center = await _center(session, slug, language)
    category = await _category(session, center, category_id)
    children = [(c, center.name(c)) for c in await repo.categories(session, center.tenant.id)
                if c.parent_id == category.id]
    return _page("category.html", **center.context(
        category=category, category_name=center.name(category), children=children,
        articles=await _published(session, center, category.id),
        page_path=f"/categories/{category.id}"))


async def _category(session: DbSession, center: Center, raw: str) -> KbCategory:
    try:
        category_id = uuid.UUID(raw[:36])
    except ValueError as error:
        raise NotFound("There is no such category.") from error
    return await repo.get_owned(session, KbCategory, center.tenant.id, category_id, "Category")


@router.get("/help/{slug}/{language}/articles/{reference}")
async def help_center_article(slug: str, language: str, reference: str, request: Request,
                              session: DbSession, services: ServicesDep) -> Response:
    await _limit(request, services, "help")
    center = await _center(session, slug, language)
    try:
        article_id = uuid.UUID(reference[:36])
    except ValueError as error:
        raise NotFound("There is no such article.") from error
    article = await repo.get_owned(session, KbArticle, center.tenant.id, article_id, "Article")
    if article.status != ArticleStatus.PUBLISHED or article.visibility != "public":
        raise NotFound("There is no such article.")
    translations = await repo.translations_of(session, center.tenant.id, [article.id])
    translation = kb.pick(translations, center.language, center.default)
    if translation is None:
        raise NotFound("There is no such article.")
    await session.execute(update(KbArticle).where(
        col(KbArticle.tenant_id) == center.tenant.id, col(KbArticle.id) == article.id)
        .values(view_count=col(KbArticle.view_count) + 1))
    category = None
    if article.category_id is not None:
        found = await session.get(KbCategory, article.category_id)
        category = (found, center.name(found)) if found is not None else None
    return _page("article.html", **center.context(
        article=article, translation=translation, category=category,
        body=Markup(sanitize(translation.body_html)),  # noqa: S704 (sanitised just now)
        keywords=[k for k in translation.keywords.split(",") if k],
        fallback=translation.language != center.language,
        page_path=f"/articles/{article.id}-{translation.slug}"))


# --- satisfaction survey ---------------------------------------------------------------------


async def _survey_case(session: DbSession, slug: str, case_id: str, token: str) -> Any:
    tenant = await _tenant(session, slug)
    try:
        case = await repo.get_case(session, tenant.id, quality.survey_case_id(case_id))
    except NotFound as error:
        raise NotFound("This survey link is not valid.") from error
    if not quality.check_token(case, token):
        raise NotFound("This survey link is not valid.")
    return tenant, case


@router.get("/t/{slug}/satisfaction/{case_id}")
async def survey(slug: str, case_id: str, request: Request, session: DbSession,
                 services: ServicesDep) -> Response:
    await _limit(request, services, "survey")
    token = request.query_params.get("t", "")[:100]
    tenant, case = await _survey_case(session, slug, case_id, token)
    return _page("survey.html", tenant=tenant, case=case, token=token, done=False,
                 title=f"{tenant.name}: how did we do?")


@router.post("/t/{slug}/satisfaction/{case_id}")
async def answer_survey(slug: str, case_id: str, request: Request, session: DbSession,
                        services: ServicesDep) -> Response:
    await _limit(request, services, "survey")
    form = await request.form()
    token = str(form.get("t", ""))[:100]
    tenant, case = await _survey_case(session, slug, case_id, token)
    raw = str(form.get("score", ""))
    if raw not in {"1", "2", "3", "4", "5"}:
        raise UnprocessableContent("Choose a score from 1 to 5.")
    comment = str(form.get("comment", ""))[:2000]
    await quality.answer_survey(session, case, token=token, score=int(raw), comment=comment)
    return _page("survey.html", tenant=tenant, case=case, token=token, done=True,
                 title=f"{tenant.name}: thank you")
