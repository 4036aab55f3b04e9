"""Platform operators' sign-in and sign-out pages."""


from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import update
from sqlmodel import col

from plateaux.platform.auth import login_csrf, service, sessions, totp
from plateaux.platform.auth.models import OperatorSession
from plateaux.platform.auth.page_helpers import (
    CSRF_FIELD,
    EXPIRED_FORM,
    MFA_PENDING_MAX_AGE,
    OPERATOR_MFA_LIMIT,
    auth_page,
    clear_cookie,
    client_ip,
    form_fields,
    safe_next,
    safe_operator_next,
    sent_csrf,
    session_csrf_ok,
    set_session_cookie,
    with_query,
)
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import Forbidden, ProblemError, Unauthorized
from plateaux.platform.security import (
    hash_token,
)
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.platform.web import redirect, render

router = APIRouter(include_in_schema=False)

# --------------------------------------------------------------------------------------
# Operators


@router.get("/operator/login")
async def operator_login_page(
    request: Request, session: DbSession, services: ServicesDep, next: str | None = None
) -> Response:
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    if token and await sessions.resolve_operator_session(session, token) is not None:
        return redirect(safe_operator_next(next) or "/operator/")
    return auth_page(
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
        return auth_page(
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
        return auth_page(
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
        response = redirect(with_query("/operator/login/mfa", next=next_path))
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
        return redirect(with_query("/operator/login", next=safe_operator_next(next)))
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
        return redirect(with_query("/operator/login", next=next_path))
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

