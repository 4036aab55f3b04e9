"""Request dependencies: the unit of work, the platform services and the caller.

One database session per request, committed when the endpoint returns (before the
response is sent) or rolled back on error; events and jobs queued on it go out after the
commit. The caller is resolved from, in order: a bearer token (JWT access token or API
key) or the console session cookie. Cookie-authenticated unsafe requests must carry the
session's CSRF token.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.auth import apikeys, sessions, tokens
from plateaux.platform.auth.models import Operator
from plateaux.platform.auth.subject import ROLE_SCOPES, Subject
from plateaux.platform.database import bind_tenant, run_post_commit
from plateaux.platform.errors import Forbidden, NotFound, Unauthorized
from plateaux.platform.observability import tenant_id_var
from plateaux.platform.security import constant_time_equal, csrf_token
from plateaux.platform.services import Services, attach
from plateaux.tenants.models import Role, Tenant, TenantStatus, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_db(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    async with services.db.sessionmaker() as session:
        attach(session, services)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await run_post_commit(session)


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


async def _check_csrf(request: Request, services: Services, session_hash: str) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = csrf_token(services.settings.secret_key, session_hash)
    if not sent or not constant_time_equal(sent, expected):
        raise Forbidden("The form has expired or did not come from this site; reload the page.")


def _user_subject(user: User, *, session_hash: str | None = None) -> Subject:
    role = Role(user.role)
    return Subject(
        tenant_id=user.tenant_id,
        kind="user",
        principal_id=user.id,
        user_id=user.id,
        role=role,
        scopes=ROLE_SCOPES[role],
        label=f"user:{user.email}",
        session_token_hash=session_hash,
    )


async def _subject_from_bearer(
    session: AsyncSession, services: Services, token: str
) -> tuple[Subject, Tenant]:
    if token.startswith(apikeys.KEY_PREFIX + "_"):
        key = await apikeys.authenticate_key(session, token)
        if key is None:
            raise Unauthorized("The API key is invalid or revoked.")
        tenant = await session.get(Tenant, key.tenant_id)
        if tenant is None:
            raise Unauthorized("The API key is invalid or revoked.")
        subject = Subject(
            tenant_id=key.tenant_id,
            kind="api_key",
            principal_id=key.id,
            role=Role.AGENT,
            scopes=frozenset(key.scopes),
            label=f"api_key:{key.name}",
        )
        return subject, tenant
    claims = tokens.read_access_token(services.settings, token)
    try:
        tenant_id, user_id = uuid.UUID(claims["tid"]), uuid.UUID(claims["sub"])
    except (ValueError, TypeError) as exc:
        raise Unauthorized("The access token is invalid.") from exc
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise Unauthorized("The access token is invalid.")
    await bind_tenant(session, tenant_id)
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or not user.is_active:
        raise Unauthorized("The access token is invalid.")
    return _user_subject(user), tenant


async def resolve_subject(
    request: Request, session: AsyncSession, services: Services
) -> tuple[Subject, Tenant] | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "Use 'Authorization: Bearer <token>'.", headers={"WWW-Authenticate": "Bearer"}
            )
        return await _subject_from_bearer(session, services, token.strip())
    cookie = request.cookies.get(sessions.USER_COOKIE)
    if not cookie:
        return None
    found = await sessions.resolve_user_session(session, cookie)
    if found is None:
        return None
    tenant, user, user_session = found
    await _check_csrf(request, services, user_session.token_hash)
    request.state.user = user
    return _user_subject(user, session_hash=user_session.token_hash), tenant


async def get_subject(request: Request, session: DbSession, services: ServicesDep) -> Subject:
    found = await resolve_subject(request, session, services)
    if found is None:
        raise Unauthorized(
            "Sign in or send a bearer token.", headers={"WWW-Authenticate": "Bearer"}
        )
    subject, tenant = found
    if tenant.status != TenantStatus.ACTIVE and request.method not in SAFE_METHODS:
        raise Forbidden("This account is suspended: data can be read but not changed.")
    request.state.tenant_id = subject.tenant_id
    request.state.subject = subject
    tenant_id_var.set(str(subject.tenant_id))
    return subject


CurrentSubject = Annotated[Subject, Depends(get_subject)]


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, Subject]]:
    async def dependency(subject: CurrentSubject) -> Subject:
        if not subject.has(scope):
            raise Forbidden(f"This needs the '{scope}' permission.")
        return subject

    return dependency


async def get_current_user(subject: CurrentSubject, session: DbSession) -> User:
    if subject.user_id is None:
        raise Forbidden("This needs a user, not an API key.")
    user = await session.get(User, subject.user_id)
    if user is None:
        raise NotFound("User not found.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_operator(request: Request, session: DbSession, services: ServicesDep) -> Operator:
    token = request.cookies.get(sessions.OPERATOR_COOKIE)
    found = await sessions.resolve_operator_session(session, token) if token else None
    if found is None:
        raise Unauthorized("Operator sign-in required.")
    operator, op_session = found
    await _check_csrf(request, services, op_session.token_hash)
    request.state.operator_session = op_session
    return operator


CurrentOperator = Annotated[Operator, Depends(get_operator)]


class ConsoleContext:
    """What a console page needs: the signed-in user, their tenant, and the CSRF token."""

    def __init__(self, *, subject: Subject, user: User, tenant: Tenant, csrf: str,
                 billing_notice: str | None = None) -> None:
        self.subject = subject
        self.user = user
        self.tenant = tenant
        self.csrf = csrf
        # A payment problem, shown on every console page until it is solved.
        self.billing_notice = billing_notice

    def template_context(self, **extra: Any) -> dict[str, Any]:
        return {
            "me": self.user,
            "tenant": self.tenant,
            "subject": self.subject,
            "csrf_token": self.csrf,
            "billing_notice": self.billing_notice,
            **extra,
        }


async def get_console(
    request: Request, slug: str, session: DbSession, services: ServicesDep
) -> ConsoleContext:
    """The signed-in user of workspace ``slug``; sends the browser to sign in otherwise."""
    from urllib.parse import quote

    from plateaux.platform.web import LoginRedirect

    cookie = request.cookies.get(sessions.USER_COOKIE)
    found = await sessions.resolve_user_session(session, cookie) if cookie else None
    if found is None or found[0].slug != slug:
        target = quote(str(request.url.path), safe="/")
        raise LoginRedirect(f"/t/{quote(slug)}/login?next={target}")
    tenant, user, user_session = found
    await _check_csrf(request, services, user_session.token_hash)
    if tenant.status != TenantStatus.ACTIVE and request.method not in SAFE_METHODS:
        raise Forbidden("This account is suspended: data can be read but not changed.")
    subject = _user_subject(user, session_hash=user_session.token_hash)
    request.state.tenant_id = tenant.id
    tenant_id_var.set(str(tenant.id))
    from plateaux.billing.standing import console_notice

    return ConsoleContext(
        subject=subject,
        user=user,
        tenant=tenant,
        csrf=csrf_token(services.settings.secret_key, user_session.token_hash),
        billing_notice=await console_notice(session, tenant.id,
                                            services.settings.billing_grace_days),
    )


Console = Annotated[ConsoleContext, Depends(get_console)]


def require_console_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, ConsoleContext]]:
    async def dependency(console: Console) -> ConsoleContext:
        if Role(console.user.role) not in roles:
            raise Forbidden("Your role does not give access to this page.")
        return console

    return dependency


AdminConsole = Annotated[ConsoleContext, Depends(require_console_role(Role.ADMIN))]
SupervisorConsole = Annotated[
    ConsoleContext, Depends(require_console_role(Role.ADMIN, Role.SUPERVISOR))
]
