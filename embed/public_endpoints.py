"""The public side of the embed, under ``/embed/v1``: the loader, the widget's iframe page
and files, and the visitor endpoints the widget calls.

No tenant is signed in here: the site's public key says which tenant to bind, every
request is checked against the site's origins and rate limited per site and client
address. The frame page is the only response that may be framed, and only by the site's
allowed domains (CSP ``frame-ancestors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from plateaux.embed import assets, guard, service
from plateaux.embed.availability import availability
from plateaux.embed.domains import frame_ancestors, origin_allowed
from plateaux.embed.schemas import PageIn, VisitorIn, VisitorOut, WidgetPublic
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import UnprocessableContent

router = APIRouter(prefix="/embed/v1", tags=["embed"])
_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"], default=True),
)
LOADER_MAX_AGE = 300
VERSIONED_MAX_AGE = 7 * 24 * 3600
# Optional in the signature so an unknown site is a 404 before a missing token is a 401.
VisitorToken = Annotated[str | None, Header(alias="X-Visitor-Token", max_length=200)]


def _file(request: Request, name: str, *, max_age: int) -> Response:
    item = assets.asset(name)
    etag = f'"{item.version}"'
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag,
               "Access-Control-Allow-Origin": "*",
               "Cross-Origin-Resource-Policy": "cross-origin"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(item.content, media_type=item.media_type, headers=headers)


@router.get("/loader.js", include_in_schema=False)
async def loader(request: Request) -> Response:
    return _file(request, "loader.js", max_age=LOADER_MAX_AGE)


@router.get("/widget.js", include_in_schema=False)
async def widget_js(request: Request) -> Response:
    return _file(request, "widget.js", max_age=VERSIONED_MAX_AGE)


@router.get("/widget.css", include_in_schema=False)
async def widget_css(request: Request) -> Response:
    return _file(request, "widget.css", max_age=VERSIONED_MAX_AGE)


def _frame_csp(request: Request, domains: list[str]) -> str:
    ws = str(request.base_url).rstrip("/").replace("http", "ws", 1)
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self' {ws}; form-action 'none'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors(domains)}"
    )


@router.get("/sites/{key}/frame", include_in_schema=False)
async def frame(key: str, request: Request, session: DbSession,
                services: ServicesDep) -> Response:
    widget = await service.widget_for_key(session, key)
    await guard.rate_limit(request, services, widget, bucket="frame", limit=guard.FRAMES)
    # The page that frames us says which of the site's origins it is; the widget only
    # ever talks to that origin, and only when it is one of the site's.
    parent = request.query_params.get("origin", "")[:300]
    config = {
        "key": widget.public_key,
        "parent": parent if origin_allowed(parent, widget.allowed_domains or []) else "",
        "languages": widget.languages,
        "default_language": widget.default_language,
    }
    html = _templates.get_template("frame.html").render(
        config=config,
        js_version=assets.asset("widget.js").version,
        css_version=assets.asset("widget.css").version,
        lang=widget.default_language,
    )
    return HTMLResponse(html, headers={
        "Content-Security-Policy": _frame_csp(request, widget.allowed_domains or []),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    })


def _page(page: PageIn | None) -> service.Page | None:
    if page is None:
        return None
    return service.Page(url=page.url, title=page.title, referrer=page.referrer)


@router.post("/sites/{key}/visitors", response_model=VisitorOut)
async def open_visitor(key: str, body: VisitorIn, request: Request, session: DbSession,
                       services: ServicesDep) -> VisitorOut:
    """Meet the visitor (or recognise them by their token) and tell the widget how the
    site looks and whether anyone is there."""
    widget = await service.widget_for_key(session, key)
    guard.check_origin(request, services, widget)
    await guard.rate_limit(request, services, widget, bucket="visitors", limit=guard.VISITORS)
    language = body.language or request.headers.get("accept-language", "").split(",")[0]
    visitor, token = await service.open_visitor(
        session, widget, secret_key=services.settings.secret_key,
        visitor_token=body.visitor_token, identity_token=body.identity, language=language,
        page=_page(body.page))
    return VisitorOut(
        visitor_token=token,
        visitor_id=visitor.id,
        language=visitor.language,
        verified=visitor.verified,
        name=visitor.name,
        widget=WidgetPublic(
            name=widget.name,
            greeting=widget.greeting or {},
            theme=widget.theme or {},
            buttons=service.enabled_buttons(widget),
            languages=widget.languages or [widget.default_language],
            default_language=widget.default_language,
        ),
        availability=await availability(session, services, widget),
    )


@router.post("/sites/{key}/pages", status_code=204)
async def page_viewed(key: str, body: PageIn, request: Request, session: DbSession,
                      services: ServicesDep, visitor_token: VisitorToken = None) -> Response:
    widget = await service.widget_for_key(session, key)
    guard.check_origin(request, services, widget)
    await guard.rate_limit(request, services, widget, bucket="pages", limit=guard.PAGES)
    _, visitor = await service.visitor_from_token(session, public_key=key,
                                                  visitor_token=visitor_token or "")
    if await service.record_page(session, visitor, service.Page(
            url=body.url, title=body.title, referrer=body.referrer)) is None:
        raise UnprocessableContent("Only web pages are recorded.", extra={"field": "url"})
    return Response(status_code=204)
