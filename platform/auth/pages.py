"""Tenant sign-in pages under ``/t/{slug}/``: password and second factor, sign-out,
forgotten password and reset, invitations.

Forms posted before anyone is signed in are protected by the double-submit token of
:mod:`login_csrf`; forms posted from a session by that session's CSRF token. Refused or
failed posts show the form again with the reason and the matching status.
"""


from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.platform.auth import login_csrf, service, sessions
from plateaux.platform.auth.models import PasswordReset, UserSession
from plateaux.platform.auth.page_helpers import (
    CSRF_FIELD,
    EXPIRED_FORM,
    LOGIN_NOTICES,
    MFA_PENDING_MAX_AGE,
    Workspace,
    auth_page,
    clear_cookie,
    client_ip,
    find_workspace,
    form_fields,
    home_for,
    no_referrer,
    require_workspace,
    safe_next,
    sent_csrf,
    session_csrf_ok,
    set_session_cookie,
    with_query,
)
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import Forbidden, NotFound, ProblemError
from plateaux.platform.security import (
    hash_token,
)
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.platform.web import redirect, render
from plateaux.tenants import repository
from plateaux.tenants.models import (
    Tenant,
    User,
)
from plateaux.tenants.service import SLUG_RE, accept_invitation, audit

router = APIRouter(include_in_schema=False)

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
    return auth_page(
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
        return auth_page(
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
        return auth_page(
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
        response = redirect(with_query(f"/t/{slug}/login/mfa", next=next_path))
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
        return redirect(with_query(f"/t/{slug}/login", next=safe_next(next, slug)))
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
        return redirect(with_query(f"/t/{slug}/login", next=next_path))
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
    return auth_page(
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
        return auth_page(
            request,
            "auth/forgot.html",
            settings,
            {**context, "form_error": EXPIRED_FORM},
            status_code=403,
        )
    if not email:
        return auth_page(
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
        return auth_page(
            request,
            "auth/forgot.html",
            settings,
            {**context, "form_error": exc.detail},
            status_code=exc.status,
            headers=exc.headers,
        )
    # The same words whether or not the account exists: the page must not reveal it.
    return auth_page(request, "auth/forgot.html", settings, {**context, "sent": True})


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
        return no_referrer(response)
    return no_referrer(auth_page(request, "auth/reset.html", services.settings, context))


@router.post("/t/{slug}/reset/{token}")
async def reset_submit(
    slug: str, token: str, request: Request, session: DbSession, services: ServicesDep
) -> Response:
    settings = services.settings
    fields = await form_fields(request)
    workspace = await require_workspace(session, slug)
    context = _login_context(workspace, slug, token=token)
    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return no_referrer(
            auth_page(
                request,
                "auth/reset.html",
                settings,
                {**context, "form_error": EXPIRED_FORM},
                status_code=403,
            )
        )
    password = fields.get("password", "")
    if password != fields.get("password_confirm", ""):
        return no_referrer(
            auth_page(
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
        return no_referrer(
            auth_page(
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
        return no_referrer(response)
    return no_referrer(
        auth_page(
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
        return no_referrer(
            auth_page(
                request,
                "auth/invitation.html",
                settings,
                {**context, "form_error": error, **extra},
                status_code=status_code,
            )
        )

    if not login_csrf.is_valid(request, settings, fields.get(CSRF_FIELD)):
        return no_referrer(
            auth_page(
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


