"""Shared pieces of the sign-in and account pages: form tokens, cookies, safe
redirects and page rendering."""


from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.auth import login_csrf
from plateaux.platform.database import bind_tenant
from plateaux.platform.errors import NotFound
from plateaux.platform.ratelimit import Limit
from plateaux.platform.security import (
    constant_time_equal,
    csrf_token,
)
from plateaux.platform.settings import Settings
from plateaux.platform.web import render
from plateaux.tenants import repository
from plateaux.tenants.models import (
    Role,
    TenantStatus,
)
from plateaux.tenants.service import SLUG_RE

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# The cookie of a sign-in waiting for its code lives only as long as typing a code takes.
MFA_PENDING_MAX_AGE = 600
# A two-factor setup has to be confirmed within this time, or started again.
TOTP_SETUP_TTL = 900
OPERATOR_MFA_LIMIT = Limit(count=10, seconds=300)
EXPIRED_FORM = "This form has expired or did not come from this site. Please try again."
ACCOUNT_NOTICES = {
    "password": "Your password has been changed. Your other sessions have been signed out.",
    "totp-on": "Two-factor authentication is on: sign-ins now ask for a code.",
    "totp-off": "Two-factor authentication is off.",
    "totp-already": "Two-factor authentication is already on.",
}
LOGIN_NOTICES = {
    "reset": "Your password has been changed. Sign in with the new one.",
    "signed-out": "You have signed out.",
}


# --------------------------------------------------------------------------------------
# Small helpers


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form as text fields; files and repeated keys are not used here.

    NUL characters are dropped: no field legitimately holds one, and PostgreSQL refuses
    them in text, which would turn a junk sign-in into a server error.
    """
    form = await request.form()
    return {
        key: value.replace("\x00", "")
        for key, value in form.items()
        if isinstance(value, str)
    }


def sent_csrf(request: Request, fields: dict[str, str]) -> str:
    return request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD, "")


def session_csrf_ok(settings: Settings, session_hash: str, sent: str) -> bool:
    return bool(sent) and constant_time_equal(sent, csrf_token(settings.secret_key, session_hash))


def set_session_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def home_for(slug: str, role: Role | str) -> str:
    if Role(role) in (Role.ADMIN, Role.SUPERVISOR):
        return f"/t/{slug}/admin/"
    return f"/t/{slug}/agent/"


def _is_safe_path(value: str, prefix: str) -> bool:
    if not value or len(value) > 2000 or not value.isascii():
        return False
    if any(ord(ch) < 32 or ch == "\\" for ch in value):
        return False
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return False
    if not parts.path.startswith(prefix):
        return False
    # Dot segments would let a browser climb out of the prefix once it normalises the path.
    return not any(segment in (".", "..") for segment in parts.path.split("/"))


def safe_next(value: str | None, slug: str) -> str | None:
    """A place to go after signing in: only a path inside the same workspace, so the
    parameter can never send someone to another site (or to the sign-in page again)."""
    if not value or not _is_safe_path(value, f"/t/{slug}/"):
        return None
    if urlsplit(value).path.rstrip("/") in (f"/t/{slug}/login", f"/t/{slug}/logout"):
        return None
    return value


def safe_operator_next(value: str | None) -> str | None:
    if not value or not _is_safe_path(value, "/operator/"):
        return None
    if urlsplit(value).path.startswith(("/operator/login", "/operator/logout")):
        return None
    return value


def with_query(path: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path


@dataclass(frozen=True, slots=True)
class Workspace:
    """What the sign-in pages show of a tenant, captured as plain values so a rolled-back
    session never has to reload it."""

    id: uuid.UUID
    slug: str
    name: str
    active: bool


async def find_workspace(session: AsyncSession, slug: str) -> Workspace | None:
    if not SLUG_RE.match(slug):
        return None
    tenant = await repository.get_tenant_by_slug(session, slug)
    if tenant is None:
        return None
    return Workspace(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        active=tenant.status == TenantStatus.ACTIVE,
    )


async def require_workspace(session: AsyncSession, slug: str) -> Workspace:
    workspace = await find_workspace(session, slug)
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    await bind_tenant(session, workspace.id)
    return workspace


def auth_page(
    request: Request,
    template: str,
    settings: Settings,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page with a cookie-less form: it carries the double-submit token."""
    token = login_csrf.issue(request, settings)
    response = render(
        request, template, {**context, "csrf_token": token.field}, status_code=status_code
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    token.attach(response, settings)
    return response


def no_referrer(response: Response) -> Response:
    # The page's address holds a secret token: never pass it on to linked sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


