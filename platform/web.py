"""Server-rendered pages: one Jinja2 environment for every console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from plateaux.platform.security import csrf_token

_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    _ROOT / "tenants" / "templates",
    _ROOT / "console" / "templates",
    _ROOT / "channels" / "email" / "templates",
    _ROOT / "channels" / "voip" / "templates",
    _ROOT / "billing" / "templates",
    _ROOT / "crm" / "templates",
    _ROOT / "helpdesk" / "templates",
]

_env = Environment(
    loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
    autoescape=select_autoescape(["html", "xml"], default=True),
)
templates = Jinja2Templates(env=_env)


class LoginRedirect(Exception):
    """Raised by console pages when nobody is signed in: sends the browser to sign in."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def csrf_for(request: Request, session_hash: str | None) -> str:
    if not session_hash:
        return ""
    secret: str = request.app.state.services.settings.secret_key
    return csrf_token(secret, session_hash)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    session_hash: str | None = None,
) -> HTMLResponse:
    ctx: dict[str, Any] = {"request": request, "csrf_token": csrf_for(request, session_hash)}
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str, *, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def render_error_page(
    request: Request, *, status: int, title: str, detail: str, headers: dict[str, str] | None
) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"request": request, "status": status, "title": title, "detail": detail},
        status_code=status,
        headers=headers,
    )
