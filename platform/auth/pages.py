"""Browser sign-in pages: tenant users under ``/t/{slug}/``, platform operators under
``/operator/``, and every user's own account page.

Forms posted before anyone is signed in (sign-in, forgotten password, reset, invitation)
are protected by the double-submit token of :mod:`login_csrf`; forms posted from a session
(second factor, sign-out, the account page) by that session's CSRF token. Refused or
failed posts show the form again with the reason and the matching status, never a bare
error page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth import login_csrf, service, sessions, totp
from plateaux.platform.auth.models import OperatorSession, PasswordReset, UserSession
from plateaux.platform.database import bind_tenant
from plateaux.platform.deps import Console, ConsoleContext, DbSession, ServicesDep
from plateaux.platform.errors import Forbidden, NotFound, ProblemError, Unauthorized
from plateaux.platform.ratelimit import Limit
from plateaux.platform.security import (
    constant_time_equal,
    csrf_token,
    decrypt_secret,
    encrypt_secret,
    hash_token,
)
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.platform.web import redirect, render
from plateaux.tenants import repository
from plateaux.tenants.models import (
    Role,
    Site,
    Skill,
    Team,
    TeamMember,
    Tenant,
    TenantStatus,
    User,
    UserSkill,
)
from plateaux.tenants.service import SLUG_RE, accept_invitation, audit

router = APIRouter(include_in_schema=False)

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


def _with_query(path: str, **params: str | None) -> str:
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


def _auth_page(
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


def _no_referrer(response: Response) -> Response:
    # The page's address holds a secret token: never pass it on to linked sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --------------------------------------------------------------------------------------
# Tenant sign-in


async def _current_user_session(
    session: AsyncSession, request: Request, *, allow_mfa_pending: bool = False
) -> tuple[Tenant, User, UserSession] | None:
    cookie = request.cookies.get(sessions.USER_COOKIE)
    if not cookie:
        return None
    return await sessions.resolve_user_session(session, cookie, allow_mfa_pending=allow_mfa_pending)


async def _end_replaced_session(
    session: AsyncSession, request: Request, tenant_id: uuid.UUID
) -> None:
    """A new sign-in in this browser replaces the session its cookie held: end that one
    too, rather than leave it usable until it expires. Only a session of the tenant the
    request is already bound to is touched."""
    old = request.cookies.get(sessions.USER_COOKIE)
    parts = sessions.split_cookie(old) if old else None
    if parts is None or parts[0] != tenant_id:
        return
    await session.execute(
        delete(UserSession).where(
            col(UserSession.tenant_id) == tenant_id,
            col(UserSession.token_hash) == hash_token(parts[1]),
        )
    )


async def _sso_enabled(services: Services, tenant_id: uuid.UUID) -> bool:
    # Its own short unit of work: the request's session may be bound to the tenant of a
    # cookie from another workspace.
    from plateaux.platform.auth.oidc import get_provider

    async with services.unit_of_work(tenant_id=tenant_id) as session:
        return await get_provider(session, tenant_id) is not None


def _login_context(workspace: Workspace | None, slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "slug": slug,
        "workspace_name": workspace.name if workspace else slug,
        **extra,
    }


@router.get("/t/{slug}/login")
async def login_page(
    slug: str,
    request: Request,
    session: DbSession,
    services: ServicesDep,
    next: str | None = None,
    done: str | None = None,
) -> Response:
    workspace = await find_workspace(session, slug)
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    found = await _current_user_session(session, request)
    if found is not None and found[0].slug == slug:
        return redirect(safe_next(next, slug) or home_for(slug, found[1].role))
    return _auth_page(
        request,
        "auth/login.html",
        services.settings,
        _login_context(
            workspace,
            slug,
            next=safe_next(next, slug) or "",
            email="",
            form_notice=LOGIN_NOTICES.get(done or ""),
            sso_enabled=await _sso_enabled(services, workspace.id),
        ),
    )


@router.post("/t/{slug}/login")
async def login_submit(
    slug: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    email = fields.get("email", "").strip()[:320]
    next_path = safe_next(fields.get("next"), slug)
    workspace = await find_workspace(session, slug)
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    context = _login_context(workspace, slug, next=next_path or "", email=email)
    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return _auth_page(
            request,
            "auth/login.html",
            settings,
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
        )
    try:
        result = await service.login_user(
            session,
            services,
            workspace=slug,
            email=email,
            password=fields.get("password", ""),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except ProblemError as exc:
        return _auth_page(
            request,
            "auth/login.html",
            settings,
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            headers=exc.headers,
        )
    await _end_replaced_session(session, request, result.tenant.id)
    if result.mfa_required:
        await _shorten_pending_session(session, result.tenant.id, result.cookie)
        response = redirect(_with_query(f"/t/{slug}/login/mfa", next=next_path))
        set_session_cookie(
            response, settings, sessions.USER_COOKIE, result.cookie, max_age=MFA_PENDING_MAX_AGE
        )
        return response
    response = redirect(next_path or home_for(slug, result.user.role))
    set_session_cookie(
        response,
        settings,
        sessions.USER_COOKIE,
        result.cookie,
        max_age=settings.session_max_age_seconds,
    )
    return response


async def _shorten_pending_session(
    session: AsyncSession, tenant_id: uuid.UUID, cookie: str
) -> None:
    """A session that still waits for its code must not outlive the time it takes to type
    one: a stolen pending cookie then leaves no room to try codes for hours."""
    parts = sessions.split_cookie(cookie)
    if parts is None:
        return
    await session.execute(
        update(UserSession)
        .where(
            col(UserSession.tenant_id) == tenant_id,
            col(UserSession.token_hash) == hash_token(parts[1]),
        )
        .values(expires_at=utcnow() + timedelta(seconds=MFA_PENDING_MAX_AGE))
    )


async def _pending_sign_in(
    session: AsyncSession, request: Request, slug: str
) -> tuple[Tenant, User, UserSession] | None:
    found = await _current_user_session(session, request, allow_mfa_pending=True)
    if found is None or found[0].slug != slug:
        return None
    return found


@router.get("/t/{slug}/login/mfa")
async def mfa_page(
    slug: str,
    request: Request,
    session: DbSession,
    services: ServicesDep,
    next: str | None = None,
) -> Response:
    found = await _pending_sign_in(session, request, slug)
    if found is None:
        return redirect(_with_query(f"/t/{slug}/login", next=safe_next(next, slug)))
    tenant, user, user_session = found
    if not user_session.mfa_pending:
        return redirect(safe_next(next, slug) or home_for(slug, user.role))
    return render(
        request,
        "auth/mfa.html",
        {
            "slug": slug,
            "workspace_name": tenant.name,
            "next": safe_next(next, slug) or "",
        },
        session_hash=user_session.token_hash,
    )


@router.post("/t/{slug}/login/mfa")
async def mfa_submit(
    slug: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    next_path = safe_next(fields.get("next"), slug)
    found = await _pending_sign_in(session, request, slug)
    if found is None:
        return redirect(_with_query(f"/t/{slug}/login", next=next_path))
    tenant, user, user_session = found
    context = {"slug": slug, "workspace_name": tenant.name, "next": next_path or ""}
    if not user_session.mfa_pending:
        return redirect(next_path or home_for(slug, user.role))
    if not session_csrf_ok(settings, user_session.token_hash, sent_csrf(request, fields)):
        return render(
            request,
            "auth/mfa.html",
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
            session_hash=user_session.token_hash,
        )
    cookie = request.cookies.get(sessions.USER_COOKIE, "")
    try:
        user = await service.complete_mfa(session, services, cookie, fields.get("code", ""))
    except ProblemError as exc:
        response: Response = render(
            request,
            "auth/mfa.html",
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            session_hash=user_session.token_hash,
        )
        response.headers.update(exc.headers)
        return response
    # The same session, now complete: give it (and its cookie) the full lifetime.
    user_session.expires_at = utcnow() + timedelta(seconds=settings.session_max_age_seconds)
    await session.flush()
    response = redirect(next_path or home_for(slug, user.role))
    set_session_cookie(
        response, settings, sessions.USER_COOKIE, cookie, max_age=settings.session_max_age_seconds
    )
    return response


@router.post("/t/{slug}/logout")
async def logout(
    slug: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    found = await _current_user_session(session, request, allow_mfa_pending=True)
    if found is not None:
        # Without this check any site could sign people out.
        if not session_csrf_ok(settings, found[2].token_hash, sent_csrf(request, fields)):
            raise Forbidden(EXPIRED_FORM)
        await sessions.close_user_session(session, found[2])
    target = f"/t/{slug}/login?done=signed-out" if SLUG_RE.match(slug) else "/"
    response = redirect(target)
    clear_cookie(response, settings, sessions.USER_COOKIE)
    return response


# --------------------------------------------------------------------------------------
# Forgotten password and reset


@router.get("/t/{slug}/forgot")
async def forgot_page(
    slug: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    workspace = await find_workspace(session, slug)
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    return _auth_page(
        request, "auth/forgot.html", services.settings, _login_context(workspace, slug, email="")
    )


@router.post("/t/{slug}/forgot")
async def forgot_submit(
    slug: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    email = fields.get("email", "").strip()[:320]
    workspace = await find_workspace(session, slug)
    if workspace is None:
        raise NotFound("There is no workspace at this address.")
    context = _login_context(workspace, slug, email=email)
    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return _auth_page(
            request,
            "auth/forgot.html",
            settings,
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
        )
    if not email:
        return _auth_page(
            request,
            "auth/forgot.html",
            settings,
            {**context, "form_error": "Enter the email address of your account."},
            status_code=400,
        )
    try:
        await service.request_password_reset(
            session, services, workspace=slug, email=email, ip=client_ip(request)
        )
    except ProblemError as exc:
        return _auth_page(
            request,
            "auth/forgot.html",
            settings,
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            headers=exc.headers,
        )
    # The same words whether or not the account exists: the page must not reveal it.
    return _auth_page(request, "auth/forgot.html", settings, {**context, "sent": True})


async def _reset_is_usable(session: AsyncSession, tenant_id: uuid.UUID, token: str) -> bool:
    reset = (
        await session.scalars(
            select(PasswordReset).where(
                PasswordReset.tenant_id == tenant_id,
                PasswordReset.token_hash == hash_token(token),
            )
        )
    ).first()
    return reset is not None and reset.used_at is None and reset.expires_at > utcnow()


@router.get("/t/{slug}/reset/{token}")
async def reset_page(
    slug: str, token: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    workspace = await require_workspace(session, slug)
    context = _login_context(workspace, slug, token=token)
    if not await _reset_is_usable(session, workspace.id, token):
        response = render(
            request,
            "auth/link_invalid.html",
            {**context, "what": "reset"},
            status_code=410,
        )
        return _no_referrer(response)
    return _no_referrer(_auth_page(request, "auth/reset.html", services.settings, context))


@router.post("/t/{slug}/reset/{token}")
async def reset_submit(
    slug: str, token: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    workspace = await require_workspace(session, slug)
    context = _login_context(workspace, slug, token=token)
    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return _no_referrer(
            _auth_page(
                request,
                "auth/reset.html",
                settings,
                {**context, "form_error": EXPIRED_FORM},
                status_code=403,
            )
        )
    password = fields.get("password", "")
    if password != fields.get("password_confirm", ""):
        return _no_referrer(
            _auth_page(
                request,
                "auth/reset.html",
                settings,
                {**context, "form_error": "The two passwords are not the same."},
                status_code=400,
            )
        )
    tenant = await session.get(Tenant, workspace.id)
    if tenant is None:
        raise NotFound("There is no workspace at this address.")
    try:
        await service.reset_password(session, tenant, token, password)
    except ProblemError as exc:
        return _no_referrer(
            _auth_page(
                request,
                "auth/reset.html",
                settings,
                {**context, "form_error": exc.detail, "expired": exc.status == 410},
                status_code=exc.status,
            )
        )
    return redirect(f"/t/{slug}/login?done=reset")


# --------------------------------------------------------------------------------------
# Invitations


@router.get("/t/{slug}/invitation/{token}")
async def invitation_page(
    slug: str, token: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    workspace = await require_workspace(session, slug)
    invitation = await repository.find_invitation(session, workspace.id, hash_token(token))
    context = _login_context(workspace, slug, token=token)
    if (
        invitation is None
        or invitation.accepted_at is not None
        or (invitation.expires_at <= utcnow())
    ):
        response = render(
            request,
            "auth/link_invalid.html",
            {**context, "what": "invitation"},
            status_code=404 if invitation is None else 410,
        )
        return _no_referrer(response)
    return _no_referrer(
        _auth_page(
            request,
            "auth/invitation.html",
            services.settings,
            {
                **context,
                "email": invitation.email,
                "name": invitation.name,
                "role": invitation.role,
            },
        )
    )


@router.post("/t/{slug}/invitation/{token}")
async def invitation_submit(
    slug: str, token: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    workspace = await require_workspace(session, slug)
    invitation = await repository.find_invitation(session, workspace.id, hash_token(token))
    if invitation is None:
        raise NotFound("This invitation does not exist.")
    name = fields.get("name", "").strip()[:200]
    context = _login_context(
        workspace,
        slug,
        token=token,
        email=invitation.email,
        name=name or invitation.name,
        role=invitation.role,
    )

    def again(error: str, status_code: int, **extra: Any) -> Response:
        return _no_referrer(
            _auth_page(
                request,
                "auth/invitation.html",
                settings,
                {**context, "form_error": error, **extra},
                status_code=status_code,
            )
        )

    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return _no_referrer(
            _auth_page(
                request,
                "auth/invitation.html",
                settings,
                {**context, "form_error": EXPIRED_FORM},
                status_code=403,
            )
        )
    if not workspace.active:
        return again("This workspace is suspended: new accounts cannot be created now.", 403)
    if not name:
        return again("Enter your name.", 400)
    password = fields.get("password", "")
    if password != fields.get("password_confirm", ""):
        return again("The two passwords are not the same.", 400)
    tenant = await session.get(Tenant, workspace.id)
    if tenant is None:
        raise NotFound("There is no workspace at this address.")
    try:
        user = await accept_invitation(session, tenant, token, name=name, password=password)
    except ProblemError as exc:
        await session.rollback()
        return again(exc.detail, exc.status)
    await _end_replaced_session(session, request, tenant.id)
    cookie = await sessions.open_user_session(
        session,
        user,
        max_age=settings.session_max_age_seconds,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    user.last_login_at = utcnow()
    audit(
        session,
        tenant.id,
        actor=f"user:{user.email}",
        action="user.login",
        target=user.email,
        ip=client_ip(request),
        via="invitation",
    )
    await session.flush()
    response = redirect(home_for(slug, user.role))
    set_session_cookie(
        response,
        settings,
        sessions.USER_COOKIE,
        cookie,
        max_age=settings.session_max_age_seconds,
    )
    return response


# --------------------------------------------------------------------------------------
# My account


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    uri: str
    sealed: str

    @property
    def qr_data_uri(self) -> str:
        """The otpauth link as a QR code (SVG data URI) for the phone's camera."""
        return totp.qr_code_data_uri(self.uri)

    @property
    def grouped(self) -> str:
        """The secret in groups of four, easier to type into a phone."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _seal_setup(settings: Settings, user: User, secret: str) -> TotpSetup:
    # The pending secret travels in the form, encrypted and tied to this user and time, so
    # nothing is stored before the first code proves the phone has it.
    payload = json.dumps({"u": str(user.id), "s": secret, "t": int(time.time())})
    return TotpSetup(
        secret=secret,
        uri=totp.provisioning_uri(secret, account=user.email),
        sealed=encrypt_secret(settings.secret_key, payload),
    )


def _open_setup(settings: Settings, user: User, sealed: str) -> TotpSetup | None:
    try:
        payload = json.loads(decrypt_secret(settings.secret_key, sealed))
        owner, secret, started = str(payload["u"]), str(payload["s"]), int(payload["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if owner != str(user.id) or time.time() - started > TOTP_SETUP_TTL:
        return None
    return TotpSetup(
        secret=secret, uri=totp.provisioning_uri(secret, account=user.email), sealed=sealed
    )


@dataclass(frozen=True, slots=True)
class AccountFacts:
    site: Site | None
    teams: Sequence[str]
    skills: Sequence[tuple[str, int]]


async def _account_facts(session: AsyncSession, user: User) -> AccountFacts:
    site = None
    if user.site_id is not None:
        site = (
            await session.scalars(
                select(Site).where(Site.tenant_id == user.tenant_id, Site.id == user.site_id)
            )
        ).first()
    teams = (
        await session.scalars(
            select(Team.name)
            .join(TeamMember, col(TeamMember.team_id) == col(Team.id))
            .where(TeamMember.tenant_id == user.tenant_id, TeamMember.user_id == user.id)
            .order_by(col(Team.name))
        )
    ).all()
    skills = (
        await session.execute(
            select(Skill.name, UserSkill.level)
            .join(UserSkill, col(UserSkill.skill_id) == col(Skill.id))
            .where(UserSkill.tenant_id == user.tenant_id, UserSkill.user_id == user.id)
            .order_by(col(UserSkill.level).desc(), col(Skill.name))
        )
    ).all()
    return AccountFacts(
        site=site, teams=list(teams), skills=[(name, int(level)) for name, level in skills]
    )


async def _account_page(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    *,
    notice: str | None = None,
    error: str | None = None,
    error_for: str | None = None,
    setup: TotpSetup | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    facts = await _account_facts(session, console.user)
    return render(
        request,
        "auth/account.html",
        console.template_context(
            facts=facts,
            role=Role(console.user.role),
            is_manager=Role(console.user.role) in (Role.ADMIN, Role.SUPERVISOR),
            home=home_for(console.tenant.slug, console.user.role),
            notice=notice,
            # Errors are shown next to the form they belong to.
            form_error=error,
            error_for=error_for,
            setup=setup,
            suspended=console.tenant.status != TenantStatus.ACTIVE,
        ),
        status_code=status_code,
    )


@router.get("/t/{slug}/agent/")
async def account(
    request: Request, console: Console, session: DbSession, done: str | None = None
) -> HTMLResponse:
    return await _account_page(request, console, session, notice=ACCOUNT_NOTICES.get(done or ""))


@router.post("/t/{slug}/agent/password")
async def account_password(request: Request, console: Console, session: DbSession) -> Response:
    fields = await form_fields(request)
    new = fields.get("new_password", "")
    if new != fields.get("new_password_confirm", ""):
        return await _account_page(
            request,
            console,
            session,
            error="The two new passwords are not the same.",
            error_for="password",
            status_code=400,
        )
    try:
        await service.change_password(
            session,
            console.user,
            current=fields.get("current_password", ""),
            new=new,
            keep_session_hash=console.subject.session_token_hash,
        )
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="password",
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/?done=password")


@router.post("/t/{slug}/agent/two-factor/start")
async def account_totp_start(
    request: Request, console: Console, session: DbSession, services: ServicesDep
) -> Response:
    if console.user.totp_enabled:
        return redirect(f"/t/{console.tenant.slug}/agent/?done=totp-already")
    secret, _uri = await service.start_totp(services, console.user)
    setup = _seal_setup(services.settings, console.user, secret)
    return await _account_page(request, console, session, setup=setup)


@router.post("/t/{slug}/agent/two-factor/enable")
async def account_totp_enable(
    request: Request, console: Console, session: DbSession, services: ServicesDep
) -> Response:
    fields = await form_fields(request)
    setup = _open_setup(services.settings, console.user, fields.get("setup", ""))
    if setup is None:
        return await _account_page(
            request,
            console,
            session,
            error="The setup has expired; start again.",
            error_for="totp",
            status_code=400,
        )
    try:
        await service.enable_totp(
            session, services, console.user, secret=setup.secret, code=fields.get("code", "")
        )
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="totp",
            setup=setup,
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/?done=totp-on")


@router.post("/t/{slug}/agent/two-factor/disable")
async def account_totp_disable(request: Request, console: Console, session: DbSession) -> Response:
    fields = await form_fields(request)
    try:
        await service.disable_totp(session, console.user, password=fields.get("password", ""))
    except ProblemError as exc:
        return await _account_page(
            request,
            console,
            session,
            error=exc.detail,
            error_for="totp",
            status_code=exc.status,
        )
    return redirect(f"/t/{console.tenant.slug}/agent/?done=totp-off")


# --------------------------------------------------------------------------------------
# Operators


@router.get("/operator/login")
async def operator_login_page(
    request: Request, session: DbSession, services: ServicesDep, next: str | None = None
) -> Response:
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    if token and await sessions.resolve_operator_session(session, token) is not None:
        return redirect(safe_operator_next(next) or "/operator/")
    return _auth_page(
        request,
        "operator/login.html",
        services.settings,
        {"next": safe_operator_next(next) or "", "email": ""},
    )


@router.post("/operator/login")
async def operator_login_submit(
    request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    email = fields.get("email", "").strip()[:320]
    next_path = safe_operator_next(fields.get("next"))
    context = {"next": next_path or "", "email": email}
    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return _auth_page(
            request,
            "operator/login.html",
            settings,
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
        )
    try:
        token, operator = await service.login_operator(
            session,
            services,
            email=email,
            password=fields.get("password", ""),
            ip=client_ip(request),
        )
    except ProblemError as exc:
        return _auth_page(
            request,
            "operator/login.html",
            settings,
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            headers=exc.headers,
        )
    if operator.totp_enabled:
        # As for tenant users: a session waiting for its code lives only minutes.
        await session.execute(
            update(OperatorSession)
            .where(col(OperatorSession.token_hash) == hash_token(token))
            .values(expires_at=utcnow() + timedelta(seconds=MFA_PENDING_MAX_AGE))
        )
        response = redirect(_with_query("/operator/login/mfa", next=next_path))
        set_session_cookie(
            response, settings, sessions.OPERATOR_COOKIE, token, max_age=MFA_PENDING_MAX_AGE
        )
        return response
    response = redirect(next_path or "/operator/")
    set_session_cookie(
        response,
        settings,
        sessions.OPERATOR_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
    )
    return response


@router.get("/operator/login/mfa")
async def operator_mfa_page(
    request: Request, session: DbSession, next: str | None = None
) -> Response:
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    found = (
        await sessions.resolve_operator_session(session, token, allow_mfa_pending=True)
        if token
        else None
    )
    if found is None:
        return redirect(_with_query("/operator/login", next=safe_operator_next(next)))
    _operator, op_session = found
    if not op_session.mfa_pending:
        return redirect(safe_operator_next(next) or "/operator/")
    return render(
        request,
        "operator/mfa.html",
        {"next": safe_operator_next(next) or ""},
        session_hash=op_session.token_hash,
    )


async def _verify_operator_code(
    services: Services, operator_id: uuid.UUID, sealed: str | None, code: str
) -> None:
    await services.limiter.check(f"opmfa:{operator_id}", OPERATOR_MFA_LIMIT, what="codes")
    secret_key = services.settings.secret_key
    if not sealed or not totp.verify(totp.unseal(secret_key, sealed), code):
        raise Unauthorized("That code is not valid.")


@router.post("/operator/login/mfa")
async def operator_mfa_submit(
    request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    next_path = safe_operator_next(fields.get("next"))
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    found = (
        await sessions.resolve_operator_session(session, token, allow_mfa_pending=True)
        if token
        else None
    )
    if found is None or token is None:
        return redirect(_with_query("/operator/login", next=next_path))
    operator, op_session = found
    if not op_session.mfa_pending:
        return redirect(next_path or "/operator/")
    context = {"next": next_path or ""}
    if not session_csrf_ok(settings, op_session.token_hash, sent_csrf(request, fields)):
        return render(
            request,
            "operator/mfa.html",
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
            session_hash=op_session.token_hash,
        )
    try:
        await _verify_operator_code(
            services, operator.id, operator.totp_secret_encrypted, fields.get("code", "")
        )
    except ProblemError as exc:
        response: Response = render(
            request,
            "operator/mfa.html",
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            session_hash=op_session.token_hash,
        )
        response.headers.update(exc.headers)
        return response
    op_session.mfa_pending = False
    op_session.expires_at = utcnow() + timedelta(seconds=settings.session_max_age_seconds)
    operator.last_login_at = utcnow()
    await session.flush()
    response = redirect(next_path or "/operator/")
    set_session_cookie(
        response,
        settings,
        sessions.OPERATOR_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
    )
    return response


@router.post("/operator/logout")
async def operator_logout(request: Request, session: DbSession, services: ServicesDep) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    found = (
        await sessions.resolve_operator_session(session, token, allow_mfa_pending=True)
        if token
        else None
    )
    if found is not None:
        _operator, op_session = found
        if not session_csrf_ok(settings, op_session.token_hash, sent_csrf(request, fields)):
            raise Forbidden(EXPIRED_FORM)
        await session.delete(op_session)
        await session.flush()
    response = redirect("/operator/login")
    clear_cookie(response, settings, sessions.OPERATOR_COOKIE)
    return response


__all__ = ["router", "safe_next", "safe_operator_next"]
